//! Shared by the boot tests' clients of the twin (`twin-hostile`, `twin-recipient`; included
//! with `#[path]`).

use tileos_protocol::twin::{Request, Response, Twin};
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};

/// A call, retried while the twin restarts; any other failure stops the client (`who` names
/// it in the log line).
pub fn call(who: &str, client: &Client<Twin>, request: &Request) -> Response {
    loop {
        match client.call(request) {
            Ok(response) => return response,
            Err(CallError::ServerRestarted) => tileos_sys::yield_now(),
            Err(error) => {
                log!("{who}: FAILED: {request:?}: {error:?}");
                tileos_sys::domain::stop();
            }
        }
    }
}
