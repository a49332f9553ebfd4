//! The N-version slot manager killed after a lineage's replacement, on a booted tile
//! (scenario `tests/scenarios/slot-nversion-restart.toml`: the slot-nversion tile with the
//! update log on the store, `replace_after` 30, the test fallback `checksum-fallback-hook`
//! and the fault-injection domain `chaos-checksum.manager`).
//!
//! Lineage 2 (`checksum-wrong`) dissents; at its 31st dissent the manager persists the
//! `LineageReplaced` entry, starts the fallback in the spare seat 3 and stops seat 2. The
//! fallback signals "chaos" as it starts, and the chaos domain, above the seats and the
//! manager by priority, has the supervisor kill and restart the manager at once: the kill
//! lands after the replacement, deterministically. The restarted manager (generation 1)
//! reloads the log and, as docs/slots.md says ("N-version mode": a replacement stands at
//! the manager's start), stops its predecessor's fallback (seat 3) and starts the fallback
//! again in lineage 2's own seat, not `checksum-wrong`.
//!
//! Checked, so that each check fails if the behaviour broke:
//! - the kill landed after the replacement: the replacement's line, then the fallback's
//!   signal from seat 3, then the chaos domain's `Restarted`, then the generation-1
//!   manager's serving line (log of 2 entries: the replacement and its restart entry);
//! - the restarted manager restored the replacement: it reclaimed seat 3
//!   (`slot.seat-reclaimed`), logged `slot.lineage-replacement-restored` for lineage 2 in
//!   seat 2, the root server started seat 2 with the fallback (`seat.started … program=
//!   fallback`), and the fallback's signal line came from seat 2 after the restart; no
//!   `slot.lineage-restored` (nothing started `checksum-wrong` again);
//! - the bad lineage is not judged again: one `slot.lineage-replaced` line in the whole run
//!   (with checksum-wrong back, 31 more dissents, about 150 requests, would replace it
//!   again: the test waits for three client rounds' lines, at least 1,000 requests, after
//!   the restart), and `tilectl status` shows
//!   lineage 2 as the fallback in seat 2 with fewer than 3 dissents, lineages 0 and 1 in
//!   their seats;
//! - `tilectl log --verify`: the replacement, the restart's `manager-started` (generation
//!   1, 1 entry reloaded), signature verified, nothing else;
//! - the client: every round `wrong=0`, its rounds go on after the restart, and at most one
//!   failed call (the one the killed manager may have held; counted).

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The replacement's line (`replace_after` 30 in the scenario).
const REPLACED: &str = "@event slot.lineage-replaced slot=checksum lineage=2 dissents=31 seat=3";
/// The fallback's line as it starts (`checksum_fallback_hook.rs`) in the spare seat.
const SIGNAL_SEAT3: &str = "checksum.seat3: fallback starting: signalling \"chaos\"";
/// The same, in lineage 2's own seat after the restart.
const SIGNAL_SEAT2: &str = "checksum.seat2: fallback starting: signalling \"chaos\"";
/// The chaos domain's line once the supervisor restarted the manager.
const RESTARTED: &str = "chaos-checksum.manager: supervisor answered Restarted";
/// The restarted manager's line (glue `slot-manager`).
const SERVING_AGAIN: &str = "slot-manager: slot checksum: serving, log of 2 entries (generation 1)";

/// What the host saw.
struct Seen {
    /// `tilectl status` after the client's rounds following the restart.
    status: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &Path) -> Result<Seen, String> {
    let serving_again = host::wait_for_text(serial, 0, SERVING_AGAIN, 180)?;
    // Three rounds' lines after the restart (the first may count requests from before it):
    // at least 1,000 requests after it, where checksum-wrong, were it back, would dissent
    // 31 times in about 150.
    host::wait_client_rounds(serial, serving_again, 3, 120)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { status, log, end })
}

#[test]
fn a_manager_killed_after_a_lineage_replacement_restarts_with_the_fallback_in_its_place() {
    let started = Instant::now();
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-nversion-restart", TIMEOUT, drive);
    let serial = &outcome.serial;

    // The kill landed after the replacement: its line, the fallback's signal from seat 3,
    // the restart, the generation-1 manager serving.
    let replaced = position(serial, REPLACED);
    let signal = position(serial, SIGNAL_SEAT3);
    let restarted = position(serial, RESTARTED);
    let serving_again = position(serial, SERVING_AGAIN);
    assert!(
        replaced < signal && signal < restarted && restarted < serving_again,
        "replaced at {replaced}, seat 3's signal at {signal}, restart at {restarted}, generation 1 serving at {serving_again}"
    );

    // The restarted manager restored the replacement: the fallback again, in seat 2.
    let reclaimed = position(serial, "@event slot.seat-reclaimed slot=checksum seat=3 ");
    let restored = position(serial, "@event slot.lineage-replacement-restored slot=checksum lineage=2 seat=2 ");
    assert!(
        restarted < reclaimed && reclaimed < restored && restored < serving_again,
        "seat 3 reclaimed, then lineage 2's fallback restored"
    );
    let seat2 = outcome
        .events("seat.started")
        .into_iter()
        .filter(|event| event.has(&[("slot", "checksum"), ("seat", "2"), ("program", "fallback")]))
        .count();
    assert_eq!(seat2, 1, "the root server did not start the fallback in seat 2 once:\n{}", outcome.tail(60));
    assert!(restarted < position(serial, SIGNAL_SEAT2), "the fallback did not start in seat 2 after the restart");
    assert!(!serial.contains("@event slot.lineage-restored "), "a lineage's own program was started again:\n{}", outcome.tail(60));

    // The bad lineage is not judged again: replaced once in the whole run; the status.
    assert_eq!(outcome.events("slot.lineage-replaced").len(), 1, "{:?}", outcome.events("slot.lineage-replaced"));
    let status = &seen.status;
    let fallback = host::lineage_status(status, 2).unwrap_or_else(|| panic!("no lineage 2:\n{status}"));
    assert!(fallback.0 == "fallback" && fallback.1 == 2 && fallback.2 < 3, "lineage 2 after the restart:\n{status}");
    for k in [0, 1] {
        assert_eq!(host::lineage_status(status, k).map(|(kind, seat, _)| (kind, seat)), Some(("lineage".to_string(), k)), "{status}");
    }

    // The log: the replacement, the restart's entry, verified.
    host::assert_verified_log(
        &seen.log,
        &[&[" lineage-replaced ", "lineage 2 after 31 dissents"], &[" manager-started ", "generation 1, 1 entries reloaded"]],
    );

    // The client: no wrong answer, its rounds go on, at most the one call in flight failed.
    // (The client has one call at a time.)
    let client = host::check_client_rounds(serial, seen.end, 1);
    let (requests, errors) = (client.requests, client.errors);
    eprintln!(
        "slot_nversion_restart: {} client rounds, {requests} requests, {errors} failed; lineage 2 after the restart: {fallback:?}; boot and drive {:.1} s",
        client.rounds,
        started.elapsed().as_secs_f64()
    );
    eprintln!("slot_nversion_restart: the verified log:\n{}", seen.log);
}
