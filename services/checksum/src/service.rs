//! The checksum service over a choice of algorithms, and its state blob.

use core::marker::PhantomData;

use tileos_protocol::ProtocolError;
use tileos_protocol::checksum::{Checksum, Request, Response, STATE_VERSION, STREAMS, StreamState};
use tileos_protocol::module::{ImportRefusal, MAX_STATE, SlotModule, StateBlob};

/// The checksum algorithms a [`Checksummer`] uses.
pub trait Algorithms {
    /// Continues the CRC-32 `crc` over `bytes` (`crc32(0, bytes)` is the CRC of `bytes`).
    fn crc32(crc: u32, bytes: &[u8]) -> u32;
    /// Adler-32 of `bytes`.
    fn adler32(bytes: &[u8]) -> u32 {
        crate::adler32::adler32(bytes)
    }
}

/// CRC-32 one bit at a time ([`crate::crc32::bitwise`]): the incumbent's.
pub struct Bitwise;

impl Algorithms for Bitwise {
    fn crc32(crc: u32, bytes: &[u8]) -> u32 {
        crate::crc32::bitwise(crc, bytes)
    }
}

/// CRC-32 by slice-by-8 ([`crate::crc32::slice_by_8`]): the fast challenger's.
pub struct SliceBy8;

impl Algorithms for SliceBy8 {
    fn crc32(crc: u32, bytes: &[u8]) -> u32 {
        crate::crc32::slice_by_8(crc, bytes)
    }
}

/// Why a state blob was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Not [`STATE_VERSION`]: the version found.
    UnknownVersion(u32),
    /// The bytes are not postcard of `[StreamState; STREAMS]`, exactly.
    Malformed,
    /// Stream `stream` says it holds no bytes but has a CRC other than 0 (the CRC of nothing).
    Inconsistent {
        /// The stream.
        stream: usize,
    },
}

impl From<StateError> for ImportRefusal {
    fn from(error: StateError) -> ImportRefusal {
        match error {
            StateError::UnknownVersion(_) => ImportRefusal::UnknownVersion,
            StateError::Malformed | StateError::Inconsistent { .. } => ImportRefusal::Malformed,
        }
    }
}

/// The state blob of `streams`: version [`STATE_VERSION`], postcard of the array.
pub fn encode_state(streams: &[StreamState; STREAMS]) -> StateBlob {
    let mut buffer = [0u8; MAX_STATE];
    // The largest array fits MAX_STATE (tileos_protocol::checksum tests it).
    let used = postcard::to_slice(streams, &mut buffer).map(|bytes| bytes.len()).unwrap_or(0);
    StateBlob { version: STATE_VERSION, bytes: buffer[..used].iter().copied().collect() }
}

/// The streams of a state blob: refuses other versions, anything but exactly one encoded
/// array (no trailing bytes), and a stream with a CRC but no bytes.
pub fn decode_state(blob: &StateBlob) -> Result<[StreamState; STREAMS], StateError> {
    if blob.version != STATE_VERSION {
        return Err(StateError::UnknownVersion(blob.version));
    }
    let (streams, rest) = postcard::take_from_bytes::<[StreamState; STREAMS]>(&blob.bytes).map_err(|_| StateError::Malformed)?;
    if !rest.is_empty() {
        return Err(StateError::Malformed);
    }
    if let Some(stream) = streams.iter().position(|state| state.length == 0 && state.crc != 0) {
        return Err(StateError::Inconsistent { stream });
    }
    Ok(streams)
}

/// The checksum service with algorithms `A`.
pub struct Checksummer<A> {
    streams: [StreamState; STREAMS],
    algorithms: PhantomData<A>,
}

impl<A: Algorithms> Default for Checksummer<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Algorithms> Checksummer<A> {
    /// A service with every stream empty.
    pub const fn new() -> Self {
        Checksummer { streams: [StreamState { crc: 0, length: 0 }; STREAMS], algorithms: PhantomData }
    }

    /// Answers one request.
    pub fn answer(&mut self, request: &Request) -> Response {
        match request {
            Request::Crc32(bytes) => Response::Checksum(A::crc32(0, bytes)),
            Request::Adler32(bytes) => Response::Checksum(A::adler32(bytes)),
            Request::Append { stream, bytes } => match self.streams.get_mut(usize::from(*stream)) {
                Some(state) => {
                    state.crc = A::crc32(state.crc, bytes);
                    state.length = state.length.wrapping_add(bytes.len() as u64);
                    Response::Stream(*state)
                }
                None => Response::NoSuchStream,
            },
            Request::Reset { stream } => match self.streams.get_mut(usize::from(*stream)) {
                Some(state) => {
                    *state = StreamState::default();
                    Response::Stream(*state)
                }
                None => Response::NoSuchStream,
            },
        }
    }

    /// The running streams.
    pub fn streams(&self) -> &[StreamState; STREAMS] {
        &self.streams
    }
}

impl<A: Algorithms> SlotModule for Checksummer<A> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        Ok(self.answer(&request))
    }

    fn export(&self) -> StateBlob {
        encode_state(&self.streams)
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.streams = decode_state(state)?;
        Ok(())
    }
}
