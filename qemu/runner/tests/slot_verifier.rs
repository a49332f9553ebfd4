//! The slot's verifier domain (`checksum.verifier`, docs/slots.md "Installs") attacked on a
//! booted tile (scenario `tests/scenarios/slot-verifier.toml`: the demo slot plus the test
//! domains `verifier-saboteur`, `verifier-forger` and `chaos-checksum.verifier`). Jobs are
//! numbered by the manager (generation 0): 1, the host's install of `checksum-unsigned`
//! (refused on the verifier's verdict); then the saboteur's two commits of a bundle with
//! zeroed signatures (a trusted key id: the manager's own checks pass and the job goes to
//! the verifier), 2 and 3; 4, the host's install of `checksum-fast`.
//!
//! 1. **Forged verifier traffic from an ordinary client.** Just before each commit the
//!    saboteur signals `verifier-forger`, a client of the slot with its own badge, and by
//!    priority its burst reaches the manager after the commit made the job and before the
//!    verifier ran: `READY`s, `FETCH`es of the job under way at offsets in range, past the
//!    end and huge, `VERDICT`s claiming "verified" for it, a stale and the next job,
//!    malformed word counts, the seat protocol's `EXPORT` and `IMPORT`, an empty label-0
//!    call (which the seat-faults signal resembles). Checked: every
//!    forged call is answered `ERROR` `UnknownLabel` (not a service request: no module
//!    sees it), none with the verifier protocol's `CHUNK` or `REFUSED`; the burst is logged
//!    before the verdict on job 2; the manager never refused a verifier call (nothing but
//!    the verifier's own calls reached its verifier path); job 2 is refused with its real
//!    reason, the verifier's verdict `BadEd25519Signature` (so is job 1, in tilectl's
//!    output); no empty call was taken for a seat's fault (no "a fault signal for seat"
//!    line); the client load's answers stay right.
//! 2. **The verifier restarted mid-job.** Before job 3's commit the saboteur also signals
//!    the chaos domain, which by priority has the verifier killed after the manager handed
//!    it the job's first chunk and before it ran. Checked: the manager logged the
//!    verifier's drop of job 3 (`slot.verifier-dropped`: the restarted verifier's `READY`
//!    came while it had the job: the kill landed mid-job) and no verdict on job 3; the
//!    commit was refused `Bundle`, "the verifier domain restarted during job 0x3"; the
//!    restarted verifier (its generation 1) verifies job 4, which installs; the update log
//!    verifies with the four installs in order.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module, position};
use tileos_qemu::images::test_images;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The forger's forged calls a round (`verifier_forger.rs`, `cases`).
const FORGED_CASES: usize = 20;
/// Its forged calls a burst (two rounds).
const BURST_CALLS: &str = "40";

/// Waits until `serial` from byte `from` on has a whole line starting with `prefix`.
fn wait_line(serial: &Path, from: usize, prefix: &str, seconds: u64) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let text = host::serial_text(serial);
        if let Some(line) = host::whole_lines_with(text.get(from..).unwrap_or(""), prefix).first() {
            return Ok((*line).to_owned());
        }
        if Instant::now() > deadline {
            return Err(format!("no line {prefix:?} within {seconds} s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the host saw.
struct Seen {
    /// tilectl's failure for the unsigned bundle.
    unsigned: String,
    /// tilectl's output for checksum-fast.
    installed: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &Path) -> Result<Seen, String> {
    let unsigned = match install_bundle(port, SLOT, "checksum-unsigned") {
        Err(failure) if failure.contains("refused the install's commit: Bundle:") => failure,
        other => return Err(format!("checksum-unsigned: expected a Bundle refusal, got {other:?}")),
    };
    // Jobs 2 and 3 run in the guest once that refusal is in the update log.
    wait_line(serial, 0, "@event saboteur.commit install=killed ", 120)?;
    let installed = install_bundle(port, SLOT, "checksum-fast")?;
    installed_module(&installed)?;
    let state = serial.with_file_name("slot-verifier-heads.json");
    let _ = std::fs::remove_file(&state);
    let log =
        host::tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state) }, Duration::from_secs(60))
            .map_err(|failure| format!("tilectl log --verify: {failure}"))?;
    let end = host::serial_text(serial).len();
    // The slot keeps serving: a client round after everything.
    wait_line(serial, end, "@event checksum.round ", 60)?;
    Ok(Seen { unsigned, installed, log, end })
}

#[test]
fn forged_verifier_calls_are_refused_and_a_verifier_killed_mid_job_refuses_that_job_only() {
    assert!(host::bundles_dir().join("checksum-unsigned.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let _images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let started = Instant::now();
    let (outcome, seen) = boot_and_drive("slot-verifier", "tile-slot-verifier.log", Vec::new(), PORT, ready, TIMEOUT, drive);
    let serial = &outcome.serial;
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked", "FAIL:"] {
        assert!(!serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }

    // 1. Every forged call was answered UnknownLabel, never as the verifier.
    let cases = host::whole_lines_with(serial, "@event forger.case ");
    assert_eq!(cases.len(), FORGED_CASES, "the forger's first round:\n{}", cases.join("\n"));
    for case in &cases {
        assert!(
            host::event_field(case, "label") == Some("0x101") && host::event_field(case, "word0") == Some("1"),
            "a forged call not answered ERROR UnknownLabel: {case}"
        );
    }
    // Its empty label-0 calls (badge 0x21: the bits of seats 0 and 5) were not taken for the
    // seat-faults signal: before `SEAT_FAULTS_SIGNAL`, each cost a supervisor status call and
    // logged "a fault signal for seat 0, whose module runs: ignored".
    assert!(!serial.contains("a fault signal for seat"), "a client's empty call was taken for the seat-faults signal");
    let bursts = host::whole_lines_with(serial, "@event forger.burst ");
    assert_eq!(bursts.len(), 2, "one burst per saboteur commit:\n{}", bursts.join("\n"));
    for (burst, job) in bursts.iter().zip(["0x2", "0x3"]) {
        assert_eq!(host::event_field(burst, "job"), Some(job), "{burst}");
        assert_eq!(host::event_field(burst, "calls"), Some(BURST_CALLS), "{burst}");
        assert_eq!(host::event_field(burst, "errors"), Some(BURST_CALLS), "{burst}");
        assert_eq!(host::event_field(burst, "verifier_answers"), Some("0"), "a forged call was answered as the verifier's: {burst}");
        assert_eq!(host::event_field(burst, "other"), Some("0"), "{burst}");
    }
    // The burst came while job 2 was under way: after its commit, before its answer (which
    // follows the verdict; the manager's own event lines are written later, at its leisure).
    let committed = position(serial, "verifier-saboteur: staged 3428 bytes; signalling, then committing (install forged)");
    let burst = position(serial, "@event forger.burst burst=1 ");
    let answered = position(serial, "@event saboteur.commit install=forged ");
    assert!(committed < burst && burst < answered, "the forged burst did not land between job 2's commit and its answer");
    // No call reached the manager's verifier path but the verifier's own, well-formed ones.
    assert!(!serial.contains("@event slot.verifier-refused"), "the manager refused a verifier call:\n{}", outcome.tail(60));
    // Jobs 1 and 2: refused on the real verifier's verdicts, with their real reason.
    outcome.assert_serial_contains("@event slot.verdict slot=checksum job=0x1 verdict=BadEd25519Signature");
    assert!(seen.unsigned.contains("Ed25519 signature does not verify"), "{}", seen.unsigned);
    outcome.assert_serial_contains("verifier-saboteur: the commit was refused: Bundle: bundle refused: Ed25519 signature does not verify");
    outcome.assert_serial_contains("@event saboteur.commit install=forged answer=refused kind=Bundle");

    // 2. The verifier killed while it had job 3 (and a second burst meanwhile).
    let committed = position(serial, "verifier-saboteur: staged 3428 bytes; signalling, then committing (install killed)");
    let restarted = position(serial, "chaos-checksum.verifier: supervisor answered Restarted");
    let dropped = position(serial, "@event slot.verifier-dropped slot=checksum job=0x3 reason=\"the verifier domain restarted\"");
    let burst = position(serial, "@event forger.burst burst=2 ");
    let answered = position(serial, "@event saboteur.commit install=killed ");
    assert!(
        committed < restarted && restarted < answered && restarted < dropped && committed < burst && burst < answered,
        "the kill or the second burst did not come between job 3's commit and its answer"
    );
    outcome.assert_serial_contains("checksum.verifier: ready (generation 1)");
    assert!(!serial.contains("job=0x3 verdict="), "a verdict on job 3: the kill did not land mid-job:\n{}", outcome.tail(60));
    outcome.assert_serial_contains("@event saboteur.commit install=killed answer=refused kind=Bundle");
    outcome.assert_serial_contains("bundle not verified: the verifier domain restarted during job 0x3");
    // The restarted verifier verifies the next job, which installs.
    outcome.assert_serial_contains("@event slot.verdict slot=checksum job=0x4 verdict=Verified");
    assert!(seen.installed.contains("installed as module 1"), "{}", seen.installed);

    // The update log: the four installs, in order, with their reasons.
    assert!(seen.log.contains("update log of 4 entries") && seen.log.contains("(signature verified)"), "{}", seen.log);
    let entries: Vec<&str> = seen.log.lines().skip(1).collect();
    assert!(entries.first().is_some_and(|e| e.contains("Ed25519 signature does not verify")), "{}", seen.log);
    assert!(entries.get(1).is_some_and(|e| e.contains("Ed25519 signature does not verify")), "{}", seen.log);
    assert!(entries.get(2).is_some_and(|e| e.contains("the verifier domain restarted during job 0x3")), "{}", seen.log);
    assert!(entries.get(3).is_some_and(|e| e.contains(" install ") && e.contains("installed as module 1")), "{}", seen.log);

    // The client load got right answers throughout.
    let client = host::whole_lines_with(serial, "@event checksum.round ");
    assert!(
        !host::whole_lines_with(serial.get(seen.end..).unwrap_or(""), "@event checksum.round ").is_empty(),
        "the client's rounds stopped"
    );
    for round in &client {
        assert!(
            host::event_field(round, "wrong") == Some("0") && host::event_field(round, "errors") == Some("0"),
            "the client saw a wrong answer or an error: {round}"
        );
    }
    eprintln!("slot_verifier: {} client rounds, {:.0} s", client.len(), started.elapsed().as_secs_f64());
    eprintln!("slot_verifier: the verified log:\n{}", seen.log);
}
