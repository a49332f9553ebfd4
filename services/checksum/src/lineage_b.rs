//! Lineage B of the checksum service: written again, apart from [`crate::Checksummer`], for
//! N-version execution (a bug in one lineage should not be a bug in the other). It shares
//! only the protocol and the state format with it:
//!
//! - CRC-32 with a 16-entry nibble table, the register kept *un-inverted* between appends
//!   (the stream stores the register, not the CRC; the CRC is computed when answering);
//! - Adler-32 with the modulo taken after every byte (no deferred sums);
//! - its own state encoder/decoder through postcard of its own record type, which has the
//!   same encoding as `[StreamState; STREAMS]` by construction (tested).

use serde_shim::Record;
use tileos_protocol::ProtocolError;
use tileos_protocol::checksum::{Checksum, Request, Response, STATE_VERSION, STREAMS, StreamState};
use tileos_protocol::module::{ImportRefusal, MAX_STATE, SlotModule, StateBlob};

/// The nibble table: `NIBBLES[n]` is the register after shifting nibble `n` through.
const NIBBLES: [u32; 16] = {
    let mut table = [0u32; 16];
    let mut nibble = 0;
    while nibble < 16 {
        let mut register = nibble as u32;
        let mut step = 0;
        while step < 4 {
            register = (register >> 1) ^ (0xEDB8_8320 & 0u32.wrapping_sub(register & 1));
            step += 1;
        }
        table[nibble] = register;
        nibble += 1;
    }
    table
};

/// Shifts `bytes` through the (un-inverted) CRC-32 register, four bits at a time.
pub fn crc32_register(mut register: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        register ^= u32::from(byte);
        register = (register >> 4) ^ NIBBLES[(register & 0xf) as usize];
        register = (register >> 4) ^ NIBBLES[(register & 0xf) as usize];
    }
    register
}

/// CRC-32 of `bytes` (lineage B).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_register(0xFFFF_FFFF, bytes) ^ 0xFFFF_FFFF
}

/// Adler-32 of `bytes` (lineage B: both sums reduced after every byte).
pub fn adler32(bytes: &[u8]) -> u32 {
    let mut low: u32 = 1;
    let mut high: u32 = 0;
    for &byte in bytes {
        low = (low + u32::from(byte)) % 65_521;
        high = (high + low) % 65_521;
    }
    high * 65_536 + low
}

mod serde_shim {
    //! The wire record of one stream: field for field `StreamState`, so the blob is the same.
    use serde::{Deserialize, Serialize};

    /// One stream as it travels.
    #[derive(Clone, Copy, Default, Serialize, Deserialize)]
    pub struct Record {
        pub crc: u32,
        pub length: u64,
    }
}

/// One running stream: the CRC register (un-inverted) and the byte count.
#[derive(Clone, Copy)]
struct Stream {
    register: u32,
    bytes: u64,
}

impl Stream {
    const EMPTY: Stream = Stream { register: 0xFFFF_FFFF, bytes: 0 };

    fn reported(self) -> StreamState {
        StreamState { crc: !self.register, length: self.bytes }
    }
}

/// The checksum service, lineage B.
pub struct LineageB {
    streams: [Stream; STREAMS],
}

impl Default for LineageB {
    fn default() -> Self {
        Self::new()
    }
}

impl LineageB {
    /// Every stream empty.
    pub const fn new() -> Self {
        LineageB { streams: [Stream::EMPTY; STREAMS] }
    }

    /// Answers one request.
    pub fn answer(&mut self, request: &Request) -> Response {
        let stream = |number: u8| usize::from(number);
        match request {
            Request::Crc32(bytes) => Response::Checksum(crc32(bytes)),
            Request::Adler32(bytes) => Response::Checksum(adler32(bytes)),
            Request::Append { stream: number, bytes } if stream(*number) < STREAMS => {
                let state = &mut self.streams[stream(*number)];
                state.register = crc32_register(state.register, bytes);
                state.bytes = state.bytes.wrapping_add(bytes.len() as u64);
                Response::Stream(state.reported())
            }
            Request::Reset { stream: number } if stream(*number) < STREAMS => {
                self.streams[stream(*number)] = Stream::EMPTY;
                Response::Stream(Stream::EMPTY.reported())
            }
            Request::Append { .. } | Request::Reset { .. } => Response::NoSuchStream,
        }
    }
}

impl SlotModule for LineageB {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        Ok(self.answer(&request))
    }

    fn export(&self) -> StateBlob {
        let records: [Record; STREAMS] = core::array::from_fn(|index| {
            let state = self.streams[index].reported();
            Record { crc: state.crc, length: state.length }
        });
        let mut buffer = [0u8; MAX_STATE];
        let length = postcard::to_slice(&records, &mut buffer).map_or(0, |used| used.len());
        StateBlob { version: STATE_VERSION, bytes: heapless::Vec::from_slice(&buffer[..length]).unwrap_or_default() }
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        if state.version != STATE_VERSION {
            return Err(ImportRefusal::UnknownVersion);
        }
        let records: [Record; STREAMS] = match postcard::take_from_bytes(&state.bytes) {
            Ok((records, [])) => records,
            _ => return Err(ImportRefusal::Malformed),
        };
        if records.iter().any(|record| record.length == 0 && record.crc != 0) {
            return Err(ImportRefusal::Malformed);
        }
        for (stream, record) in self.streams.iter_mut().zip(records) {
            *stream = Stream { register: !record.crc, bytes: record.length };
        }
        Ok(())
    }
}
