//! The bundle verifier domain `<slot>.verifier` (docs/slots.md, "Installs"): checks an
//! install's Ed25519 and ML-DSA-65 signatures for its slot manager, at `verifier_priority`
//! (by default the challengers', under its own budget: below every serving path), so that
//! the manager never runs a verification while clients wait.
//!
//! Its one capability is the slot's front endpoint (local name `manager`, badged
//! `tileos_bundle_verifier::VERIFIER_BADGE`). It only calls: `READY` at its start, then each
//! reply of the manager is its next piece of work (a chunk of a job's signature input) and
//! each call back asks for the next chunk or carries the verdict
//! (`tileos_bundle_verifier::Verifier`, host-tested there). When the manager restarts (the
//! call loses its reply capability) it calls `READY` again. The trusted keys are the image's
//! (`tileos_slot_manager::dev_keys`: DEV ONLY, the manager's too).
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use tileos_abi::message::{LABEL_IPC_ABORTED, LABEL_REPLY_LOST, MessageInfo};
use tileos_abi::syscall::Syscall;
use tileos_bundle_verifier::{Call, DropReason, Verifier};
use tileos_protocol::PAYLOAD_WORDS;
use tileos_sys::log;

tileos_sys::resources! {
    /// The verifier's one capability (the image builder grants it when it expands a slot).
    struct Resources {
        /// The slot's front endpoint, badged as the slot's verifier.
        manager: ClientEndpoint("manager"),
    }
}

tileos_sys::entry!(main);

/// Calls the manager with `call`; returns the reply's label and words (`None`: the reply
/// capability was lost, the manager restarted).
fn call(manager: u64, call: Call, words: &mut [u64; PAYLOAD_WORDS + 1]) -> Option<(u64, usize)> {
    let (label, out) = call.encode();
    let mut registers = [0u64; 4];
    for (index, &word) in out.iter().enumerate() {
        match registers.get_mut(index) {
            Some(register) => *register = word,
            None => tileos_sys::set_buffer_word(index, word),
        }
    }
    let reply = tileos_sys::raw_syscall(Syscall::Call, manager, MessageInfo::new(label, 0, 0, out.len() as u64), registers);
    match reply.info.label() {
        LABEL_REPLY_LOST | LABEL_IPC_ABORTED => None,
        label => {
            let length = reply.info.length().min(PAYLOAD_WORDS + 1);
            for (index, word) in words.iter_mut().enumerate().take(length) {
                *word = reply.words.get(index).copied().unwrap_or_else(|| tileos_sys::buffer_word(index));
            }
            Some((label, length))
        }
    }
}

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    let trusted: Vec<tileos_module_bundle::TrustedKeys> = match tileos_slot_manager::dev_keys::trusted_bundle_keys() {
        Ok(keys) => alloc::vec![keys],
        Err(error) => {
            log!("{name}: the trusted bundle keys do not decode ({error}): every verdict will be UnknownSigner");
            Vec::new()
        }
    };
    log!("{name}: ready (generation {})", tileos_sys::domain::info().generation);
    let manager = resources.manager.cptr();
    let mut verifier = Verifier::new();
    let mut next = verifier.first_call();
    let mut words = [0u64; PAYLOAD_WORDS + 1];
    loop {
        if let Call::Ready(reason) = next
            && reason != DropReason::Started
        {
            log!("{name}: {reason}");
        }
        next = match call(manager, next, &mut words) {
            Some((label, length)) => verifier.handle(label, &words[..length], &trusted),
            None => {
                // The manager restarted: whatever job there was is gone with it.
                tileos_sys::yield_now();
                verifier = Verifier::new();
                verifier.first_call()
            }
        };
    }
}
