//! The module runtime: how a slot module (`docs/slots.md`) runs in its seat.
//!
//! A module implements [`SlotModule`] (serve a request of its service protocol, export its
//! state, import another module's state) and hands itself to [`run`], which speaks the seat
//! interface (`tileos_protocol::module`) for it: it calls the slot's front endpoint (the
//! client capability named `slot` on the information page) with `READY`, and from then on
//! each reply of the slot manager is the next piece of work and each call back carries the
//! result of the last one. The decoding and encoding is [`tileos_protocol::module::step`],
//! host-tested there; this file is the system-call loop around it.

use crate::rpc::{is_lookup_error, transmit, words_of};
use tileos_abi::message::{LABEL_IPC_ABORTED, LABEL_REPLY_LOST};
use tileos_abi::syscall::Syscall;
use tileos_protocol::PAYLOAD_WORDS;
use tileos_protocol::module::{Call, encode_call};
pub use tileos_protocol::module::{ImportRefusal, SlotModule, StateBlob, step};

/// Name of the seat's capability to its slot's front endpoint on the information page.
pub const SLOT_ENDPOINT: &str = "slot";

/// Runs `module` in this seat for good: READY, then serve / export / import as the manager
/// asks. Without a `slot` capability (a module program started as an ordinary domain) it
/// logs that and stops. When the manager goes away (restarted: the module's call loses its
/// reply capability) the module calls READY again, keeping its state.
pub fn run<M: SlotModule>(mut module: M) -> ! {
    let Some(slot) = crate::domain::client_endpoint(SLOT_ENDPOINT) else {
        crate::log!(
            "{}: no \"{SLOT_ENDPOINT}\" endpoint: this program is a slot module and runs only in a slot's seat; stopping",
            crate::domain::name()
        );
        crate::domain::stop()
    };
    let mut words = [0; PAYLOAD_WORDS + 1];
    let (mut label, mut length) = encode_call::<()>(&Call::Ready, &mut words);
    loop {
        let reply = transmit(Syscall::Call, slot.cptr(), label, &words, length);
        match reply.info.label() {
            LABEL_REPLY_LOST | LABEL_IPC_ABORTED => {
                // The manager restarted (or the endpoint is being withdrawn): start over.
                crate::yield_now();
                (label, length) = encode_call::<()>(&Call::Ready, &mut words);
            }
            kernel_error if is_lookup_error(kernel_error) => {
                crate::log!("{}: the \"{SLOT_ENDPOINT}\" endpoint is gone; stopping", crate::domain::name());
                crate::domain::stop()
            }
            work => {
                let received = words_of(&reply);
                let received = &received[..reply.info.length().min(received.len())];
                (label, length) = step(&mut module, work, received, &mut words);
            }
        }
    }
}
