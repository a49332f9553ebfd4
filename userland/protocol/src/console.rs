//! The console protocol: every domain's log lines go to the console domain, which owns
//! the serial port.

use serde::{Deserialize, Serialize};

/// Most bytes of text one request carries (longer text is sent in several requests).
pub const MAX_TEXT: usize = 800;

/// A request to the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Write this text to the serial port.
    Write(heapless::String<MAX_TEXT>),
}

/// The console's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The text was written; this many bytes.
    Written(u32),
}

/// The console protocol, served on the endpoint every domain's `log` capability names.
pub struct Console;

impl crate::Protocol for Console {
    const NAME: &'static str = "log";
    type Request = Request;
    type Response = Response;
}
