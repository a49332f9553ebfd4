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
//!
//! A module's side of the interface is [`SlotModule`] (serve, export, import) and [`step`],
//! one turn of the loop: decode the manager's reply as [`Work`], let the module do it, encode
//! the next [`Call`]. `tileos_sys::module::run` is that loop over the system calls.

use serde::{Deserialize, Serialize};

/// Badge bit of a seat's capability to its slot's front endpoint; the low bits are the seat
/// number. No description badge may have it (the image builder checks).
pub const SEAT_BADGE: u64 = 1 << 62;
/// Badge of the slot's verifier domain's capability to the front endpoint (the verifier
/// protocol is `tileos_bundle_verifier`'s): the seat bit with seat number 63, which no slot
/// has (at most 32 seats), so it is no seat's and no declared badge can be it.
pub const VERIFIER_BADGE: u64 = SEAT_BADGE | 63;
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

/// A slot module: one implementation of service protocol [`SlotModule::Protocol`] running in
/// a seat. `tileos_sys::module::run` drives it over the seat interface; [`step`] is the
/// whole of that interface's logic, host-testable.
pub trait SlotModule {
    /// The service protocol the slot fronts.
    type Protocol: crate::Protocol;
    /// Serves one client request (an `Err` is answered with the [`crate::ERROR`] label).
    fn serve(
        &mut self,
        request: <Self::Protocol as crate::Protocol>::Request,
    ) -> Result<<Self::Protocol as crate::Protocol>::Response, crate::ProtocolError>;
    /// The module's state, for a promotion or a new challenger.
    fn export(&self) -> StateBlob;
    /// Takes over state exported by another module of the slot (possibly another program).
    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal>;
    /// How many of `words` a served answer goes out as: [`step`] calls it with a
    /// [`crate::MESSAGE`] answer encoded in `words[..length]` (the length word first) and
    /// sends the number of words it returns (at most `words.len()`). Every module sends the
    /// answer as encoded (this default); a test module may change what no client reads (the
    /// bytes past the payload's length in the last word, words past it) to show that a
    /// slot's `Equivalent` comparator takes it for the same answer (`checksum-padded`).
    fn answer_words(&mut self, _words: &mut [u64; crate::PAYLOAD_WORDS + 1], length: usize) -> usize {
        length
    }
}

/// What the manager's reply to a module's call asks of it, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
// Decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Work<R> {
    /// Serve this client request.
    Serve(R),
    /// A client request that does not decode: answer with this error, as any server would.
    Malformed(crate::ProtocolError),
    /// Export the state.
    Export,
    /// Import this state.
    Import(StateBlob),
    /// An [`IMPORT`] whose blob does not decode: refuse it ([`ImportRefusal::Malformed`]).
    MalformedState,
    /// A label the seat interface does not define: answered with
    /// [`crate::ProtocolError::UnknownLabel`].
    Unknown(u64),
}

/// Decodes the manager's reply `label`, `words` (the message's words, length word first) as
/// work for a module of protocol `P`.
pub fn work<P: crate::Protocol>(label: u64, words: &[u64]) -> Work<P::Request> {
    match label {
        crate::MESSAGE => match crate::decode::<P::Request>(label, words) {
            Ok(request) => Work::Serve(request),
            Err(error) => Work::Malformed(error),
        },
        EXPORT => Work::Export,
        IMPORT => match crate::decode::<StateBlob>(crate::MESSAGE, words) {
            Ok(state) => Work::Import(state),
            Err(_) => Work::MalformedState,
        },
        other => Work::Unknown(other),
    }
}

/// A module's call to its manager.
#[derive(Clone, Debug, PartialEq, Eq)]
// Encoded at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Call<T> {
    /// Ready for work (the first call).
    Ready,
    /// The answer to a request (or its error).
    Answer(Result<T, crate::ProtocolError>),
    /// The exported state.
    State(StateBlob),
    /// The outcome of an import.
    Imported(Result<(), ImportRefusal>),
}

/// Encodes a module's call into `words`: returns its label and length in words. An answer
/// that does not fit one message becomes the error [`crate::ProtocolError::TooLarge`].
pub fn encode_call<T: Serialize>(call: &Call<T>, words: &mut [u64; crate::PAYLOAD_WORDS + 1]) -> (u64, usize) {
    words.fill(0);
    let error = |words: &mut [u64; crate::PAYLOAD_WORDS + 1], error: crate::ProtocolError| {
        words.fill(0);
        words[0] = error as u64;
        (crate::ERROR, 1)
    };
    match call {
        Call::Ready => (READY, 0),
        Call::Answer(Ok(response)) => match crate::encode(response, words) {
            Ok(length) => (crate::MESSAGE, length),
            Err(problem) => error(words, problem),
        },
        Call::Answer(Err(problem)) => error(words, *problem),
        // Every StateBlob fits one message (MAX_STATE; tested below).
        Call::State(state) => (STATE, crate::encode(state, words).unwrap_or(0)),
        Call::Imported(outcome) => {
            words[0] = match outcome {
                Ok(()) => 0,
                Err(refusal) => *refusal as u64,
            };
            (IMPORTED, 1)
        }
    }
}

/// One turn of a module: decodes the manager's reply (`label`, `words`), lets `module` do the
/// work, and encodes its next call into `out` (returns label and length).
pub fn step<M: SlotModule>(module: &mut M, label: u64, words: &[u64], out: &mut [u64; crate::PAYLOAD_WORDS + 1]) -> (u64, usize) {
    let call = match work::<M::Protocol>(label, words) {
        Work::Serve(request) => Call::Answer(module.serve(request)),
        Work::Malformed(error) => Call::Answer(Err(error)),
        Work::Export => Call::State(module.export()),
        Work::Import(state) => Call::Imported(module.import(&state)),
        Work::MalformedState => Call::Imported(Err(ImportRefusal::Malformed)),
        Work::Unknown(_) => Call::Answer(Err(crate::ProtocolError::UnknownLabel)),
    };
    match encode_call(&call, out) {
        (crate::MESSAGE, length) => (crate::MESSAGE, module.answer_words(out, length).min(out.len())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    use crate::echo::{Echo, Request, Response};
    use crate::{ERROR, ProtocolError};

    /// A module of the echo protocol that counts and keeps its count as state.
    struct Counter(u64);

    impl SlotModule for Counter {
        type Protocol = Echo;
        fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
            self.0 += 1;
            match request {
                Request::Increment(value) => Ok(Response::Number(value + self.0)),
                _ => Err(ProtocolError::Failed),
            }
        }
        fn export(&self) -> StateBlob {
            StateBlob { version: 7, bytes: self.0.to_le_bytes().into_iter().collect() }
        }
        fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
            if state.version != 7 {
                return Err(ImportRefusal::UnknownVersion);
            }
            self.0 = u64::from_le_bytes(state.bytes.as_slice().try_into().map_err(|_| ImportRefusal::Malformed)?);
            Ok(())
        }
    }

    fn message<T: Serialize>(value: &T) -> ([u64; PAYLOAD_WORDS + 1], usize) {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(value, &mut words).unwrap();
        (words, length)
    }

    #[test]
    fn ready_is_an_empty_call() {
        let mut words = [9; PAYLOAD_WORDS + 1];
        assert_eq!(encode_call::<Response>(&Call::Ready, &mut words), (READY, 0));
    }

    #[test]
    fn a_request_is_served_and_answered_in_the_message_convention() {
        let mut module = Counter(0);
        let (request, length) = message(&Request::Increment(40));
        let mut out = [0; PAYLOAD_WORDS + 1];
        let (label, answer) = step(&mut module, MESSAGE, &request[..length], &mut out);
        assert_eq!(decode::<Response>(label, &out[..answer]), Ok(Response::Number(41)));
        // A service failure is an ERROR reply with the code.
        let (request, length) = message(&Request::WhoAmI);
        assert_eq!(step(&mut module, MESSAGE, &request[..length], &mut out), (ERROR, 1));
        assert_eq!(out[0], ProtocolError::Failed as u64);
    }

    #[test]
    fn a_malformed_request_gets_the_error_label_as_from_an_rpc_server() {
        let mut module = Counter(0);
        let mut out = [0; PAYLOAD_WORDS + 1];
        assert_eq!(step(&mut module, MESSAGE, &[2, 0xFFFF], &mut out), (ERROR, 1));
        assert_eq!(out[0], ProtocolError::Malformed as u64);
        assert_eq!(step(&mut module, MESSAGE, &[100, 0], &mut out), (ERROR, 1));
        assert_eq!(out[0], ProtocolError::Truncated as u64);
        assert_eq!(module.0, 0, "nothing was served");
        // A label the seat interface does not define.
        assert_eq!(step(&mut module, 0x999, &[], &mut out), (ERROR, 1));
        assert_eq!(out[0], ProtocolError::UnknownLabel as u64);
    }

    #[test]
    fn export_then_import_moves_the_state() {
        let mut first = Counter(5);
        let mut out = [0; PAYLOAD_WORDS + 1];
        let (label, length) = step(&mut first, EXPORT, &[], &mut out);
        assert_eq!(label, STATE);
        let state = decode::<StateBlob>(MESSAGE, &out[..length]).unwrap();
        assert_eq!(state, first.export());
        // The manager sends the blob as the IMPORT reply, in the message convention.
        let mut second = Counter(0);
        let (blob, blob_length) = message(&state);
        assert_eq!(step(&mut second, IMPORT, &blob[..blob_length], &mut out), (IMPORTED, 1));
        assert_eq!((out[0], second.0), (0, 5));
    }

    #[test]
    fn imports_are_refused_precisely() {
        let mut module = Counter(3);
        let mut out = [0; PAYLOAD_WORDS + 1];
        let (blob, length) = message(&StateBlob { version: 8, bytes: heapless::Vec::new() });
        assert_eq!(step(&mut module, IMPORT, &blob[..length], &mut out), (IMPORTED, 1));
        assert_eq!(ImportRefusal::from_code(out[0]), Some(ImportRefusal::UnknownVersion));
        let (blob, length) = message(&StateBlob { version: 7, bytes: [1, 2, 3].into_iter().collect() });
        step(&mut module, IMPORT, &blob[..length], &mut out);
        assert_eq!(ImportRefusal::from_code(out[0]), Some(ImportRefusal::Malformed));
        // A blob that is not a StateBlob at all.
        assert_eq!(step(&mut module, IMPORT, &[3, 0xFFFF_FFFF], &mut out), (IMPORTED, 1));
        assert_eq!(ImportRefusal::from_code(out[0]), Some(ImportRefusal::Malformed));
        assert_eq!(module.0, 3, "a refused import changes nothing");
    }

    #[test]
    fn the_largest_state_fits_one_message() {
        let blob = StateBlob { version: u32::MAX, bytes: core::iter::repeat_n(0xff, MAX_STATE).collect() };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&blob, &mut words).expect("fits");
        assert_eq!(decode::<StateBlob>(MESSAGE, &words[..length]), Ok(blob));
    }

    /// [`Counter`] whose served answers go out with `extra` more words (all ones) after the
    /// encoded answer.
    struct Extra {
        counter: Counter,
        extra: usize,
    }

    impl SlotModule for Extra {
        type Protocol = Echo;
        fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
            self.counter.serve(request)
        }
        fn export(&self) -> StateBlob {
            self.counter.export()
        }
        fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
            self.counter.import(state)
        }
        fn answer_words(&mut self, words: &mut [u64; PAYLOAD_WORDS + 1], length: usize) -> usize {
            for word in words.iter_mut().skip(length).take(self.extra) {
                *word = u64::MAX;
            }
            length + self.extra
        }
    }

    #[test]
    fn only_a_served_answer_goes_out_as_the_module_says_and_never_past_the_message() {
        let mut out = [0; PAYLOAD_WORDS + 1];
        let (request, length) = message(&Request::Increment(1));
        let (_, plain) = step(&mut Counter(0), MESSAGE, &request[..length], &mut out);
        let mut module = Extra { counter: Counter(0), extra: 2 };
        assert_eq!(step(&mut module, MESSAGE, &request[..length], &mut out), (MESSAGE, plain + 2));
        assert_eq!(&out[plain..plain + 2], &[u64::MAX; 2]);
        assert_eq!(decode::<Response>(MESSAGE, &out[..plain + 2]), Ok(Response::Number(2)));
        // Errors, the state and an import's outcome go out as encoded.
        let (request, length) = message(&Request::WhoAmI);
        assert_eq!(step(&mut module, MESSAGE, &request[..length], &mut out), (ERROR, 1));
        assert_eq!(step(&mut module, MESSAGE, &[2, 0xFFFF], &mut out), (ERROR, 1));
        let (label, state) = step(&mut module, EXPORT, &[], &mut out);
        assert_eq!((label, decode::<StateBlob>(MESSAGE, &out[..state])), (STATE, Ok(module.export())));
        assert_eq!(step(&mut module, IMPORT, &[3, 0xFFFF_FFFF], &mut out), (IMPORTED, 1));
        // A module that asks for more words than a message has gets the message's.
        module.extra = 1000;
        let (request, length) = message(&Request::Increment(1));
        assert_eq!(step(&mut module, MESSAGE, &request[..length], &mut out), (MESSAGE, PAYLOAD_WORDS + 1));
    }

    #[test]
    fn import_codes_round_trip() {
        assert_eq!(ImportRefusal::from_code(0), None);
        for refusal in [ImportRefusal::UnknownVersion, ImportRefusal::Malformed] {
            assert_eq!(ImportRefusal::from_code(refusal as u64), Some(refusal));
        }
    }
}
