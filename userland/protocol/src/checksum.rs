//! The checksum service protocol: the default tile's demo slot (`docs/slots.md`). Stateless
//! CRC-32 (IEEE) and Adler-32 of a message's bytes, and sixteen running CRC-32 streams, the
//! service's state (exported and imported at a promotion, [`STATE_VERSION`]).

use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Most bytes one request checksums.
pub const MAX_DATA: usize = 768;
/// Running streams the service keeps.
pub const STREAMS: usize = 16;
/// Version of the state blob: postcard of `[StreamState; STREAMS]`.
pub const STATE_VERSION: u32 = 1;

/// A request to the checksum service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Requests are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`) of the bytes.
    Crc32(Vec<u8, MAX_DATA>),
    /// Adler-32 (RFC 1950) of the bytes.
    Adler32(Vec<u8, MAX_DATA>),
    /// Append the bytes to running stream `stream` (`< STREAMS`).
    Append {
        /// The stream.
        stream: u8,
        /// The bytes.
        bytes: Vec<u8, MAX_DATA>,
    },
    /// Start running stream `stream` again from nothing.
    Reset {
        /// The stream.
        stream: u8,
    },
}

/// The checksum service's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A checksum (Crc32, Adler32).
    Checksum(u32),
    /// A running stream after Append or Reset.
    Stream(StreamState),
    /// The stream number is not below [`STREAMS`].
    NoSuchStream,
}

/// A running CRC-32 stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// CRC-32 of every byte appended since the last reset.
    pub crc: u32,
    /// Bytes appended since the last reset.
    pub length: u64,
}

/// The checksum protocol.
pub struct Checksum;

impl crate::Protocol for Checksum {
    const NAME: &'static str = "checksum";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn the_largest_request_and_state_fit() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let request = Request::Append { stream: u8::MAX, bytes: core::iter::repeat_n(0xff, MAX_DATA).collect() };
        let length = encode(&request, &mut words).expect("fits");
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        let state = [StreamState { crc: u32::MAX, length: u64::MAX }; STREAMS];
        let mut bytes = [0u8; crate::module::MAX_STATE];
        assert!(postcard::to_slice(&state, &mut bytes).is_ok());
    }
}
