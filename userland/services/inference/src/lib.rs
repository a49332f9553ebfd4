//! What the inference domain's boot-test clients share: a call retried while the domain
//! restarts, and bytes as hex for event fields (answers hold spaces).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::fmt;

use tileos_protocol::inference::{Inference, Request, Response};
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};

/// A call, retried while the inference domain restarts; any other failure stops the client
/// (`who` names it in the log line).
pub fn call(who: &str, client: &Client<Inference>, request: &Request) -> Response {
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

/// Bytes as lowercase hex (an event field without spaces); `-` for none.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
