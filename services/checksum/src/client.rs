//! The demo slot's client logic (`checksum-client`): a deterministic, varied stream of
//! requests (a quarter of those with data start with 0x42, the wrong challenger's trigger)
//! and a reference model that knows every right answer, stream state included, so that the
//! client can count each answer as right, wrong or an error.

use tileos_protocol::checksum::{MAX_DATA, Request, Response, STREAMS};
use tileos_protocol::heapless::Vec;

use crate::{Checksummer, SliceBy8};

/// How one answer was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The right answer.
    Ok,
    /// A wrong answer.
    Wrong {
        /// The right one.
        expected: Response,
    },
    /// No answer (the call failed).
    Error,
}

/// Running counts of verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests sent.
    pub requests: u64,
    /// Right answers.
    pub ok: u64,
    /// Wrong answers.
    pub wrong: u64,
    /// Failed calls.
    pub errors: u64,
}

/// The client: its request generator and its reference model.
pub struct Client {
    random: u64,
    model: Checksummer<SliceBy8>,
    /// Streams whose state the service may have lost track of with the model: reset before
    /// they are used again. After a failed call, every stream: the append may or may not
    /// have been applied, and a failed call is also what a client of a slot gets when the
    /// settled serving module faulted or hung and was started again, with no streams.
    unsure: u32,
    /// The counts so far.
    pub tally: Tally,
}

impl Client {
    /// A client whose requests follow from `seed`.
    pub fn new(seed: u64) -> Client {
        Client { random: seed | 1, model: Checksummer::new(), unsure: 0, tally: Tally::default() }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn data(&mut self) -> Vec<u8, MAX_DATA> {
        let shape = self.next_random();
        // Mostly short inputs, one in eight up to the largest.
        let length = if shape.is_multiple_of(8) { (shape >> 8) as usize % (MAX_DATA + 1) } else { (shape >> 8) as usize % 97 };
        let mut bytes = Vec::new();
        while bytes.len() < length {
            for byte in self.next_random().to_le_bytes() {
                if bytes.len() < length {
                    let _ = bytes.push(byte);
                }
            }
        }
        if let Some(first) = bytes.first_mut().filter(|_| (shape >> 40).is_multiple_of(4)) {
            *first = crate::faults::TRIGGER;
        }
        bytes
    }

    /// The next request to send.
    pub fn next_request(&mut self) -> Request {
        let kind = self.next_random() % 10;
        let stream = (self.next_random() % STREAMS as u64) as u8;
        if self.unsure & (1 << stream) != 0 {
            return Request::Reset { stream };
        }
        match kind {
            0..=3 => Request::Crc32(self.data()),
            4 | 5 => Request::Adler32(self.data()),
            6..=8 => Request::Append { stream, bytes: self.data() },
            _ => Request::Reset { stream },
        }
    }

    /// Judges the answer to `request` (`None`: the call failed) and counts it.
    pub fn check(&mut self, request: &Request, answer: Option<Response>) -> Verdict {
        self.tally.requests += 1;
        let expected = self.model.answer(request);
        let stream = match request {
            Request::Append { stream, .. } | Request::Reset { stream } => Some(u32::from(*stream) % 32),
            _ => None,
        };
        match answer {
            None => {
                self.unsure = u32::MAX;
                self.tally.errors += 1;
                Verdict::Error
            }
            Some(answer) if answer == expected => {
                if let (Some(stream), Request::Reset { .. }) = (stream, request) {
                    self.unsure &= !(1 << stream);
                }
                self.tally.ok += 1;
                Verdict::Ok
            }
            Some(_) => {
                self.tally.wrong += 1;
                Verdict::Wrong { expected }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{WrongOn42, triggers};
    use crate::lineage_b::LineageB;
    use tileos_protocol::module::SlotModule;

    #[test]
    fn a_right_service_is_always_ok_and_the_wrong_one_is_caught() {
        let mut client = Client::new(7);
        let mut service = LineageB::new();
        let mut triggered = 0;
        for _ in 0..2000 {
            let request = client.next_request();
            triggered += u32::from(triggers(&request));
            let answer = service.serve(request.clone()).ok();
            assert_eq!(client.check(&request, answer), Verdict::Ok);
        }
        assert!(triggered > 200, "the trigger is common: {triggered}");
        assert_eq!(client.tally, Tally { requests: 2000, ok: 2000, wrong: 0, errors: 0 });

        let mut client = Client::new(7);
        let mut wrong = WrongOn42(LineageB::new());
        for _ in 0..2000 {
            let request = client.next_request();
            let answer = wrong.serve(request.clone()).ok();
            client.check(&request, answer);
        }
        assert!(client.tally.wrong > 100);
    }

    #[test]
    fn a_failed_append_resets_its_stream_before_reuse() {
        let mut client = Client::new(3);
        let request = Request::Append { stream: 4, bytes: Vec::from_slice(b"lost").unwrap() };
        assert_eq!(client.check(&request, None), Verdict::Error);
        // The service may or may not have appended: the next use of stream 4 is a reset.
        for _ in 0..200 {
            match client.next_request() {
                Request::Append { stream: 4, .. } => panic!("stream 4 used before its reset"),
                reset @ Request::Reset { stream: 4 } => {
                    assert_eq!(client.check(&reset, Some(Response::Stream(Default::default()))), Verdict::Ok);
                    return;
                }
                _ => {}
            }
        }
        panic!("stream 4 never reset");
    }

    /// A failed call of any kind, then a service started again with no streams (a slot's
    /// settled serving module restarted after a fault or a hang): every stream is reset
    /// before its next use, so no answer of the fresh service is judged wrong.
    #[test]
    fn after_a_failed_call_every_stream_is_reset_before_reuse_and_a_restarted_service_is_right() {
        let mut client = Client::new(11);
        let mut service = LineageB::new();
        for _ in 0..500 {
            let request = client.next_request();
            let answer = service.serve(request.clone()).ok();
            assert_eq!(client.check(&request, answer), Verdict::Ok);
        }
        let request = Request::Crc32(Vec::from_slice(b"held").unwrap());
        assert_eq!(client.check(&request, None), Verdict::Error);
        let mut restarted = LineageB::new();
        for _ in 0..2000 {
            let request = client.next_request();
            let answer = restarted.serve(request.clone()).ok();
            assert_eq!(client.check(&request, answer), Verdict::Ok, "{request:?}");
        }
        assert_eq!(client.tally, Tally { requests: 2501, ok: 2500, wrong: 0, errors: 1 });
    }
}
