//! The state transfer's limit on a booted tile (scenario
//! `tests/scenarios/slot-transfer-limit.toml`: the demo slot with its update log on the
//! store, the checking client load and the test incumbent `checksum-export-slow`).
//!
//! A promotion transfers the serving module's state before its switch (docs/slots.md, "A
//! promotion transfers before its switch"), and the transfer must complete within
//! `DEFERRED_BOUND` (100 ms) of its start, or the promotion is abandoned and withdrawn in
//! the update log, the incumbent serving on. The host installs checksum-fast (module 1) and
//! promotes it by force as soon as it shadows; the incumbent's export for that promotion
//! (its second: the first was module 1's start) holds the processor for 250 ms before it
//! exports. Then the host promotes again: the incumbent's third export is prompt.
//!
//! Checked, so that each check fails if the behaviour broke:
//! - the slow export came after the promotion was sent, and the manager abandoned the
//!   promotion after it, naming the limit (`@event slot.promotion-abandoned … why="its
//!   state transfer before the switch did not complete within 100 ms"`); the operator was
//!   told so, the reason whole (it was cut at 120 bytes before);
//! - the slot then still serves module 0, with module 1 shadowing (`tilectl status`);
//! - the second promotion switches (`promoted`), so an abandoned transfer leaves nothing
//!   behind that blocks the next;
//! - `tilectl log --verify`: install, promote, the withdrawal ("promotion withdrawn"),
//!   promote, the signature verified;
//! - the client load: every round `wrong=0 errors=0` (the requests that waited behind the
//!   slow export were answered, none lost or applied twice: the client checks each answer
//!   against its own model), and its rounds go on after the second promotion.

use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The incumbent's line as its slow export begins (`checksum_export_slow.rs`).
const SLOW_EXPORT: &str = "checksum: export 2: holding for 250 ms";
/// The incumbent's line once it exported.
const HELD: &str = "checksum: export 2: held ";
/// The manager's line for the abandoned promotion.
const ABANDONED: &str =
    "@event slot.promotion-abandoned slot=checksum module=1 why=\"its state transfer before the switch did not complete within 100 ms\"";

/// What the host saw.
struct Seen {
    /// The serial log's length when the first promotion was sent (its last try).
    promote_sent: usize,
    /// tilectl's answer to the first promotion (the abandonment expected).
    promote: Result<String, String>,
    /// `tilectl status` after the abandonment.
    status: String,
    /// tilectl's answer to the second promotion.
    second: Result<String, String>,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &std::path::Path) -> Result<Seen, String> {
    let module = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    let (promote_sent, promote) = host::promote_by_force_once_shadowing(port, serial, SLOT, module);
    let abandoned = host::wait_for_text(serial, 0, ABANDONED, 60)?;
    host::wait_client_rounds(serial, abandoned, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let (_, second) = host::promote_by_force_once_shadowing(port, serial, SLOT, module);
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote_sent, promote, status, second, log, end })
}

#[test]
fn a_promotion_whose_state_transfer_exceeds_its_limit_is_abandoned_and_the_incumbent_serves_on() {
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-transfer-limit", TIMEOUT, drive);
    let serial = &outcome.serial;

    // The slow export was the promotion's, and the promotion was abandoned on the limit.
    let slow = position(serial, SLOW_EXPORT);
    let held = position(serial, HELD);
    let abandoned = position(serial, ABANDONED);
    assert!(seen.promote_sent <= slow && slow < held, "promotion sent at {}, slow export at {slow}, held at {held}", seen.promote_sent);
    assert!(slow < abandoned, "the promotion was abandoned at {abandoned}, before the slow export began at {slow}");
    assert_eq!(serial.matches("@event slot.promotion-abandoned ").count(), 1, "one abandoned promotion");
    let told = match &seen.promote {
        Ok(answer) | Err(answer) => answer,
    };
    assert!(
        told.contains("the promotion of module 1 was abandoned: its state transfer before the switch did not complete within 100 ms; module 0 serves on"),
        "the operator was not told of the abandonment: {:?}",
        seen.promote
    );

    // The incumbent served on, module 1 still shadowing; then the second promotion switched.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving") && slot_line.contains("promoted 0"), "{}", seen.status);
    let module_1 = seen.status.lines().find(|l| l.starts_with("  module 1 ")).unwrap_or_default();
    assert!(module_1.contains("shadowing"), "module 1 is not shadowing after the abandonment:\n{}", seen.status);
    assert!(matches!(&seen.second, Ok(answer) if answer.contains("promoted")), "the second promotion: {:?}", seen.second);
    assert_eq!(serial.matches("export 2: holding").count(), 1, "one slow export");

    // The log: install, promote, its withdrawal, promote; verified.
    host::assert_verified_log(
        &seen.log,
        &[&[" install ", "installed as module 1"], &[" promote "], &["promotion withdrawn"], &[" promote "]],
    );

    // The client load: no wrong answer, no failed call, rounds to the end.
    let client = host::check_client_rounds(serial, seen.end, 0);
    eprintln!(
        "slot_transfer_limit: first promotion answered {:?}; second {:?}; {} client rounds, {} requests",
        seen.promote, seen.second, client.rounds, client.requests
    );
    eprintln!("slot_transfer_limit: the verified log:\n{}", seen.log);
}
