//! The echo service protocol (the demo service of the default tile).

use serde::{Deserialize, Serialize};

/// Longest string the service handles.
pub const MAX_TEXT: usize = 64;

/// A request to the echo service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Answer `value + 1` (wrapping).
    Increment(u64),
    /// Answer the text reversed.
    Reverse(heapless::String<MAX_TEXT>),
    /// Answer who the server thinks called (the caller's badge).
    WhoAmI,
}

/// The echo service's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A number (Increment, WhoAmI).
    Number(u64),
    /// A text (Reverse).
    Text(heapless::String<MAX_TEXT>),
}

/// The echo protocol.
pub struct Echo;

impl crate::Protocol for Echo {
    const NAME: &'static str = "echo";
    type Request = Request;
    type Response = Response;
}
