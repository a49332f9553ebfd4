//! The equivalence of a protocol's answers, for a slot's `Equivalent` comparator
//! (docs/slots.md, "Evidence and the policy": **Comparators**).
//!
//! Every client reads an answer with [`crate::decode`]: word 0 is the payload's length in
//! bytes, the postcard payload follows, and the bytes past that length in the last word, and
//! the words past it, are read by nobody. Two answers can therefore differ byte for byte and
//! still be the same answer to every client (junk left in the last word's padding, an extra
//! word). The equivalence every postcard protocol has is: **the decoded responses are
//! equal**; an answer that does not decode (an error reply, a label the protocol does not
//! have, a malformed payload) equals only a byte-identical one.

use crate::{Protocol, decode};

/// Whether the answer (`a_label`, `a_words`) and the answer (`b_label`, `b_words`) are the
/// same answer to a client of protocol `P`: both decode to equal responses, or neither
/// decodes and they are identical (label and words). `P::Response: Eq`, so that this is an
/// equivalence (reflexive, symmetric, transitive: a response with a float, which is not
/// equal to itself when it is a NaN, has none). Allocates nothing.
pub fn same_response<P: Protocol>(a_label: u64, a_words: &[u64], b_label: u64, b_words: &[u64]) -> bool
where
    P::Response: Eq,
{
    match (decode::<P::Response>(a_label, a_words), decode::<P::Response>(b_label, b_words)) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(_)) => a_label == b_label && a_words == b_words,
        (Ok(_), Err(_)) | (Err(_), Ok(_)) => false,
    }
}

/// A protocol's equivalence of answers ([`same_response`] for that protocol): the first
/// answer's label and words, then the second's.
pub type SameResponse = fn(u64, &[u64], u64, &[u64]) -> bool;

/// The names of the protocols that provide an equivalence, as a slot's `protocol` field
/// gives them ([`Protocol::NAME`]): service protocols whose `Response` is `Eq` and small.
/// Each one's decoder is linked into the slot manager (the 13 service protocols with an
/// `Eq` response made its text 87 KB larger, these 7 make it 20 KB larger), so the others
/// (sensors, store, telemetry, verify, inference, federation: responses of strings and
/// vectors) are left out until a slot fronts one: a name here and a line in
/// [`equivalence`] each. The twin's response is not `Eq` (floats); the supervisor's and
/// the slot control protocol's are not services a slot fronts. The system description's
/// check reads this list (it needs no decoder).
pub const EQUIVALENT_PROTOCOLS: &[&str] = &["checksum", "echo", "log", "display", "socket", "block", "pci"];

/// Whether the protocol named `protocol` provides an equivalence ([`EQUIVALENT_PROTOCOLS`]).
pub fn provides_equivalence(protocol: &str) -> bool {
    EQUIVALENT_PROTOCOLS.contains(&protocol)
}

/// The equivalence of the protocol named `protocol`, or `None` when it provides none (a
/// slot of it cannot use the `Equivalent` comparator).
pub fn equivalence(protocol: &str) -> Option<SameResponse> {
    use crate::*;
    Some(match protocol {
        checksum::Checksum::NAME => same_response::<checksum::Checksum>,
        echo::Echo::NAME => same_response::<echo::Echo>,
        console::Console::NAME => same_response::<console::Console>,
        display::Display::NAME => same_response::<display::Display>,
        socket::Socket::NAME => same_response::<socket::Socket>,
        block::Block::NAME => same_response::<block::Block>,
        pci::Pci::NAME => same_response::<pci::Pci>,
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
    fn an_answer_that_does_not_decode_equals_only_itself() {
        let error = [ProtocolError::Failed as u64];
        assert!(same_response::<Checksum>(ERROR, &error, ERROR, &error));
        // An error reply with an extra word, another error, a decoding answer.
        assert!(!same_response::<Checksum>(ERROR, &error, ERROR, &[ProtocolError::Failed as u64, 0]));
        assert!(!same_response::<Checksum>(ERROR, &error, ERROR, &[ProtocolError::Busy as u64]));
        assert!(!same_response::<Checksum>(ERROR, &error, MESSAGE, &words(&STREAM)));
        assert!(!same_response::<Checksum>(MESSAGE, &words(&STREAM), ERROR, &error));
        // A malformed payload (a variant the response does not have) and a truncated one.
        let malformed = [1, 0xff];
        assert!(same_response::<Checksum>(MESSAGE, &malformed, MESSAGE, &malformed));
        assert!(!same_response::<Checksum>(MESSAGE, &malformed, MESSAGE, &[1, 0x1ff]));
        assert!(!same_response::<Checksum>(MESSAGE, &[100, 0], MESSAGE, &[100, 1]));
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
            assert!(equivalence(name).is_some() && provides_equivalence(name), "{name}");
        }
        for name in ["twin", "supervisor", "slot-control", "store", "no-such-protocol", "", "Checksum"] {
            assert!(equivalence(name).is_none() && !provides_equivalence(name), "{name}");
        }
    }
}
