//! The seat interface: how a slot's manager drives the module running in each of its seats
//! (the incumbent, challengers, the noise replica, N-version lineages; `docs/slots.md`).
//!
//! A module never serves an endpoint of its own. It *calls* the slot's front endpoint, whose
//! server is the slot manager, with a badge the root server gives its seat
//! ([`SEAT_BADGE`]` | seat`), and the manager's reply to that call is the module's next piece
//! of work. So the manager never blocks on a module: it saves each module's reply capability
//! and answers it when it has work; a module that is slow, looping or dead simply has not
//! called back, which the manager sees (and times out) without waiting for it.
//!
//! Module → manager (the module's call):
//! - [`READY`], no words: the first call after the module starts, asking for work;
//! - [`crate::MESSAGE`] or [`crate::ERROR`]: the answer to the last request, in the
//!   service protocol's own encoding (exactly as the incumbent would answer a client);
//! - [`STATE`]: the answer to [`EXPORT`]: the module's state as a [`StateBlob`]
//!   (postcard, in the message convention);
//! - [`IMPORTED`]: the answer to [`IMPORT`]: word 0 is 0 when the state was taken, else an
//!   [`ImportRefusal`] code.
//!
//! Manager → module (the reply):
//! - [`crate::MESSAGE`]: a client's request, verbatim (label and words as the client sent
//!   them);
//! - [`EXPORT`], no words: export the state;
//! - [`IMPORT`]: a [`StateBlob`] to import (postcard, in the message convention).
//!
//! State is one versioned blob of at most [`MAX_STATE`] bytes; a module that cannot import a
//! version refuses it ([`ImportRefusal::UnknownVersion`]) and is not promoted.

use serde::{Deserialize, Serialize};

/// Badge bit of a seat's capability to its slot's front endpoint; the low bits are the seat
/// number. No description badge may have it (the image builder checks).
pub const SEAT_BADGE: u64 = 1 << 62;
/// Label of a module's first call: it is ready for work.
pub const READY: u64 = 0x180;
/// Label of a module's call carrying its exported state.
pub const STATE: u64 = 0x181;
/// Label of a module's call acknowledging (word 0 = 0) or refusing an import.
pub const IMPORTED: u64 = 0x182;
/// Label of the manager's reply asking a module to export its state.
pub const EXPORT: u64 = 0x190;
/// Label of the manager's reply carrying state to import.
pub const IMPORT: u64 = 0x191;
/// Largest state blob in bytes (it travels in one message with its version).
pub const MAX_STATE: usize = 896;

/// A module's state, as the service protocol defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateBlob {
    /// Version of the blob's format (service-defined).
    pub version: u32,
    /// The state.
    pub bytes: heapless::Vec<u8, MAX_STATE>,
}

/// Why a module refused an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ImportRefusal {
    /// The blob's version is not one this module reads.
    UnknownVersion = 1,
    /// The blob does not decode.
    Malformed = 2,
}

impl ImportRefusal {
    /// The refusal of an [`IMPORTED`] code (`None` for 0, success; unknown codes read as
    /// [`ImportRefusal::Malformed`]).
    pub fn from_code(code: u64) -> Option<ImportRefusal> {
        match code {
            0 => None,
            1 => Some(ImportRefusal::UnknownVersion),
            _ => Some(ImportRefusal::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn the_largest_state_fits_one_message() {
        let blob = StateBlob { version: u32::MAX, bytes: core::iter::repeat_n(0xff, MAX_STATE).collect() };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&blob, &mut words).expect("fits");
        assert_eq!(decode::<StateBlob>(MESSAGE, &words[..length]), Ok(blob));
    }

    #[test]
    fn import_codes_round_trip() {
        assert_eq!(ImportRefusal::from_code(0), None);
        for refusal in [ImportRefusal::UnknownVersion, ImportRefusal::Malformed] {
            assert_eq!(ImportRefusal::from_code(refusal as u64), Some(refusal));
        }
    }
}
