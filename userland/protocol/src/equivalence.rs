//! The equivalence of a protocol's answers, for a slot's `Equivalent` comparator
//! (docs/slots.md, "Evidence and the policy": **Comparators**).
//!
//! Every client reads an answer with [`crate::decode`]: word 0 is the payload's length in
//! bytes, the postcard payload follows, and the bytes past that length in the last word, and
//! the words past it, are read by nobody. An error reply ([`ERROR`]) is read by its word 0
//! alone, as [`ProtocolError::from_code`] reads it. Two answers can therefore differ byte for
//! byte and still be the same answer to every client (junk left in the last word's padding,
//! an extra word, an unknown error code where another unknown one was given). Each answer has
//! a **canonical form** ([`canonical`]): a decoding answer is its response encoded again
//! ([`crate::encode`]: postcard's encoding is deterministic and tells distinct values apart),
//! an error reply is [`ERROR`] and the code a client reads. Two answers are the same answer
//! ([`same_response`]) when their canonical forms are equal; an answer with no canonical form
//! (a label the protocol does not have, a malformed payload, an error reply with no word)
//! equals only a byte-identical one. A slot manager also digests the canonical form of a
//! delivered answer to compare a replay's answer with it under `Equivalent`.

use crate::{ERROR, PAYLOAD_WORDS, Protocol, ProtocolError, decode, encode};

/// The words of an answer's canonical form ([`canonical`]).
pub type CanonicalWords = [u64; PAYLOAD_WORDS + 1];

/// The canonical form of the answer (`label`, `words`) for a client of protocol `P`, written
/// into `out`: its label and the number of words of `out` it uses. `None` when the answer has
/// none (it reads as no response of `P` and is no error reply with a code): such an answer is
/// the same only as an identical one. Allocates nothing.
pub fn canonical<P: Protocol>(label: u64, words: &[u64], out: &mut CanonicalWords) -> Option<(u64, usize)>
where
    P::Response: Eq,
{
    if label == ERROR {
        let code = *words.first()?;
        out.fill(0);
        out[0] = ProtocolError::from_code(code) as u64;
        return Some((ERROR, 1));
    }
    let response = decode::<P::Response>(label, words).ok()?;
    let length = encode(&response, out).ok()?;
    Some((label, length))
}

/// Whether the answer (`a_label`, `a_words`) and the answer (`b_label`, `b_words`) are the
/// same answer to a client of protocol `P`: their canonical forms ([`canonical`]) are equal,
/// or neither has one and they are identical (label and words). `P::Response: Eq`, so that
/// this is an equivalence (reflexive, symmetric, transitive: a response with a float, which
/// is not equal to itself when it is a NaN, has none). Identical answers are the same without
/// decoding. Allocates nothing.
pub fn same_response<P: Protocol>(a_label: u64, a_words: &[u64], b_label: u64, b_words: &[u64]) -> bool
where
    P::Response: Eq,
{
    if a_label == b_label && a_words == b_words {
        return true;
    }
    let (mut a, mut b) = ([0; PAYLOAD_WORDS + 1], [0; PAYLOAD_WORDS + 1]);
    match (canonical::<P>(a_label, a_words, &mut a), canonical::<P>(b_label, b_words, &mut b)) {
        (Some((a_label, a_length)), Some((b_label, b_length))) => a_label == b_label && a[..a_length] == b[..b_length],
        // Not identical (above), so not the same.
        _ => false,
    }
}

/// A protocol's equivalence of answers ([`same_response`] for that protocol): the first
/// answer's label and words, then the second's.
pub type SameResponse = fn(u64, &[u64], u64, &[u64]) -> bool;

/// A protocol's canonical form of an answer ([`canonical`] for that protocol).
pub type CanonicalForm = fn(u64, &[u64], &mut CanonicalWords) -> Option<(u64, usize)>;

/// The names of the protocols that provide an equivalence, as a slot's `protocol` field
/// gives them ([`Protocol::NAME`]): service protocols whose `Response` is `Eq` and small.
/// Each one's decoder is linked into the slot manager (the 13 service protocols with an
/// `Eq` response made its text 87 KB larger, these 7 make it 20 KB larger), so the others
/// (sensors, store, telemetry, verify, inference, federation: responses of strings and
/// vectors) are left out until a slot fronts one: a name here and a line in
/// `protocol_answers` each. The twin's response is not `Eq` (floats); the supervisor's
/// and the slot control protocol's are not services a slot fronts. The system
/// description's check reads this list (it needs no decoder).
pub const EQUIVALENT_PROTOCOLS: &[&str] = &["checksum", "echo", "log", "display", "socket", "block", "pci"];

/// Whether the protocol named `protocol` provides an equivalence ([`EQUIVALENT_PROTOCOLS`]).
pub fn provides_equivalence(protocol: &str) -> bool {
    EQUIVALENT_PROTOCOLS.contains(&protocol)
}

/// The equivalence of the protocol named `protocol`, or `None` when it provides none (a
/// slot of it cannot use the `Equivalent` comparator).
pub fn equivalence(protocol: &str) -> Option<SameResponse> {
    protocol_answers(protocol).map(|(same, _)| same)
}

/// The canonical form of the protocol named `protocol`'s answers, or `None` when it provides
/// no equivalence.
pub fn canonical_form(protocol: &str) -> Option<CanonicalForm> {
    protocol_answers(protocol).map(|(_, form)| form)
}

/// The equivalence and the canonical form of the protocol named `protocol`.
fn protocol_answers(protocol: &str) -> Option<(SameResponse, CanonicalForm)> {
    use crate::*;
    Some(match protocol {
        checksum::Checksum::NAME => (same_response::<checksum::Checksum>, canonical::<checksum::Checksum>),
        echo::Echo::NAME => (same_response::<echo::Echo>, canonical::<echo::Echo>),
        console::Console::NAME => (same_response::<console::Console>, canonical::<console::Console>),
        display::Display::NAME => (same_response::<display::Display>, canonical::<display::Display>),
        socket::Socket::NAME => (same_response::<socket::Socket>, canonical::<socket::Socket>),
        block::Block::NAME => (same_response::<block::Block>, canonical::<block::Block>),
        pci::Pci::NAME => (same_response::<pci::Pci>, canonical::<pci::Pci>),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::checksum::{Checksum, Response, StreamState};
    use crate::{ERROR, MESSAGE, PAYLOAD_WORDS, ProtocolError, encode};
    use std::vec::Vec;

    /// `response` as a message's words.
    fn words(response: &Response) -> Vec<u64> {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(response, &mut words).expect("fits");
        words[..length].to_vec()
    }

    const STREAM: Response = Response::Stream(StreamState { crc: 0xdead_beef, length: 3 });

    #[test]
    fn an_answer_is_the_same_as_itself() {
        let a = words(&STREAM);
        assert!(same_response::<Checksum>(MESSAGE, &a, MESSAGE, &a));
    }

    #[test]
    fn junk_in_the_last_words_padding_is_the_same_answer() {
        let a = words(&STREAM);
        let length = a[0] as usize;
        assert!(!length.is_multiple_of(8), "the payload leaves padding in its last word");
        let mut b = a.clone();
        // Every byte past the payload's length in the last word set.
        *b.last_mut().unwrap() |= u64::MAX << (8 * (length % 8));
        assert_ne!(a, b);
        assert!(same_response::<Checksum>(MESSAGE, &a, MESSAGE, &b));
        assert!(same_response::<Checksum>(MESSAGE, &b, MESSAGE, &a));
    }

    #[test]
    fn extra_words_are_the_same_answer() {
        let a = words(&STREAM);
        let mut b = a.clone();
        b.extend([0x5555, u64::MAX]);
        assert!(same_response::<Checksum>(MESSAGE, &a, MESSAGE, &b));
    }

    #[test]
    fn a_different_value_is_a_different_answer() {
        let a = words(&STREAM);
        let b = words(&Response::Stream(StreamState { crc: 0xdead_beef, length: 4 }));
        assert!(!same_response::<Checksum>(MESSAGE, &a, MESSAGE, &b));
        assert!(!same_response::<Checksum>(MESSAGE, &a, MESSAGE, &words(&Response::Checksum(0xdead_beef))));
        // The same words under another label are not the protocol's answer.
        assert!(!same_response::<Checksum>(MESSAGE, &a, MESSAGE + 7, &a));
    }

    #[test]
    fn error_replies_are_the_same_when_a_client_reads_the_same_error() {
        let error = [ProtocolError::Failed as u64];
        assert!(same_response::<Checksum>(ERROR, &error, ERROR, &error));
        // A client reads word 0 alone: an extra word is the same error.
        assert!(same_response::<Checksum>(ERROR, &error, ERROR, &[ProtocolError::Failed as u64, 0x5555]));
        // Codes a client reads as `Malformed` (3, and any it does not know) are one error.
        assert!(same_response::<Checksum>(ERROR, &[3], ERROR, &[99]));
        assert!(same_response::<Checksum>(ERROR, &[u64::MAX], ERROR, &[0]));
        // Another error, a decoding answer.
        assert!(!same_response::<Checksum>(ERROR, &error, ERROR, &[ProtocolError::Busy as u64]));
        assert!(!same_response::<Checksum>(ERROR, &error, MESSAGE, &words(&STREAM)));
        assert!(!same_response::<Checksum>(MESSAGE, &words(&STREAM), ERROR, &error));
        // An error reply with no word has no code to read: the same only as itself.
        assert!(same_response::<Checksum>(ERROR, &[], ERROR, &[]));
        assert!(!same_response::<Checksum>(ERROR, &[], ERROR, &error));
    }

    #[test]
    fn an_answer_that_does_not_decode_equals_only_itself() {
        // A malformed payload (a variant the response does not have) and a truncated one.
        let malformed = [1, 0xff];
        assert!(same_response::<Checksum>(MESSAGE, &malformed, MESSAGE, &malformed));
        assert!(!same_response::<Checksum>(MESSAGE, &malformed, MESSAGE, &[1, 0x1ff]));
        assert!(!same_response::<Checksum>(MESSAGE, &[100, 0], MESSAGE, &[100, 1]));
        // Trailing bytes after a response: not a response of the protocol.
        let mut trailing = words(&STREAM);
        trailing[0] += 1;
        assert!(!same_response::<Checksum>(MESSAGE, &trailing, MESSAGE, &words(&STREAM)));
        // The same words under a label the protocol does not have.
        let a = words(&STREAM);
        assert!(same_response::<Checksum>(MESSAGE + 7, &a, MESSAGE + 7, &a));
        assert!(!same_response::<Checksum>(MESSAGE + 7, &a, MESSAGE + 7, &words(&Response::Checksum(1))));
    }

    #[test]
    fn the_canonical_form_is_what_every_equivalent_answer_shares() {
        let plain = words(&STREAM);
        let mut padded = plain.clone();
        let length = plain[0] as usize;
        *padded.last_mut().unwrap() |= u64::MAX << (8 * (length % 8));
        padded.extend([7, 8, 9]);
        let (mut a, mut b) = ([0; PAYLOAD_WORDS + 1], [0; PAYLOAD_WORDS + 1]);
        let (label, used) = canonical::<Checksum>(MESSAGE, &padded, &mut a).expect("a checksum response");
        assert_eq!((label, &a[..used]), (MESSAGE, &plain[..]), "the padded answer's form is the plain encoding");
        assert_eq!(canonical::<Checksum>(MESSAGE, &plain, &mut b), Some((MESSAGE, used)));
        assert_eq!(a, b, "the rest of the form's words are zero");
        // An error reply: its label and the code a client reads.
        assert_eq!(canonical::<Checksum>(ERROR, &[99, 1, 2], &mut a), Some((ERROR, 1)));
        assert_eq!(a[0], ProtocolError::Malformed as u64);
        // None for what does not read as a response or an error.
        assert_eq!(canonical::<Checksum>(MESSAGE, &[1, 0xff], &mut a), None);
        assert_eq!(canonical::<Checksum>(ERROR, &[], &mut a), None);
        assert_eq!(canonical::<Checksum>(MESSAGE + 7, &plain, &mut a), None);
        // By name, the same function.
        let form = canonical_form("checksum").expect("checksum provides one");
        assert_eq!(form(MESSAGE, &padded, &mut b), Some((MESSAGE, used)));
        assert!(canonical_form("store").is_none());
    }

    #[test]
    fn the_protocols_that_provide_one_are_found_by_name() {
        let checksum = equivalence("checksum").expect("checksum provides an equivalence");
        let a = words(&STREAM);
        let mut b = a.clone();
        b.push(1);
        assert!(checksum(MESSAGE, &a, MESSAGE, &b));
        // The list the description's check reads and the functions agree.
        for name in EQUIVALENT_PROTOCOLS {
            assert!(equivalence(name).is_some() && canonical_form(name).is_some() && provides_equivalence(name), "{name}");
        }
        for name in ["twin", "supervisor", "slot-control", "store", "no-such-protocol", "", "Checksum"] {
            assert!(equivalence(name).is_none() && canonical_form(name).is_none() && !provides_equivalence(name), "{name}");
        }
    }
}
