//! `checksum-seat-harness`: a test stand-in for the slot manager with one seat, to check a
//! module program's side of the seat interface (`tileos_sys::module::run`) on the real
//! kernel before the slot manager exists. It serves the endpoint the module calls as
//! `slot` (badge [`MODULE_BADGE`]) and the client calls as `checksum` (badge
//! [`CLIENT_BADGE`]). First it drives the module through the interface once:
//!
//! READY → EXPORT → STATE (version 1 expected) → IMPORT of that blob → IMPORTED 0 →
//! IMPORT of a version-99 blob → IMPORTED 1 (unknown version) → a malformed request →
//! ERROR 3 (malformed),
//!
//! logs `@event seat-harness.checked …` with what it saw, then forwards every client
//! request to the module verbatim and the module's answer back verbatim (replies saved with
//! `CNodeSaveCaller`), logging `@event seat-harness.forwarded n=…` every 100 answers.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::invocation::{CNodeSaveCaller, Slot};
use tileos_protocol::module::{EXPORT, IMPORT, IMPORTED, READY, STATE, StateBlob};
use tileos_protocol::{ERROR, MESSAGE, PAYLOAD_WORDS, decode, encode};
use tileos_sys::cap::CNode;
use tileos_sys::{Message, buffer_word, log_event};

/// Badge of the module's capability.
const MODULE_BADGE: u64 = 0x10;
/// Badge of the client's capability.
const CLIENT_BADGE: u64 = 0x20;
/// Free slots of this domain's CNode for the saved replies (it holds a handful of
/// capabilities from slot 4 on).
const MODULE_REPLY: u64 = 200;
const CLIENT_REPLY: u64 = 201;

tileos_sys::resources! {
    /// What the harness needs.
    struct Resources {
        /// The endpoint standing in for a slot's front endpoint.
        front: ServedEndpoint("checksum-front"),
    }
}

tileos_sys::entry!(main);

/// Where the harness is in its check of the module.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ready,
    Exported,
    ImportedBack,
    ImportedBad,
    Malformed,
    Serving,
}

/// A received message's words (registers, then the IPC buffer).
fn words(message: &Message) -> ([u64; PAYLOAD_WORDS + 1], usize) {
    let length = message.info.length().min(PAYLOAD_WORDS + 1);
    let mut words = [0; PAYLOAD_WORDS + 1];
    for (index, word) in words.iter_mut().enumerate().take(length) {
        *word = if index < 4 { message.words[index] } else { buffer_word(index) };
    }
    (words, length)
}

fn save_caller(slot: u64) {
    if let Err(error) = CNode::ROOT.invoke(CNodeSaveCaller { dest: Slot::at(slot) }) {
        tileos_sys::log!("seat-harness: cannot save a caller in slot {slot}: {error:?}");
    }
}

fn main(resources: Resources) -> ! {
    let front = resources.front;
    let mut phase = Phase::Ready;
    let mut module_idle = false;
    let mut pending: Option<(u64, [u64; PAYLOAD_WORDS + 1], usize)> = None;
    let mut forwarded = 0u64;
    let mut export_version = 0u32;
    let mut imported_back = u64::MAX;
    let mut imported_bad = u64::MAX;
    let mut message = front.recv();
    loop {
        let (received, length) = words(&message);
        let label = message.info.label();
        message = match (message.badge, phase) {
            (MODULE_BADGE, Phase::Ready) if label == READY => {
                phase = Phase::Exported;
                front.reply_recv(EXPORT, &[])
            }
            (MODULE_BADGE, Phase::Exported) if label == STATE => {
                let blob = decode::<StateBlob>(MESSAGE, &received[..length]);
                export_version = blob.as_ref().map_or(0, |blob| blob.version);
                phase = Phase::ImportedBack;
                front.reply_recv(IMPORT, &received[..length])
            }
            (MODULE_BADGE, Phase::ImportedBack) if label == IMPORTED => {
                imported_back = received[0];
                phase = Phase::ImportedBad;
                let mut blob = [0; PAYLOAD_WORDS + 1];
                let used = encode(&StateBlob { version: 99, bytes: tileos_protocol::heapless::Vec::new() }, &mut blob).unwrap_or(0);
                front.reply_recv(IMPORT, &blob[..used])
            }
            (MODULE_BADGE, Phase::ImportedBad) if label == IMPORTED => {
                imported_bad = received[0];
                phase = Phase::Malformed;
                front.reply_recv(MESSAGE, &[3, 0xFFFF_FFFF])
            }
            (MODULE_BADGE, Phase::Malformed) => {
                log_event!(
                    "seat-harness.checked",
                    export_version = export_version,
                    import_back = imported_back,
                    import_unknown_version = imported_bad,
                    malformed_label = format_args!("{label:#x}"),
                    malformed_error = received[0],
                    answered_as_rpc = (label == ERROR && received[0] == tileos_protocol::ProtocolError::Malformed as u64)
                );
                phase = Phase::Serving;
                save_caller(MODULE_REPLY);
                module_idle = true;
                if let Some((label, request, length)) = pending.take() {
                    tileos_sys::send(MODULE_REPLY, label, &request[..length], &[], false);
                    module_idle = false;
                }
                front.recv()
            }
            (MODULE_BADGE, Phase::Serving) => {
                // The answer to the request forwarded last: to the client, verbatim.
                tileos_sys::send(CLIENT_REPLY, label, &received[..length], &[], false);
                forwarded += 1;
                if forwarded.is_multiple_of(100) {
                    log_event!("seat-harness.forwarded", n = forwarded);
                }
                save_caller(MODULE_REPLY);
                module_idle = true;
                front.recv()
            }
            (CLIENT_BADGE, _) => {
                save_caller(CLIENT_REPLY);
                if module_idle {
                    tileos_sys::send(MODULE_REPLY, label, &received[..length], &[], false);
                    module_idle = false;
                } else {
                    pending = Some((label, received, length));
                }
                front.recv()
            }
            (badge, _) => {
                tileos_sys::log!("seat-harness: unexpected label {label:#x} from badge {badge:#x}");
                log_event!("seat-harness.unexpected", badge = badge, label = format_args!("{label:#x}"));
                front.recv()
            }
        };
    }
}
