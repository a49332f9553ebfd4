//! The slot's verifier domain (`checksum.verifier`, docs/slots.md "Installs") attacked on a
//! booted tile (scenario `tests/scenarios/slot-verifier.toml`: the demo slot plus the test
//! domains `verifier-forger`, `verifier-saboteur` and `chaos-checksum.verifier`).
//!
//! 1. **Forged verifier traffic from an ordinary client.** `verifier-forger`, a client of
//!    the slot with its own badge, calls with the verifier's labels in rounds, forever:
//!    `READY`s, `FETCH`es of the run's jobs at offsets in range, past the end and huge,
//!    `VERDICT`s claiming "verified" for jobs 1–3 (the jobs of this run), malformed word
//!    counts, and the seat protocol's `EXPORT` and `IMPORT`. Meanwhile the host installs
//!    `checksum-unsigned` (both signatures zero): job 1. A forged verdict taken for the
//!    verifier's would let it in. Checked: every forged call is answered `ERROR`
//!    `UnknownLabel` (not a service request: no module sees it), none with the verifier
//!    protocol's `CHUNK` or `REFUSED` nor the seat protocol's `STATE`; the manager never
//!    refused a verifier call (no call reached the verifier's path but the verifier's own);
//!    the bundle is refused with its real reason (the verifier's verdict
//!    `BadEd25519Signature` on job 1), in tilectl's output and in the update log; the
//!    forger's rounds went on during the install and after it, and the client load's
//!    answers stayed right.
//! 2. **The verifier restarted mid-job.** Once the update log has that refusal,
//!    `verifier-saboteur` stages a bundle of its own (a trusted key id, zero signatures),
//!    signals the chaos domain and commits: job 2. By priority, the chaos domain has the
//!    verifier killed after the manager handed it the job's first chunk and before it ran.
//!    Checked: the manager logged the verifier's drop of job 2 (`slot.verifier-dropped`:
//!    the restarted verifier's `READY` came while it had the job, so the kill landed
//!    mid-job) and no verdict on job 2; the commit was refused `Bundle` with the reason
//!    "the verifier domain restarted during job 0x2"; the restarted verifier (its
//!    generation 1) then verifies job 3, the host's install of `checksum-fast`, which
//!    installs; the update log verifies with the three installs in order.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module};
use tileos_qemu::images::test_images;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The forger's forged calls a round (`verifier_forger.rs`, `cases`).
const FORGED_CASES: usize = 19;

fn read(serial: &Path) -> String {
    std::fs::read_to_string(serial).unwrap_or_default()
}

/// The whole lines of `serial` that start with `prefix`.
fn lines_with<'a>(serial: &'a str, prefix: &str) -> Vec<&'a str> {
    let whole = serial.rfind('\n').map_or("", |end| &serial[..end]);
    whole.lines().filter(|line| line.starts_with(prefix)).collect()
}

/// The value of `key=` in an event line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// Waits until `serial` from byte `from` on has a whole line starting with `prefix`.
fn wait_line(serial: &Path, from: usize, prefix: &str, seconds: u64) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let text = read(serial);
        if let Some(line) = lines_with(text.get(from..).unwrap_or(""), prefix).first() {
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
    /// Serial offsets: the unsigned install's start and answer.
    unsigned_window: (usize, usize),
    /// tilectl's output for checksum-fast.
    installed: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &Path) -> Result<Seen, String> {
    // The forger is under way before the install.
    wait_line(serial, 0, "@event forger.round ", 60)?;
    let start = read(serial).len();
    let unsigned = match install_bundle(port, SLOT, "checksum-unsigned") {
        Err(failure) if failure.contains("refused the install's commit: Bundle:") => failure,
        other => return Err(format!("checksum-unsigned: expected a Bundle refusal, got {other:?}")),
    };
    let answered = read(serial).len();
    // Part 2 runs in the guest once the refusal is in the update log.
    wait_line(serial, answered, "@event saboteur.commit ", 120)?;
    let installed = install_bundle(port, SLOT, "checksum-fast")?;
    installed_module(&installed)?;
    let state = serial.with_file_name("slot-verifier-heads.json");
    let _ = std::fs::remove_file(&state);
    let log =
        host::tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state) }, Duration::from_secs(60))
            .map_err(|failure| format!("tilectl log --verify: {failure}"))?;
    let end = read(serial).len();
    // The slot keeps serving: two client rounds and a forger round after everything.
    wait_line(serial, end, "@event checksum.round ", 60)?;
    wait_line(serial, end, "@event forger.round ", 60)?;
    Ok(Seen { unsigned, unsigned_window: (start, answered), installed, log, end })
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

    // 1. Every forged call was answered as a request to the service, never as the verifier.
    let cases = lines_with(serial, "@event forger.case ");
    assert_eq!(cases.len(), FORGED_CASES, "the forger's first round:\n{}", cases.join("\n"));
    for case in &cases {
        assert!(
            field(case, "label") == Some("0x101") && field(case, "word0") == Some("1"),
            "a forged call not answered ERROR UnknownLabel by the service: {case}"
        );
    }
    let rounds = lines_with(serial, "@event forger.round ");
    let last = rounds.last().expect("forger rounds");
    assert_eq!(field(last, "verifier_answers"), Some("0"), "a forged call was answered as the verifier's: {last}");
    assert_eq!(field(last, "other"), Some("0"), "{last}");
    assert_eq!(field(last, "errors"), field(last, "calls"), "{last}");
    // The forger kept calling during the unsigned install (a round logged between its start
    // and its answer) and after everything.
    let (start, answered) = seen.unsigned_window;
    assert!(
        !lines_with(serial.get(start..answered).unwrap_or(""), "@event forger.round ").is_empty(),
        "no forger round during the unsigned install: the forgery did not overlap the job"
    );
    assert!(!lines_with(serial.get(seen.end..).unwrap_or(""), "@event forger.round ").is_empty(), "the forger's rounds stopped");
    // No call reached the manager's verifier path but the verifier's own, well-formed ones.
    assert!(!serial.contains("@event slot.verifier-refused"), "the manager refused a verifier call:\n{}", outcome.tail(60));
    // The unsigned bundle: refused on the real verifier's verdict, with its real reason.
    outcome.assert_serial_contains("@event slot.verdict slot=checksum job=0x1 verdict=BadEd25519Signature");
    assert!(seen.unsigned.contains("Ed25519 signature does not verify"), "{}", seen.unsigned);

    // 2. The verifier killed while it had job 2.
    outcome.assert_serial_contains("verifier-saboteur: staged 3428 bytes; signalling chaos, then committing");
    outcome.assert_serial_contains("chaos-checksum.verifier: supervisor answered Restarted");
    outcome.assert_serial_contains("checksum.verifier: ready (generation 1)");
    outcome.assert_serial_contains("@event slot.verifier-dropped slot=checksum job=0x2 reason=\"the verifier domain restarted\"");
    assert!(!serial.contains("job=0x2 verdict="), "a verdict on job 2: the kill did not land mid-job:\n{}", outcome.tail(60));
    outcome.assert_serial_contains("@event saboteur.commit answer=refused kind=Bundle");
    outcome.assert_serial_contains("bundle not verified: the verifier domain restarted during job 0x2");
    // The restarted verifier verifies the next job, which installs.
    outcome.assert_serial_contains("@event slot.verdict slot=checksum job=0x3 verdict=Verified");
    assert!(seen.installed.contains("installed as module 1"), "{}", seen.installed);

    // The update log: the three installs, in order, with their reasons.
    assert!(seen.log.contains("update log of 3 entries") && seen.log.contains("(signature verified)"), "{}", seen.log);
    let entries: Vec<&str> = seen.log.lines().skip(1).collect();
    assert!(entries.first().is_some_and(|e| e.contains("Ed25519 signature does not verify")), "{}", seen.log);
    assert!(entries.get(1).is_some_and(|e| e.contains("the verifier domain restarted during job 0x2")), "{}", seen.log);
    assert!(entries.get(2).is_some_and(|e| e.contains(" install ") && e.contains("installed as module 1")), "{}", seen.log);

    // The client load got right answers throughout.
    let client = lines_with(serial, "@event checksum.round ");
    assert!(!lines_with(serial.get(seen.end..).unwrap_or(""), "@event checksum.round ").is_empty(), "the client's rounds stopped");
    for round in &client {
        assert!(
            field(round, "wrong") == Some("0") && field(round, "errors") == Some("0"),
            "the client saw a wrong answer or an error: {round}"
        );
    }
    eprintln!(
        "slot_verifier: {} forger rounds logged, {} client rounds, {:.0} s",
        rounds.len(),
        client.len(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("slot_verifier: the verified log:\n{}", seen.log);
}
