//! N-version with the real slot manager on a booted tile (scenario
//! `tests/scenarios/slot-nversion.toml`; docs/slots.md, "N-version on a booted tile").
//!
//! The slot `checksum` runs three lineages of the checksum service: `checksum-v1` (seat 0,
//! the incumbent domain), the independently written `checksum-lineage-b` (seat 1) and
//! `checksum-wrong` (seat 2: the lowest bit of every answer to a request whose data starts
//! with 0x42 flipped). The manager delivers the majority answer; `checksum-client` calls in a
//! steady loop and checks every answer against its own reference model. The test:
//! one wrong lineage out of three never changes a delivered answer. Checked:
//!
//! 1. every `checksum.round` of the client, over at least [`MIN_ROUNDS`] rounds of 500
//!    requests, reads `wrong=0 errors=0`;
//! 2. the wrong lineage is flagged: `tilectl status` shows lineage 2's dissents growing while
//!    lineages 0 and 1 have none (a tenth of lineage 2's at most: a timeout on a loaded host
//!    counts as a dissent);
//! 3. past `replace_after` (500) dissents it is replaced by the fallback
//!    (`@event slot.lineage-replaced slot=checksum lineage=2 dissents=501 seat=3`, the
//!    fallback started in the spare seat 3 and seat 2 stopped), after which status lists
//!    lineage 2 as `fallback` in seat 3 with (almost) no dissents of its own (it imported a
//!    lineage's streams), and no other lineage was replaced;
//! 4. no domain other than the replaced seat stopped, nothing panicked.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive};
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
/// The scenario's `replace_after`.
const REPLACE_AFTER: u64 = 500;
/// Client rounds (500 requests each) the test waits for after the replacement, and in all.
const ROUNDS_AFTER: usize = 2;
const MIN_ROUNDS: usize = 6;

/// Runs one tilectl command against the tile (DEV operator key): its output, or the failure
/// in words.
fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    let options = tileos_tilectl::Options {
        tile: format!("127.0.0.1:{port}"),
        key: None,
        dev_key: true,
        json: false,
        timeout: Duration::from_secs(30),
    };
    let mut out = Vec::new();
    tileos_tilectl::run(&options, &command, &mut out).map_err(|failure| failure.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn serial_text(serial: &Path) -> String {
    std::fs::read(serial).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

fn rounds(text: &str) -> usize {
    text.lines().filter(|line| line.contains("@event checksum.round")).count()
}

/// What the host saw: the status lines in which the wrong lineage was flagged but not yet
/// replaced, and the status after the replacement.
struct Seen {
    flagged: Vec<String>,
    after: String,
    /// `tilectl log --verify` at the end.
    log: String,
}

/// The host's side: polls the status until the wrong lineage is replaced, then lets the
/// client run [`ROUNDS_AFTER`] more rounds.
fn watch_the_vote(port: u16, serial: &Path) -> Result<Seen, String> {
    let mut flagged = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = tilectl(port, Tilectl::Status)?;
        let wrong = host::lineage_status(&status, 2).ok_or_else(|| format!("no lineage 2 in the status:\n{status}"))?;
        if wrong.0 == "fallback" {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("lineage 2 not replaced within 180 s; last status:\n{status}"));
        }
        if wrong.2 > 0 {
            flagged.push(status);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let replaced_at = rounds(&serial_text(serial));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let total = rounds(&serial_text(serial));
        if total >= replaced_at + ROUNDS_AFTER && total >= MIN_ROUNDS {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the client logged {total} rounds, {replaced_at} before the replacement; too few"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = tilectl(port, Tilectl::Status)?;
    let state = std::env::temp_dir().join(format!("slot-nversion-heads-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let log = tilectl(port, Tilectl::Log { slot: "checksum".into(), verify: true, log_key: None, state: Some(state.clone()) });
    let _ = std::fs::remove_file(&state);
    Ok(Seen { flagged, after, log: log? })
}

#[test]
fn n_version_one_wrong_lineage_out_of_three_never_changes_a_delivered_answer() {
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let started = Instant::now();
    let (outcome, seen) = boot_and_drive("slot-nversion", "tile-slot-nversion.log", Vec::new(), PORT, ready, TIMEOUT, watch_the_vote);
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // 1. No wrong answer, no error, over enough rounds.
    let rounds = outcome.events("checksum.round");
    assert!(rounds.len() >= MIN_ROUNDS, "{} client rounds:\n{}", rounds.len(), outcome.tail(60));
    for round in &rounds {
        assert!(round.has(&[("wrong", "0"), ("errors", "0")]), "the client saw a wrong answer or an error: {}", round.line);
    }
    assert!(outcome.events("checksum.wrong").is_empty(), "{:?}", outcome.events("checksum.wrong"));
    // 2. Flagged: lineage 2's dissents counted before it was replaced, lineages 0 and 1 clean.
    let flagged = seen.flagged.last().unwrap_or_else(|| panic!("no status showed lineage 2's dissents before its replacement"));
    let wrong = host::lineage_status(flagged, 2).expect("lineage 2");
    assert!(wrong.0 == "lineage" && wrong.1 == 2 && (1..=REPLACE_AFTER).contains(&wrong.2), "{flagged}");
    // The right lineages agree (a timeout on a loaded host would count as a dissent: a few
    // are allowed, far fewer than the wrong lineage's).
    for k in [0, 1] {
        let right = host::lineage_status(flagged, k).unwrap_or_else(|| panic!("no lineage {k}:\n{flagged}"));
        assert!(right.0 == "lineage" && right.1 == k && right.2 * 10 < wrong.2.max(10), "lineage {k} dissented:\n{flagged}");
    }
    // 3. Replaced by the fallback in the spare seat, past replace_after dissents; only it.
    let replaced = outcome.events("slot.lineage-replaced");
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    let dissents = (REPLACE_AFTER + 1).to_string();
    assert!(replaced[0].has(&[("slot", "checksum"), ("lineage", "2"), ("dissents", &dissents), ("seat", "3")]), "{}", replaced[0].line);
    outcome.assert_event("seat.started", &[("slot", "checksum"), ("seat", "3"), ("program", "fallback")]);
    outcome.assert_event("seat.stopped", &[("slot", "checksum"), ("seat", "2")]);
    let after = &seen.after;
    assert_eq!(host::lineage_status(after, 2).map(|(kind, seat, _)| (kind, seat)), Some(("fallback".to_string(), 3)), "{after}");
    // The fallback imported a lineage's state: it agrees (its count started again at the
    // replacement; a ballot in flight then may count against it).
    let fallback = host::lineage_status(after, 2).map(|(_, _, dissents)| dissents).unwrap_or(u64::MAX);
    assert!(fallback * 10 < REPLACE_AFTER, "the fallback dissents {fallback} times:\n{after}");
    for k in [0, 1] {
        assert_eq!(host::lineage_status(after, k).map(|(kind, seat, _)| (kind, seat)), Some(("lineage".to_string(), k)), "{after}");
    }
    // The replacement is the update log's one entry, and it verifies.
    assert!(seen.log.contains("update log of 1 entries") && seen.log.contains("(signature verified)"), "{}", seen.log);
    let entry = seen.log.lines().find(|line| line.contains(" lineage-replaced checksum ")).unwrap_or_else(|| panic!("{}", seen.log));
    assert!(entry.contains(&format!(", lineage 2 after {dissents} dissents, replaced archive program ")), "{entry}");
    // 4. Nothing else stopped or restarted.
    for stopped in outcome.events("domain.stopped") {
        assert!(stopped.get("domain") == Some("checksum.seat2"), "unexpected: {}", stopped.line);
    }
    // 5. The manager's stack high-water mark after each status request (the vote, the
    // replacement, the fallback's start) stays within half the stack, as in slot_demo.
    let (used, size) = host::assert_manager_stack_within_half(&outcome.serial, "checksum");
    println!("slot_nversion: the manager's stack high-water mark serving: {used} of {size} bytes");
    let after_lines: Vec<&str> = after.lines().filter(|line| line.starts_with("  module ")).collect();
    println!("slot_nversion: the lineages at the end:\n{}", after_lines.join("\n"));
    println!("slot_nversion: the update log:\n{}", seen.log);
    for rebuilt in outcome.events("slot.seat-rebuilt") {
        println!("slot_nversion: {}", rebuilt.line.trim());
    }
    println!(
        "slot_nversion: {} rounds ({} requests) with wrong=0 errors=0; {} statuses showed lineage 2 flagged (last: {} dissents); {}; {:.1} s",
        rounds.len(),
        rounds.last().and_then(|round| round.get("n")).unwrap_or("?"),
        seen.flagged.len(),
        wrong.2,
        replaced[0].line.trim(),
        started.elapsed().as_secs_f64()
    );
}
