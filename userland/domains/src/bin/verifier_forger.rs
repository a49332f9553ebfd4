//! Hostile client of a slot's front endpoint (boot test `slot_verifier`, docs/slots.md
//! "Installs"): an ordinary client (its own client badge) that speaks the *verifier's*
//! protocol (`tileos_bundle_verifier`: `READY`, `FETCH`, `VERDICT`) to the slot, as if it
//! were the slot's verifier domain, while an install's job waits for the real verifier.
//!
//! It waits for its "forge" notification; `verifier-saboteur` signals it just before it
//! commits an install, and the description puts this domain above the verifier, so that
//! each burst of forged calls reaches the manager after the commit made the job and before
//! the verifier has run. Burst `n` forges for job `job_id(0, n + 1)` (the job under way:
//! the test's first install, job 1, is the host's) and its neighbours: `READY`s, fetches at
//! offsets in range, past the end and huge (`u64::MAX`, negative numbers as `u64`),
//! verdicts claiming `Verified`, calls with the wrong number of words (none, too many, a
//! length field past the kernel's largest message), and the seat protocol's work labels
//! (`EXPORT`, `IMPORT` with a made-up state), which must not reach a module, and an empty
//! label-0 call, which the seat-faults signal resembles (the manager must answer it
//! `UnknownLabel` without taking it for a fault of the seat its badge's bits name).
//!
//! The manager must take none of it for the verifier's: a client's message is a request to
//! the slot's service, and one that is not a `MESSAGE` is answered `ERROR` `UnknownLabel`
//! by the manager (as a module answers a label it does not know), never a `CHUNK` or a
//! `REFUSED` of the verifier protocol; and a forged verdict must not let the bad bundle in.
//! It logs each case's answer in the first burst and each burst's totals:
//!
//! ```text
//! @event forger.case case=verdict-valid-job label=0x101 word0=1
//! @event forger.burst burst=1 job=0x2 calls=40 errors=40 verifier_answers=0 other=0
//! ```
//!
//! (`errors`: `ERROR` answers; `verifier_answers`: `CHUNK` or `REFUSED` answers, each a
//! forged call taken as the verifier's; `other`: anything else, each also logged as
//! `forger.other`.)
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;
use tileos_bundle_verifier::{CHUNK, CHUNK_BYTES, FETCH, READY, REFUSED, VERDICT, job_id};
use tileos_protocol::module::{EXPORT, IMPORT};
use tileos_sys::log_event;

tileos_sys::resources! {
    /// The slot's front endpoint, as an ordinary client, and the signal to forge.
    struct Resources {
        /// The demo slot's front endpoint (the checksum service).
        checksum: ClientEndpoint("checksum"),
        /// Signalled by `verifier-saboteur` before each of its commits.
        forge: WaitNotification("forge"),
    }
}

tileos_sys::entry!(main);

/// Rounds of all the cases in one burst.
const ROUNDS_PER_BURST: u64 = 2;
/// The `Verdict::Verified` code of a `VERDICT` call.
const VERIFIED: u64 = 0;
/// A length field past the kernel's largest message (120 words; the kernel clamps it).
const PAST_LARGEST: u64 = 127;

/// One forged call: its name in events, label, first four words and length field (words
/// past the fourth, if any, are a pattern in the IPC buffer).
struct Case {
    name: &'static str,
    label: u64,
    words: [u64; 4],
    length: u64,
}

/// The forged calls of one round, for `job` (the job under way).
fn cases(job: u64) -> [Case; 20] {
    let (stale, next) = (job_id(0, 1), job + 1);
    let case = |name, label, words, length| Case { name, label, words, length };
    [
        case("ready", READY, [0, 0, 0, 0], 1),
        case("ready-dropped-job", READY, [0x105, 0, 0, 0], 1),
        case("ready-no-words", READY, [0; 4], 0),
        case("ready-five-words", READY, [0, 1, 2, 3], 5),
        case("fetch-job-start", FETCH, [job, 0, 0, 0], 2),
        case("fetch-job-second-chunk", FETCH, [job, CHUNK_BYTES as u64, 0, 0], 2),
        case("fetch-stale-job", FETCH, [stale, 0, 0, 0], 2),
        case("fetch-job-max-offset", FETCH, [job, u64::MAX, 0, 0], 2),
        case("fetch-job-negative-offset", FETCH, [job, (-928i64) as u64, 0, 0], 2),
        case("fetch-job-min-i64-offset", FETCH, [job, i64::MIN as u64, 0, 0], 2),
        case("fetch-one-word", FETCH, [job, 0, 0, 0], 1),
        case("verdict-valid-job", VERDICT, [job, VERIFIED, 0, 0], 2),
        case("verdict-valid-stale-job", VERDICT, [stale, VERIFIED, 0, 0], 2),
        case("verdict-valid-next-job", VERDICT, [next, VERIFIED, 0, 0], 2),
        case("verdict-unknown-code", VERDICT, [job, 99, 0, 0], 2),
        case("verdict-three-words", VERDICT, [job, VERIFIED, 7, 0], 3),
        case("verdict-past-largest-message", VERDICT, [job, VERIFIED, 0, 0], PAST_LARGEST),
        case("seat-export", EXPORT, [0; 4], 0),
        case("seat-import", IMPORT, [3, 1, 0x2a, 0], 3),
        case("empty-label-0", 0, [0; 4], 0),
    ]
}

/// Sends `case` as a call on `endpoint`: the answer's label and first word.
fn call(endpoint: u64, case: &Case) -> (u64, u64) {
    for index in 4..case.length as usize {
        tileos_sys::set_buffer_word(index, 0xf0f0_0000 + index as u64);
    }
    let reply = tileos_sys::raw_syscall(Syscall::Call, endpoint, MessageInfo::new(case.label, 0, 0, case.length), case.words);
    (reply.info.label(), reply.words[0])
}

fn main(resources: Resources) -> ! {
    let endpoint = resources.checksum.cptr();
    let mut burst = 0u64;
    loop {
        resources.forge.wait();
        burst += 1;
        let job = job_id(0, burst as u32 + 1);
        let cases = cases(job);
        let (mut calls, mut errors, mut verifier_answers, mut other) = (0u64, 0u64, 0u64, 0u64);
        for round in 0..ROUNDS_PER_BURST {
            for case in &cases {
                let (label, word0) = call(endpoint, case);
                calls += 1;
                match label {
                    tileos_protocol::ERROR => errors += 1,
                    CHUNK | REFUSED => verifier_answers += 1,
                    _ => {
                        other += 1;
                        log_event!("forger.other", case = case.name, label = format_args!("{label:#x}"), word0 = word0);
                    }
                }
                if burst == 1 && round == 0 {
                    log_event!("forger.case", case = case.name, label = format_args!("{label:#x}"), word0 = word0);
                }
            }
        }
        log_event!(
            "forger.burst",
            burst = burst,
            job = format_args!("{job:#x}"),
            calls = calls,
            errors = errors,
            verifier_answers = verifier_answers,
            other = other
        );
    }
}
