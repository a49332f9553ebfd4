//! The misbehaving challengers of the demo slot, as wrappers around a correct module, so
//! that their misbehaviour is exactly what it claims to be (host-tested here; the programs
//! in `userland/services/checksum` run them).

use tileos_protocol::checksum::{Checksum, Request, Response};
use tileos_protocol::module::{ImportRefusal, SlotModule, StateBlob};
use tileos_protocol::{PAYLOAD_WORDS, ProtocolError};

/// The first byte that makes [`WrongOn42`] answer wrongly.
pub const TRIGGER: u8 = 0x42;

/// Whether `request` carries data whose first byte is [`TRIGGER`].
pub fn triggers(request: &Request) -> bool {
    match request {
        Request::Crc32(bytes) | Request::Adler32(bytes) | Request::Append { bytes, .. } => bytes.first() == Some(&TRIGGER),
        Request::Reset { .. } => false,
    }
}

/// Answers like `M`, except for requests whose data starts with [`TRIGGER`]: their checksum
/// (or the stream's CRC in the answer; the stream itself stays right) has its lowest bit
/// flipped.
pub struct WrongOn42<M>(pub M);

/// `module`'s answer to `request`, with its checksum's (or the stream's CRC's) lowest bit
/// flipped if `wrong` (the stream itself stays right).
fn serve_wrongly_if<M: SlotModule<Protocol = Checksum>>(module: &mut M, request: Request, wrong: bool) -> Result<Response, ProtocolError> {
    Ok(match module.serve(request)? {
        Response::Checksum(value) if wrong => Response::Checksum(value ^ 1),
        Response::Stream(mut state) if wrong => {
            state.crc ^= 1;
            Response::Stream(state)
        }
        other => other,
    })
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for WrongOn42<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        let wrong = triggers(&request);
        serve_wrongly_if(&mut self.0, request, wrong)
    }

    fn export(&self) -> StateBlob {
        self.0.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.0.import(state)
    }
}

/// Whether `request` carries data whose first byte is [`TRIGGER`] or odd: about 5 in 8 of
/// the demo client's requests with data (a quarter start with the trigger, the rest with a
/// random byte).
pub fn triggers_often(request: &Request) -> bool {
    match request {
        Request::Crc32(bytes) | Request::Adler32(bytes) | Request::Append { bytes, .. } => {
            bytes.first().is_some_and(|&first| first == TRIGGER || first % 2 == 1)
        }
        Request::Reset { .. } => false,
    }
}

/// Answers like [`WrongOn42`], but wrongly for the requests [`triggers_often`] picks: a
/// fraction of the client's load well above `checksum-noisy`'s noise (`checksum-noisy-wrong`).
pub struct WrongOften<M>(pub M);

impl<M: SlotModule<Protocol = Checksum>> SlotModule for WrongOften<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        let wrong = triggers_often(&request);
        serve_wrongly_if(&mut self.0, request, wrong)
    }

    fn export(&self) -> StateBlob {
        self.0.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.0.import(state)
    }
}

/// Serves like `M` and calls `fault` (which must not return: the program faults) when the
/// `after + 1`st request arrives, so exactly `after` requests are answered.
pub struct FaultAfter<M> {
    /// The module.
    pub module: M,
    /// Requests answered before the fault.
    pub after: u64,
    /// Requests served so far.
    pub served: u64,
    /// Raises the fault.
    pub fault: fn() -> !,
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for FaultAfter<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        if self.served == self.after {
            (self.fault)()
        }
        self.served += 1;
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        self.module.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.module.import(state)
    }
}

/// Serves like `M` and calls `hook` at its `at`th export (counted from 1), before exporting:
/// a test incumbent signals a fault-injection domain there (`checksum-export-hook`: at a
/// promotion's state transfer, so that the slot manager can be killed in the middle of it)
/// or holds the processor there (`checksum-export-slow`: a transfer over its limit).
pub struct HookOnExport<M> {
    /// The module.
    pub module: M,
    /// The export whose start calls the hook (1: the first).
    pub at: u32,
    /// Exports so far.
    pub exports: core::cell::Cell<u32>,
    /// Called with the export's number, once.
    pub hook: fn(u32),
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for HookOnExport<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        let n = self.exports.get().saturating_add(1);
        self.exports.set(n);
        if n == self.at {
            (self.hook)(n)
        }
        self.module.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.module.import(state)
    }
}

/// Serves like `M`; once it has exported `warm_after` times (for a test incumbent, the
/// promotion's state transfer: it is the warm module from then on) and until its first
/// import, it calls `hold` before each request it serves (a test incumbent holds its copies
/// there, so that it falls behind: `checksum-import-hook`); at the start of its first
/// import it calls `hook`, before importing (there it signals a fault-injection domain, at a
/// rollback's catch-up, so that the slot manager can be killed in the middle of it).
pub struct HookOnImport<M> {
    /// The module.
    pub module: M,
    /// The exports after which requests are held (until the first import).
    pub warm_after: u32,
    /// Exports so far.
    pub exports: core::cell::Cell<u32>,
    /// Imports so far.
    pub imports: u32,
    /// Called before each request served while warm and not yet imported.
    pub hold: fn(),
    /// Called with the import's number (1), once.
    pub hook: fn(u32),
}

impl<M> HookOnImport<M> {
    /// `module` with no export or import yet: held by `hold` once `warm_after` exports were
    /// made and no import came, `hook` called at the first import.
    pub fn new(module: M, warm_after: u32, hold: fn(), hook: fn(u32)) -> HookOnImport<M> {
        HookOnImport { module, warm_after, exports: Default::default(), imports: 0, hold, hook }
    }
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for HookOnImport<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        if self.exports.get() >= self.warm_after && self.imports == 0 {
            (self.hold)()
        }
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        self.exports.set(self.exports.get().saturating_add(1));
        self.module.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.imports = self.imports.saturating_add(1);
        if self.imports == 1 {
            (self.hook)(1)
        }
        self.module.import(state)
    }
}

/// A challenger that spoils the export a restarted slot manager's adoption asks of it
/// (boot test `slot_adoption_failed`, docs/slots.md): it serves like `M`; from its
/// `promoted_at`th import (the promotion's state transfer, the second import of a
/// challenger: the first is its start's) it counts the requests it serves, and at the
/// `signal_after`th it calls `signal` (there it signals the fault-injection domain, which
/// has the slot manager killed at once, while this module serves), once. Every export
/// after that (the restarted manager's adoption of its state) goes through `on_export`,
/// which faults, hangs or changes the state (`checksum-adopt-fault`, `-hang`, `-unknown`).
pub struct SpoilAdoption<M> {
    /// The module.
    pub module: M,
    /// The import after which requests are counted (2: the promotion's).
    pub promoted_at: u32,
    /// Imports so far.
    pub imports: u32,
    /// Requests served since the `promoted_at`th import.
    pub served: u64,
    /// The request, counted from the promotion, at which `signal` is called.
    pub signal_after: u64,
    /// Called once, at the `signal_after`th request served since the promotion.
    pub signal: fn(),
    /// Given each export's state once `signal` was called; returns the state exported.
    pub on_export: fn(StateBlob) -> StateBlob,
}

impl<M> SpoilAdoption<M> {
    /// Whether `signal` was called (then exports are spoiled).
    pub fn signalled(&self) -> bool {
        self.imports >= self.promoted_at && self.served >= self.signal_after
    }
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for SpoilAdoption<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        if self.imports >= self.promoted_at && self.served < self.signal_after {
            self.served += 1;
            if self.served == self.signal_after {
                (self.signal)()
            }
        }
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        let state = self.module.export();
        if self.signalled() { (self.on_export)(state) } else { state }
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.imports = self.imports.saturating_add(1);
        self.module.import(state)
    }
}

/// Serves like `M`; once promoted (its `promoted_at`th import; the first is its start's) it
/// calls `signal` once, at the first request it serves `signal_after` units of `now` after
/// that import (there the fault-injection domain has the slot manager killed at once; with
/// the slot's rollback window shorter than `signal_after`, after the module settled), then
/// calls `fault` at the `fault_after`th request it serves after the signal (a fault: the
/// restarted manager's kept module lost). `checksum-settle-signal`, boot test
/// `slot_manager_restart_settled`.
pub struct SignalWhenSettled<M> {
    /// The module.
    pub module: M,
    /// The import that promoted it (2: the promotion's).
    pub promoted_at: u32,
    /// Imports so far.
    pub imports: u32,
    /// The clock (the time-stamp counter on a tile).
    pub now: fn() -> u64,
    /// `now` at the promotion's import.
    pub promoted_since: Option<u64>,
    /// How long after the promotion's import the signal comes, in units of `now`.
    pub signal_after: u64,
    /// Requests served since the signal (`None`: not signalled yet).
    pub since_signal: Option<u64>,
    /// The request, counted from the signal, at which `fault` is called.
    pub fault_after: u64,
    /// Called once, `signal_after` after the promotion.
    pub signal: fn(),
    /// Called at the `fault_after`th request after the signal, before it is served.
    pub fault: fn(),
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for SignalWhenSettled<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        match (self.promoted_since, self.since_signal.as_mut()) {
            (Some(since), None) if (self.now)().saturating_sub(since) >= self.signal_after => {
                self.since_signal = Some(0);
                (self.signal)();
            }
            (_, Some(served)) => {
                *served += 1;
                if *served == self.fault_after {
                    (self.fault)();
                }
            }
            _ => {}
        }
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        self.module.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.imports = self.imports.saturating_add(1);
        if self.imports == self.promoted_at {
            self.promoted_since = Some((self.now)());
        }
        self.module.import(state)
    }
}

/// Serves like `M`, but first does the work of `extra` more answers of `M` to the same
/// request (on a scratch copy of the stream state, through `core::hint::black_box` so the
/// compiler keeps it): with `extra = 9` each answer costs about ten times `M`'s.
pub struct Slow<M> {
    /// The module.
    pub module: M,
    /// Extra answers computed and thrown away per request.
    pub extra: u32,
    /// A scratch module the extra work runs on (its state is thrown away).
    pub scratch: M,
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for Slow<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        for _ in 0..self.extra {
            let _ = core::hint::black_box(self.scratch.serve(core::hint::black_box(request.clone())));
        }
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        self.module.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.module.import(state)
    }
}

/// The byte [`Padded`] fills the padding of an answer's last word with.
pub const PADDING_JUNK: u8 = 0xa5;
/// The extra word [`Padded`] sends after an answer.
pub const EXTRA_WORD: u64 = 0x0bad_0bad_0bad_0bad;

/// Answers exactly like `M` to every client, but not byte for byte: each served answer goes
/// out with [`PADDING_JUNK`] in the bytes of its last word past the payload's length (where
/// the encoder leaves zeros) and one extra word, [`EXTRA_WORD`], after it (when the message
/// has room). No client reads either (`tileos_protocol::decode`), so under a slot's
/// `Equivalent` comparator it agrees with `M` and under `Exact` it disagrees on every
/// answer (`checksum-padded`). Errors, the state and import outcomes go out as encoded.
pub struct Padded<M>(pub M);

impl<M: SlotModule<Protocol = Checksum>> SlotModule for Padded<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        self.0.serve(request)
    }

    fn export(&self) -> StateBlob {
        self.0.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.0.import(state)
    }

    fn answer_words(&mut self, words: &mut [u64; PAYLOAD_WORDS + 1], length: usize) -> usize {
        let payload = usize::try_from(words[0]).unwrap_or(usize::MAX);
        let used = payload % 8;
        if used != 0 && payload.div_ceil(8) < length {
            words[payload.div_ceil(8)] |= u64::from_le_bytes([PADDING_JUNK; 8]) << (8 * used);
        }
        extra_word(words, length, EXTRA_WORD)
    }
}

/// Puts `extra` after an answer of `length` words when the message has room: the new length.
fn extra_word(words: &mut [u64; PAYLOAD_WORDS + 1], length: usize, extra: u64) -> usize {
    match words.get_mut(length) {
        Some(word) => {
            *word = extra;
            length + 1
        }
        None => length,
    }
}

/// The extra word [`Noisy`] sends after a noisy answer.
pub const NOISE_WORD: u64 = 0x0000_0015_e000_0015;

/// Answers exactly like `M` to every client, but a served answer for which `noisy()` says
/// so goes out with one extra word, [`NOISE_WORD`], after it (when the message has room),
/// which no client reads (`tileos_protocol::decode`). On a tile `noisy` reads the
/// time-stamp counter (`checksum-noisy`, about 1 answer in 8), so two replicas of it run
/// side by side differ byte for byte on a share of requests that does not depend on the
/// request: the noise a slot comparing `noise-cancelled` measures and subtracts (boot test
/// `slot_noise`). Errors, the state and import outcomes go out as encoded.
pub struct Noisy<M> {
    /// The module.
    pub module: M,
    /// Whether the answer being sent gets the extra word.
    pub noisy: fn() -> bool,
}

impl<M: SlotModule<Protocol = Checksum>> SlotModule for Noisy<M> {
    type Protocol = Checksum;

    fn serve(&mut self, request: Request) -> Result<Response, ProtocolError> {
        self.module.serve(request)
    }

    fn export(&self) -> StateBlob {
        self.module.export()
    }

    fn import(&mut self, state: &StateBlob) -> Result<(), ImportRefusal> {
        self.module.import(state)
    }

    fn answer_words(&mut self, words: &mut [u64; PAYLOAD_WORDS + 1], length: usize) -> usize {
        if (self.noisy)() { extra_word(words, length, NOISE_WORD) } else { length }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{Bitwise, Checksummer};
    use tileos_protocol::heapless::Vec;

    fn bytes(data: &[u8]) -> Vec<u8, { tileos_protocol::checksum::MAX_DATA }> {
        Vec::from_slice(data).unwrap()
    }

    #[test]
    fn wrong_exactly_on_the_trigger() {
        let mut right = Checksummer::<Bitwise>::new();
        let mut wrong = WrongOn42(Checksummer::<Bitwise>::new());
        let requests = [
            Request::Crc32(bytes(b"\x42abc")),
            Request::Crc32(bytes(b"abc\x42")),
            Request::Crc32(bytes(b"")),
            Request::Adler32(bytes(b"\x42")),
            Request::Append { stream: 1, bytes: bytes(b"\x42\x42") },
            Request::Append { stream: 1, bytes: bytes(b"x") },
            Request::Reset { stream: 1 },
        ];
        for request in requests {
            let expected = right.serve(request.clone()).unwrap();
            let answer = wrong.serve(request.clone()).unwrap();
            assert_eq!(answer != expected, triggers(&request), "{request:?}");
        }
        assert_eq!(right.export(), wrong.export(), "the state itself stays right");
    }

    #[test]
    fn wrong_often_exactly_on_the_trigger_and_odd_first_bytes() {
        let mut right = Checksummer::<Bitwise>::new();
        let mut wrong = WrongOften(Checksummer::<Bitwise>::new());
        let requests = [
            (Request::Crc32(bytes(b"\x42abc")), true),
            (Request::Crc32(bytes(b"\x43")), true),
            (Request::Crc32(bytes(b"\x44\x43")), false),
            (Request::Crc32(bytes(b"")), false),
            (Request::Adler32(bytes(b"\x01")), true),
            (Request::Append { stream: 1, bytes: bytes(b"\x42\x42") }, true),
            (Request::Append { stream: 1, bytes: bytes(b"x") }, false),
            (Request::Append { stream: 1, bytes: bytes(b"y") }, true),
            (Request::Reset { stream: 1 }, false),
        ];
        for (request, expected_wrong) in requests {
            assert_eq!(triggers_often(&request), expected_wrong, "{request:?}");
            let expected = right.serve(request.clone()).unwrap();
            let answer = wrong.serve(request.clone()).unwrap();
            assert_eq!(answer != expected, expected_wrong, "{request:?}");
        }
        assert_eq!(right.export(), wrong.export(), "the state itself stays right");
    }

    fn no_fault() -> ! {
        panic!("fault raised")
    }

    #[test]
    fn the_fault_comes_at_request_after_plus_one() {
        let mut module = FaultAfter { module: Checksummer::<Bitwise>::new(), after: 50, served: 0, fault: no_fault };
        for _ in 0..50 {
            assert!(module.serve(Request::Reset { stream: 0 }).is_ok());
        }
        let fault = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| module.serve(Request::Reset { stream: 0 })));
        assert!(fault.is_err());
    }

    std::thread_local! {
        static HOOKED: core::cell::RefCell<std::vec::Vec<u32>> = const { core::cell::RefCell::new(std::vec::Vec::new()) };
    }

    fn record(n: u32) {
        HOOKED.with(|h| h.borrow_mut().push(n));
    }

    #[test]
    fn the_export_hook_runs_once_at_its_export_and_changes_nothing() {
        let mut hooked = HookOnExport { module: Checksummer::<Bitwise>::new(), at: 2, exports: Default::default(), hook: record };
        let mut right = Checksummer::<Bitwise>::new();
        let request = Request::Append { stream: 3, bytes: bytes(b"abc") };
        assert_eq!(hooked.serve(request.clone()), right.serve(request));
        for n in 1..=4 {
            assert_eq!(hooked.export(), right.export(), "export {n}");
            let seen = HOOKED.with(|h| h.borrow().clone());
            assert_eq!(seen, if n < 2 { std::vec![] } else { std::vec![2] }, "after export {n}");
        }
        let mut other = Checksummer::<Bitwise>::new();
        other.import(&hooked.export()).unwrap();
        assert_eq!(other.export(), right.export());
    }

    std::thread_local! {
        static HELD: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
        static IMPORT_HOOKED: core::cell::RefCell<std::vec::Vec<u32>> = const { core::cell::RefCell::new(std::vec::Vec::new()) };
    }

    fn count_hold() {
        HELD.with(|h| h.set(h.get() + 1));
    }

    fn record_import(n: u32) {
        IMPORT_HOOKED.with(|h| h.borrow_mut().push(n));
    }

    #[test]
    fn the_import_hook_holds_only_while_warm_runs_once_at_the_first_import_and_changes_nothing() {
        let mut hooked = HookOnImport::new(Checksummer::<Bitwise>::new(), 2, count_hold, record_import);
        let mut right = Checksummer::<Bitwise>::new();
        let request = |n: u8| Request::Append { stream: 3, bytes: bytes(&[n, b'x']) };
        let held = || HELD.with(|h| h.get());
        let hooked_at = || IMPORT_HOOKED.with(|h| h.borrow().clone());
        // Not warm yet: before and after the first export, nothing is held.
        assert_eq!(hooked.serve(request(1)), right.serve(request(1)));
        assert_eq!(hooked.export(), right.export());
        assert_eq!(hooked.serve(request(2)), right.serve(request(2)));
        assert_eq!(held(), 0);
        // Warm after the second export: every request held, answers unchanged.
        assert_eq!(hooked.export(), right.export());
        for n in 3..6 {
            assert_eq!(hooked.serve(request(n)), right.serve(request(n)));
        }
        assert_eq!((held(), hooked_at()), (3, std::vec![]));
        // The first import calls the hook, then imports; later ones do not; holding stops.
        let mut source = Checksummer::<Bitwise>::new();
        source.serve(request(9)).unwrap();
        hooked.import(&source.export()).unwrap();
        assert_eq!(hooked_at(), std::vec![1]);
        assert_eq!(hooked.export(), source.export(), "the import applied");
        hooked.import(&right.export()).unwrap();
        assert_eq!(hooked.serve(request(7)), right.serve(request(7)));
        assert_eq!((held(), hooked_at()), (3, std::vec![1]));
    }

    std::thread_local! {
        static SIGNALS: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
    }

    fn count_signal() {
        SIGNALS.with(|s| s.set(s.get() + 1));
    }

    /// Marks the state as spoiled: an unknown version.
    fn spoil(mut state: StateBlob) -> StateBlob {
        state.version = u32::MAX;
        state
    }

    std::thread_local!(static CLOCK: core::cell::Cell<u64> = const { core::cell::Cell::new(0) });
    std::thread_local!(static FAULTS: core::cell::Cell<u32> = const { core::cell::Cell::new(0) });
    fn clock() -> u64 {
        CLOCK.with(|c| c.get())
    }
    fn count_fault() {
        FAULTS.with(|f| f.set(f.get() + 1));
    }

    #[test]
    fn the_settle_signaller_signals_once_after_its_promotion_then_faults_once() {
        let mut module = SignalWhenSettled {
            module: Checksummer::<Bitwise>::new(),
            promoted_at: 2,
            imports: 0,
            now: clock,
            promoted_since: None,
            signal_after: 100,
            since_signal: None,
            fault_after: 3,
            signal: count_signal,
            fault: count_fault,
        };
        let mut right = Checksummer::<Bitwise>::new();
        let request = |n: u8| Request::Append { stream: 1, bytes: bytes(&[n]) };
        let (signals, faults) = (|| SIGNALS.with(|s| s.get()), || FAULTS.with(|f| f.get()));
        let before = signals();
        // Shadowing (its start's import): no signal, however long.
        module.import(&right.export()).unwrap();
        CLOCK.with(|c| c.set(1_000));
        assert_eq!(module.serve(request(1)), right.serve(request(1)));
        assert_eq!((signals(), faults()), (before, 0));
        // Promoted at 1,000: nothing until 1,100, then one signal.
        module.import(&right.export()).unwrap();
        CLOCK.with(|c| c.set(1_099));
        assert_eq!(module.serve(request(2)), right.serve(request(2)));
        assert_eq!(signals(), before);
        CLOCK.with(|c| c.set(1_100));
        assert_eq!(module.serve(request(3)), right.serve(request(3)));
        assert_eq!(signals(), before + 1);
        // The third request after the signal faults first (the fault does not return on a
        // tile; here it is counted), once; the answers stay right.
        for n in 4..10 {
            assert_eq!(module.serve(request(n)), right.serve(request(n)));
        }
        assert_eq!((signals(), faults()), (before + 1, 1));
        assert_eq!(module.export(), right.export());
    }

    #[test]
    fn the_adoption_spoiler_signals_once_after_its_promotion_and_spoils_only_later_exports() {
        let mut module = SpoilAdoption {
            module: Checksummer::<Bitwise>::new(),
            promoted_at: 2,
            imports: 0,
            served: 0,
            signal_after: 3,
            signal: count_signal,
            on_export: spoil,
        };
        let mut right = Checksummer::<Bitwise>::new();
        let request = |n: u8| Request::Append { stream: 1, bytes: bytes(&[n]) };
        let signals = || SIGNALS.with(|s| s.get());
        // Shadowing (one import, its start's): requests are not counted, exports right.
        module.import(&right.export()).unwrap();
        for n in 0..5 {
            assert_eq!(module.serve(request(n)), right.serve(request(n)));
        }
        assert_eq!((module.export(), signals()), (right.export(), 0));
        // Promoted (the second import): the third request served signals, once.
        module.import(&right.export()).unwrap();
        for n in 5..7 {
            assert_eq!(module.serve(request(n)), right.serve(request(n)));
        }
        assert_eq!((module.export(), signals()), (right.export(), 0), "before the signal the export is right");
        assert_eq!(module.serve(request(7)), right.serve(request(7)));
        assert_eq!(signals(), 1);
        for n in 8..10 {
            assert_eq!(module.serve(request(n)), right.serve(request(n)));
        }
        assert_eq!(signals(), 1, "one signal");
        // From then on each export is spoiled; the answers stay right.
        let spoiled = module.export();
        assert_eq!(spoiled.version, u32::MAX);
        assert_eq!(spoiled.bytes, right.export().bytes);
        assert!(Checksummer::<Bitwise>::new().import(&spoiled).is_err(), "an incumbent refuses it");
    }

    #[test]
    fn padded_answers_differ_byte_for_byte_but_are_the_same_answer() {
        use tileos_protocol::module::step;
        use tileos_protocol::{ERROR, MESSAGE, decode, encode, equivalence::equivalence};
        let same = equivalence("checksum").expect("the checksum protocol provides an equivalence");
        let mut right = Checksummer::<Bitwise>::new();
        let mut padded = Padded(Checksummer::<Bitwise>::new());
        let requests = [
            Request::Crc32(bytes(b"123456789")),
            Request::Crc32(bytes(b"")),
            Request::Adler32(bytes(b"\x42abc")),
            Request::Append { stream: 2, bytes: bytes(b"abc") },
            Request::Append { stream: 2, bytes: bytes(&[7; 700]) },
            Request::Reset { stream: 2 },
            Request::Reset { stream: 99 },
        ];
        let (mut a, mut b) = ([0; PAYLOAD_WORDS + 1], [0; PAYLOAD_WORDS + 1]);
        let mut junked = 0;
        for request in requests {
            let mut message = [0; PAYLOAD_WORDS + 1];
            let length = encode(&request, &mut message).unwrap();
            let (a_label, a_length) = step(&mut right, MESSAGE, &message[..length], &mut a);
            let (b_label, b_length) = step(&mut padded, MESSAGE, &message[..length], &mut b);
            let (a, b) = (&a[..a_length], &b[..b_length]);
            assert_eq!((a_label, b_label), (MESSAGE, MESSAGE), "{request:?}");
            // One extra word, and junk in the last payload word's padding.
            assert_eq!((b_length, b[a_length]), (a_length + 1, EXTRA_WORD), "{request:?}");
            // (A payload of a multiple of eight bytes leaves no padding: a stream of 700.)
            let used = a[0] as usize % 8;
            if used != 0 {
                junked += 1;
                assert_ne!(a[a_length - 1], b[a_length - 1], "{request:?}");
                assert_eq!(b[a_length - 1].to_le_bytes()[used..], [PADDING_JUNK; 8][used..], "{request:?}");
            }
            // The length and the payload's own bytes are untouched.
            let kept = if used == 0 { 8 } else { used };
            assert_eq!(a[..a_length - 1], b[..a_length - 1], "{request:?}");
            assert_eq!(a[a_length - 1].to_le_bytes()[..kept], b[a_length - 1].to_le_bytes()[..kept], "{request:?}");
            // The same answer to a client and to the protocol's equivalence.
            assert_eq!(decode::<Response>(MESSAGE, a), decode::<Response>(MESSAGE, b), "{request:?}");
            assert!(decode::<Response>(MESSAGE, b).is_ok());
            assert!(same(MESSAGE, a, MESSAGE, b) && same(MESSAGE, b, MESSAGE, a), "{request:?}");
        }
        assert_eq!(junked, 6, "every answer but the 700-byte stream's has padding junk");
        // A request that does not decode: the same error reply, byte for byte.
        let (a_reply, b_reply) = (step(&mut right, MESSAGE, &[100, 0], &mut a), step(&mut padded, MESSAGE, &[100, 0], &mut b));
        assert_eq!((a_reply, a[0]), (b_reply, b[0]));
        assert_eq!(a_reply.0, ERROR);
        assert_eq!(right.export(), padded.export(), "the state stays right");
    }

    std::thread_local! {
        static NOISY_CALLS: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
    }

    /// Noisy on every third answer.
    fn every_third() -> bool {
        NOISY_CALLS.with(|n| {
            n.set(n.get() + 1);
            n.get() % 3 == 0
        })
    }

    #[test]
    fn noisy_answers_differ_byte_for_byte_only_when_noisy_and_are_the_same_answer() {
        use tileos_protocol::module::step;
        use tileos_protocol::{MESSAGE, decode, encode};
        let mut right = Checksummer::<Bitwise>::new();
        let mut noisy = Noisy { module: WrongOn42(Checksummer::<Bitwise>::new()), noisy: every_third };
        let mut wrong = WrongOn42(Checksummer::<Bitwise>::new());
        let (mut a, mut b, mut w) = ([0; PAYLOAD_WORDS + 1], [0; PAYLOAD_WORDS + 1], [0; PAYLOAD_WORDS + 1]);
        let mut differing = 0;
        for n in 0..12u8 {
            let request =
                if n % 2 == 0 { Request::Crc32(bytes(&[n, 1, 2])) } else { Request::Append { stream: 1, bytes: bytes(&[0x42, n]) } };
            let mut message = [0; PAYLOAD_WORDS + 1];
            let length = encode(&request, &mut message).unwrap();
            let (a_label, a_length) = step(&mut wrong, MESSAGE, &message[..length], &mut a);
            let (b_label, b_length) = step(&mut noisy, MESSAGE, &message[..length], &mut b);
            let _ = step(&mut right, MESSAGE, &message[..length], &mut w);
            let (a, b) = (&a[..a_length], &b[..b_length]);
            assert_eq!(a_label, b_label, "{request:?}");
            // Every third answer has the extra word after it; the rest are byte for byte.
            if n % 3 == 2 {
                differing += 1;
                assert_eq!((b_length, &b[..a_length], b[a_length]), (a_length + 1, a, NOISE_WORD), "{request:?}");
            } else {
                assert_eq!(a, b, "{request:?}");
            }
            // The same answer to a client as the module it wraps (here a wrong one).
            assert_eq!(decode::<Response>(MESSAGE, a), decode::<Response>(MESSAGE, b), "{request:?}");
        }
        assert_eq!(differing, 4);
        assert_eq!(right.export(), noisy.export(), "the state stays right");
    }

    #[test]
    fn slow_answers_right() {
        let mut slow = Slow { module: Checksummer::<Bitwise>::new(), extra: 9, scratch: Checksummer::<Bitwise>::new() };
        let mut right = Checksummer::<Bitwise>::new();
        for request in [Request::Crc32(bytes(b"123456789")), Request::Append { stream: 0, bytes: bytes(b"12") }] {
            assert_eq!(slow.serve(request.clone()), right.serve(request));
        }
        assert_eq!(slow.export(), right.export());
    }
}
