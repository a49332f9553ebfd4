//! Test domain for the boot test `slot_verifier` (docs/slots.md, "Installs"): commits two
//! installs of its own, each timed against the slot's verifier domain: the first with a
//! burst of forged verifier calls from `verifier-forger` under way, the second with the
//! verifier killed while it has the job.
//!
//! It is a control client of the slot's front endpoint (`control = 2`) and signals two
//! notifications: "forge" (`verifier-forger` sends a burst of forged verifier calls) and
//! "chaos" (the test domain `chaos-<slot>.verifier`, program `chaos`, asks the supervisor
//! to kill and restart the verifier). The description puts this domain above both and both
//! above the verifier, so the order is fixed by priority alone: a signalled domain cannot
//! run before this one blocks in its commit, and once the commit made the job and handed
//! its first chunk to the waiting verifier, they run before the verifier does.
//!
//! 1. At the lowest priority (1: it runs only when nothing else wants the CPU) it polls the
//!    slot's status until its update log has an entry (the test's first install, the
//!    host's, is over: the verifier gave its verdict and waits for the next job again).
//! 2. At its own priority it stages [`bundle`] (a trusted signer's key id, both signatures
//!    zero, a one-byte manifest: it passes the manager's cheap checks at the commit, so the
//!    commit becomes a job for the verifier, which must refuse it), signals "forge" and
//!    commits (job 2): the forged calls arrive while the job waits for the verifier.
//! 3. It stages the bundle again, signals "chaos" and "forge" and commits (job 3): the
//!    verifier is killed before it sees the job's first chunk.
//!
//! After each commit it logs the answer, `@event saboteur.commit install=forged
//! answer=refused kind=Bundle` (`install=killed` for the second; the reason on the line
//! before it, `answer=other` or `answer=error` for anything but a refusal), and at the end
//! it stops.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use core::arch::x86_64::_rdtsc;
use tileos_abi::bootinfo::domain;
use tileos_abi::invocation::{CPtr, TcbSetPriority};
use tileos_module_bundle::{ED25519_SIGNATURE_LEN, FORMAT_VERSION, MAGIC, ML_DSA_65_SIGNATURE_LEN};
use tileos_protocol::slots::{MAX_CHUNK, Request, Response, SlotControl};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// The slot's front endpoint (as a control client) and the test domains' notifications.
    struct Resources {
        /// The demo slot's front endpoint, with `control = 2`.
        checksum: ClientEndpoint("checksum"),
        /// Signalled to have the verifier killed.
        chaos: SignalNotification("chaos"),
        /// Signalled to have forged verifier calls sent.
        forge: SignalNotification("forge"),
    }
}

tileos_sys::entry!(main);

/// The priority it waits at: below every domain of the test tile.
const IDLE_PRIORITY: u64 = 1;
/// Milliseconds between two status polls.
const POLL_MS: u64 = 200;

/// Sets this thread's priority (the authority: itself, bounded by its MCP).
fn set_priority(priority: u64) {
    if let Err(error) = tileos_sys::domain::own_tcb().invoke(TcbSetPriority { priority, authority: CPtr(domain::TCB) }) {
        log!("{}: cannot set its priority to {priority}: {error:?}", tileos_sys::domain::name());
    }
}

/// A bundle the manager's commit accepts as a job for the verifier (the layout is right and
/// `key_id` is a trusted signer's) that no verifier could pass: both signatures are zero.
/// One manifest byte, no payload.
fn bundle(key_id: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(key_id);
    out.extend_from_slice(&(ED25519_SIGNATURE_LEN as u16).to_be_bytes());
    out.extend_from_slice(&(ML_DSA_65_SIGNATURE_LEN as u16).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.resize(out.len() + ED25519_SIGNATURE_LEN + ML_DSA_65_SIGNATURE_LEN, 0);
    out.push(0);
    out
}

/// Logs the failure and stops.
fn fail(what: core::fmt::Arguments) -> ! {
    log!("{}: FAIL: {what}", tileos_sys::domain::name());
    log_event!("saboteur.commit", install = "none", answer = "none");
    tileos_sys::domain::stop()
}

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    let own_priority = tileos_sys::domain::info().priority;
    let slot = Client::<SlotControl>::new(resources.checksum);
    let key_id = match tileos_module_bundle::dev_keys::trusted_bundle_keys() {
        Ok(keys) => match keys.first() {
            Some(keys) => keys.key_id(),
            None => fail(format_args!("no trusted bundle keys")),
        },
        Err(error) => fail(format_args!("the trusted bundle keys do not decode: {error:?}")),
    };
    // 1. Wait, below everybody, for the first install's log entry.
    set_priority(IDLE_PRIORITY);
    log!("{name}: waiting for the slot's first update-log entry");
    loop {
        match slot.call(&Request::Status) {
            Ok(Response::Status(status)) if status.log_size >= 1 => break,
            Ok(Response::Status(_)) => {}
            other => fail(format_args!("status answered {other:?}")),
        }
        // SAFETY: rdtsc is allowed in user mode.
        let until = unsafe { _rdtsc() } + POLL_MS * tileos_sys::domain::info().tsc_per_ms;
        // SAFETY: as above.
        while unsafe { _rdtsc() } < until {
            tileos_sys::yield_now();
        }
    }
    // 2. and 3. At its own priority: the two installs.
    set_priority(own_priority);
    let bytes = bundle(&key_id);
    for (install, signals) in [("forged", &[resources.forge][..]), ("killed", &[resources.chaos, resources.forge][..])] {
        stage(&slot, &bytes);
        log!("{name}: staged {} bytes; signalling, then committing (install {install})", bytes.len());
        for signal in signals {
            signal.signal();
        }
        match slot.call(&Request::InstallCommit) {
            Ok(Response::Refused(refused)) => {
                log!("{name}: the commit was refused: {:?}: {}", refused.kind, refused.reason);
                log_event!("saboteur.commit", install = install, answer = "refused", kind = format_args!("{:?}", refused.kind));
            }
            Ok(other) => {
                log!("{name}: the commit was answered {other:?}");
                log_event!("saboteur.commit", install = install, answer = "other");
            }
            Err(error) => {
                log!("{name}: the commit failed: {error:?}");
                log_event!("saboteur.commit", install = install, answer = "error");
            }
        }
    }
    tileos_sys::domain::stop()
}

/// Stages `bytes` (`InstallBegin`, then the chunks in order); any answer but `Staged` with
/// the right count fails the test domain.
fn stage(slot: &Client<SlotControl>, bytes: &[u8]) {
    match slot.call(&Request::InstallBegin { length: bytes.len() as u32 }) {
        Ok(Response::Staged { received: 0 }) => {}
        other => fail(format_args!("InstallBegin answered {other:?}")),
    }
    for (index, piece) in bytes.chunks(MAX_CHUNK).enumerate() {
        let offset = (index * MAX_CHUNK) as u32;
        let request = Request::InstallChunk { offset, bytes: piece.iter().copied().collect() };
        match slot.call(&request) {
            Ok(Response::Staged { received }) if received as usize == offset as usize + piece.len() => {}
            other => fail(format_args!("InstallChunk at {offset} answered {other:?}")),
        }
    }
}
