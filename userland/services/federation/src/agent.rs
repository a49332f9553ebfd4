//! `federation-agent`: a local application of the federation, the tile lab's way to change
//! a tile's replicated state from outside (docs/federation.md, "The tile lab").
//!
//! It takes the bundles the federation domain holds for local service [`UPDATE_SERVICE`]
//! (`Receive`), each a text payload `KEY=VALUE`, writes register `KEY` := `VALUE` through
//! the federation protocol (`SetRegister`: stored, then replicated to the federation as a
//! delta), and only then confirms the bundle (`Confirm`): a restart of either domain in
//! between applies the update again (a register write is idempotent), and never loses it.
//! A payload that is not such an update, or one whose key the node reserves (a `telemetry.`
//! name: `ReservedName`), is refused with its reason, logged, and confirmed (it can never
//! become one). One `@event fedagent.*` line per bundle.
//!
//! It has no timer: with nothing held it yields, so it runs low and on a small budget.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use tileos_protocol::federation::{Error, Federation, MAX_NAME, MAX_VALUE, Request, Response};
use tileos_sys::log_event;
use tileos_sys::rpc::{CallError, Client};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The federation service.
        federation: ClientEndpoint("federation"),
    }
}

tileos_sys::entry!(main);

/// The local service whose bundles carry updates (the description's `[federation]
/// local_services` must list it with this domain as its owner).
const UPDATE_SERVICE: u32 = 9;

/// Yields between two polls when nothing is held.
const IDLE_YIELDS: usize = 50;

/// Why a payload is not an update.
#[derive(Debug)]
enum NotAnUpdate {
    /// It was cut to fit a message: the value would be wrong.
    Truncated,
    /// Not UTF-8 text.
    NotText,
    /// No `=`.
    NoEquals,
    /// The key is empty or longer than [`MAX_NAME`], or the value empty or longer than
    /// [`MAX_VALUE`].
    BadLength,
}

/// A register name and value.
type Update = (heapless::String<MAX_NAME>, heapless::String<MAX_VALUE>);

/// `KEY=VALUE` from a payload of `length` bytes of which `payload` arrived.
fn parse(payload: &[u8], length: u32) -> Result<Update, NotAnUpdate> {
    if payload.len() as u64 != u64::from(length) {
        return Err(NotAnUpdate::Truncated);
    }
    let text = core::str::from_utf8(payload).map_err(|_| NotAnUpdate::NotText)?;
    let (key, value) = text.split_once('=').ok_or(NotAnUpdate::NoEquals)?;
    if key.is_empty() || value.is_empty() {
        return Err(NotAnUpdate::BadLength);
    }
    Ok((key.try_into().map_err(|_| NotAnUpdate::BadLength)?, value.try_into().map_err(|_| NotAnUpdate::BadLength)?))
}

fn main(resources: Resources) -> ! {
    let client = Client::<Federation>::new(resources.federation);
    let mut confirm_failures = 0u64;
    log_event!("fedagent.ready", service = UPDATE_SERVICE);
    loop {
        let (id, source_node, payload, length) = match client.call(&Request::Receive { service: UPDATE_SERVICE }) {
            Ok(Response::Received { id, source_node, payload, length, .. }) => (id, source_node, payload, length),
            Ok(Response::Failed(Error::NothingHeld)) | Err(CallError::ServerRestarted) => {
                for _ in 0..IDLE_YIELDS {
                    tileos_sys::yield_now();
                }
                continue;
            }
            Ok(Response::Failed(Error::NotLocalService)) => {
                log_event!("fedagent.stopped", reason = "service-not-local", service = UPDATE_SERVICE);
                tileos_sys::domain::stop();
            }
            other => {
                log_event!("fedagent.receive-failed", answer = format_args!("{other:?}").to_word());
                for _ in 0..IDLE_YIELDS {
                    tileos_sys::yield_now();
                }
                continue;
            }
        };
        match parse(&payload, length) {
            Ok((key, value)) => match client.call(&Request::SetRegister { name: key.clone(), value: value.clone() }) {
                Ok(Response::Register { .. }) => {
                    log_event!("fedagent.applied", id = id, from = source_node, key = key.as_str(), value = value.as_str());
                }
                // A `telemetry.` name (a tile's published figures): no bundle may write one, so
                // it can never be applied; refused like a malformed update, and confirmed.
                Ok(Response::Failed(Error::ReservedName)) => {
                    log_event!("fedagent.refused", id = id, from = source_node, reason = "ReservedName");
                }
                // Not applied (the store failed, the service restarted): the bundle stays held
                // and is taken again.
                other => {
                    log_event!("fedagent.retry", id = id, answer = format_args!("{other:?}").to_word());
                    tileos_sys::yield_now();
                    continue;
                }
            },
            Err(reason) => log_event!("fedagent.refused", id = id, from = source_node, reason = format_args!("{reason:?}").to_word()),
        }
        match client.call(&Request::Confirm { service: UPDATE_SERVICE, id }) {
            Ok(Response::Done) => {}
            // Confirmed already by an earlier try whose answer was lost, or held again after
            // a restart under another number: taken again, harmlessly (idempotent).
            other => {
                confirm_failures += 1;
                log_event!("fedagent.confirm-failed", id = id, failures = confirm_failures, answer = format_args!("{other:?}").to_word());
            }
        }
    }
}

/// `Debug` output as one field of an event line (spaces replaced).
trait ToWord {
    /// The text with whitespace replaced by `_`.
    fn to_word(self) -> Word;
}

/// One word of at most 96 bytes.
struct Word(heapless::String<96>);

impl ToWord for core::fmt::Arguments<'_> {
    fn to_word(self) -> Word {
        let mut text = heapless::String::<96>::new();
        let _ = core::fmt::write(&mut text, self);
        Word(text)
    }
}

impl core::fmt::Display for Word {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.chars().try_for_each(|c| core::fmt::Write::write_char(f, if c.is_whitespace() { '_' } else { c }))
    }
}
