//! Boot test of the telemetry domain and the supervisor's immune system (scenario
//! `immune.toml`, docs/telemetry.md): a latency regression injected into one client's
//! calls raises a drift alarm and the configured restart; a client that makes as many
//! calls without a regression raises none; the telemetry domain answers hostile requests
//! with precise errors and keeps serving, also after a restart. Scenario `immune-slot.toml`:
//! a promoted module whose latency drifts is rolled back by the immune system (`on_drift =
//! 2`), and the slot's update log says why.

use std::path::Path;
use std::time::{Duration, Instant};
use tileos_qemu::host::{self, boot_and_drive_on, install_bundle, installed_module};
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{Machine, run_until};
use tileos_tilectl::Command as Tilectl;

#[test]
fn a_latency_regression_raises_a_drift_alarm_and_the_configured_restart() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("immune"));
    let log = images.logs.join("tile-immune.log");
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    // Guest instructions as time: latencies are exact, so the healthy run is not noisy.
    let machine = Machine { icount: true, ..Machine::default() };
    let markers = ["@event prober.done domain=steady", "@event prober.done domain=drifter generation=1", "@event hostile.done"];
    let outcome = run_until(&machine, &boot, &log, Duration::from_secs(180), &markers).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    // The regression: an alarm with its evidence, and the restart it configured.
    let alarms = outcome.events("immune.alarm");
    let drifter: Vec<_> = alarms.iter().filter(|a| a.get("domain") == Some("drifter") && a.get("state") == Some("raised")).collect();
    assert!(!drifter.is_empty(), "no drift alarm for the drifter:\n{}", outcome.tail(60));
    assert!(drifter.iter().any(|a| a.get("action") == Some("Restarted")), "{:?}", drifter.iter().map(|a| &a.line).collect::<Vec<_>>());
    for alarm in &drifter {
        let observed: f64 = alarm.get("observed").and_then(|v| v.parse().ok()).expect("observed");
        let baseline: f64 = alarm.get("baseline").and_then(|v| v.parse().ok()).expect("baseline");
        assert!(observed > 4.0 * baseline, "evidence: {}", alarm.line);
        assert!(alarm.get("metric").is_some_and(|m| m.starts_with("Latency")), "{}", alarm.line);
    }
    outcome.assert_event("domain.restarted", &[("domain", "drifter"), ("generation", "1")]);
    // The healthy run of the same length: no alarm at all.
    let steady: Vec<_> = alarms.iter().filter(|a| a.get("domain") == Some("steady")).map(|a| &a.line).collect();
    assert!(steady.is_empty(), "false alarms for the steady prober: {steady:?}");
    outcome.assert_event("prober.done", &[("domain", "steady"), ("generation", "0"), ("calls", "6000")]);
    // The hostile client: every step answered as expected, the telemetry domain serving.
    let wrong: Vec<_> = outcome.events("hostile.check").into_iter().filter(|c| c.get("verdict") != Some("ok")).map(|c| c.line).collect();
    assert!(wrong.is_empty(), "hostile checks failed: {wrong:?}\n{}", outcome.tail(40));
    assert_eq!(outcome.events("hostile.check").len(), 12, "{}", outcome.tail(40));
    outcome.assert_event("hostile.done", &[("failures", "0")]);
}

/// Waits until the serial log contains `needle` (or `seconds` pass): the log's text
/// ([`host::serial_text`]).
fn wait_serial(serial: &Path, needle: &str, seconds: u64) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let text = host::serial_text(serial);
        if text.contains(needle) {
            return Ok(text);
        }
        if Instant::now() > deadline {
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            return Err(format!("{needle:?} not in the serial log within {seconds} s; its end:\n{}", tail.join("\n")));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The host's side of `immune-slot`: baseline, install and forced promotion of
/// checksum-slow, the immune rollback; returns the serial log's length at the promotion and
/// the verified update log.
fn drift_and_roll_back(port: u16, serial: &Path) -> Result<(usize, String), String> {
    // The baseline: 2,500 requests are 50 reports (the drift monitor learns from 30).
    wait_serial(serial, "@event checksum.round client=checksum-client n=2500 ", 60)?;
    let slow = installed_module(&install_bundle(port, "checksum", "checksum-slow")?)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match host::tilectl(port, Tilectl::Promote { slot: "checksum".into(), module: slow, force: true }, Duration::from_secs(30)) {
            Err(failure) if failure.contains("NotShadowing(Installed)") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => {
                other.map_err(|failure| format!("forced promotion of checksum-slow: {failure}"))?;
                break;
            }
        }
    }
    let promoted_at = host::serial_text(serial).len();
    wait_serial(serial, "outcome=rolled-back", 120)?;
    Ok((promoted_at, verified_log(port, serial)?))
}

/// The slot "checksum"'s update log, verified (`tilectl log --verify`). The verified heads go
/// to a file of this boot's own (not ~/.tileos, which other tiles' logs of a slot named
/// "checksum" share).
fn verified_log(port: u16, serial: &Path) -> Result<String, String> {
    let heads = serial.with_extension("heads.json");
    let _ = std::fs::remove_file(&heads);
    host::tilectl(port, Tilectl::Log { slot: "checksum".into(), verify: true, log_key: None, state: Some(heads) }, Duration::from_secs(30))
}

/// The host's side of `immune-disagree`: checksum-fast installed (promoted by the loose
/// policy at once, compared with the warm incumbent through its window: the disagreement
/// baseline), settled; then checksum-wrong installed and promoted by the policy in turn. The
/// immune system's rollback is awaited; returns checksum-fast's and checksum-wrong's module
/// numbers, the serial log's offset of the wrong module's promotion, the verified update log
/// and `tilectl telemetry`'s figures after the rollback.
fn disagree_and_roll_back(port: u16, serial: &Path) -> Result<(u32, u32, usize, String, String), String> {
    let fast = installed_module(&install_bundle(port, "checksum", "checksum-fast")?)?;
    wait_serial(serial, &format!("@event slot.transition slot=checksum module={fast} from=promoted to=settled"), 120)?;
    let settled_at = host::serial_text(serial).len();
    let wrong = installed_module(&install_bundle(port, "checksum", "checksum-wrong")?)?;
    let promoted = format!("@event slot.transition slot=checksum module={wrong} from=");
    let text = wait_serial(serial, "@event slot.immune-rollback slot=checksum domain=checksum-client metric=SlotDisagreement", 120)?;
    let promoted_at = text
        .get(settled_at..)
        .and_then(|rest| {
            rest.match_indices(&promoted)
                .map(|(at, _)| settled_at + at)
                .find(|&at| text[at..].lines().next().is_some_and(|l| l.contains(" to=promoted ")))
        })
        .ok_or_else(|| format!("checksum-wrong (module {wrong}) was not promoted before the immune rollback"))?;
    let log = verified_log(port, serial)?;
    Ok((fast, wrong, promoted_at, log, host::tilectl(port, Tilectl::Telemetry, Duration::from_secs(30))?))
}

/// Scenario `immune-slot.toml`, under `-icount` (latencies in guest instructions): the host
/// installs checksum-slow after the client's baseline and promotes it by force (retrying
/// while the challenger is not yet shadowing); the immune system's latency alarm rolls it
/// back.
// Runs under -icount (latencies in guest instructions). Ignored before `slots6` after runs
// on a loaded machine failed (the evidence ratio; checksum-slow gone before the forced
// promotion), and briefly with paced mirroring: a rollback restored a warm incumbent that was
// behind and the client got 15 wrong stream answers after it. The manager now hands the
// rolled-back module's state to a restored module that is behind (docs/slots.md, "A
// rollback to a module that is behind"); with that it passed (two runs, 2026-12-04).
#[test]
fn a_drifting_promoted_module_is_rolled_back_by_the_immune_system() {
    assert!(host::bundles_dir().join("checksum-slow.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, (promoted_at, log)) = boot_and_drive_on(
        true,
        "immune-slot",
        "tile-immune-slot.log",
        Vec::new(),
        tileos_tilectl_wire::PORT,
        ready,
        Duration::from_secs(240),
        drift_and_roll_back,
    );
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // Alarms while the incumbent served are not asserted away: under host load the wall-clock
    // p50 can move up one log2 bucket (2×, z ≈ 20), a false alarm whose rollback is refused
    // (NothingToRollBack, logged) — seen in the first run (docs/telemetry.md).
    let after = &outcome.serial[promoted_at.min(outcome.serial.len())..];
    // The alarm on the client's latency, with its evidence, asked for the rollback ...
    let alarm = after
        .lines()
        .find(|line| line.contains("@event immune.alarm domain=checksum-client state=raised") && line.contains("action=RollbackRequested"))
        .unwrap_or_else(|| panic!("no rollback-requesting alarm after the promotion:\n{}", outcome.tail(60)));
    let field = |name: &str| -> f64 {
        alarm.split_whitespace().find_map(|f| f.strip_prefix(&format!("{name}="))).and_then(|v| v.parse().ok()).expect(name)
    };
    assert!(alarm.contains("metric=Latency"), "{alarm}");
    assert!(field("observed") > 10.0 * field("baseline"), "evidence: {alarm}");
    // ... the manager took it and rolled back to the incumbent (module 0) ...
    outcome.assert_event("immune.rollback-taken", &[("slot", "checksum"), ("domain", "checksum-client")]);
    let rollbacks = outcome.events("slot.immune-rollback");
    let rolled: Vec<_> = rollbacks.iter().filter(|e| e.get("outcome") == Some("rolled-back")).collect();
    assert_eq!(rolled.len(), 1, "{:?}", rollbacks.iter().map(|e| &e.line).collect::<Vec<_>>());
    assert_eq!(rolled[0].get("serving"), Some("0"), "{}", rolled[0].line);
    // ... its update log says why (and verifies) ...
    assert!(log.contains("(signature verified)"), "{log}");
    let entry = log.lines().find(|line| line.contains("rolled back by the immune system")).unwrap_or_else(|| panic!("{log}"));
    // (The log names a module by its bundle's module name and version: checksum-slow is
    // module "checksum" 1.0.1, tools/bundle.)
    assert!(entry.contains("drift of domain checksum-client") && entry.contains("rollback checksum checksum 1.0.1 "), "{entry}");
    // ... and the client never saw a wrong answer.
    let rounds: Vec<&str> = outcome.serial.lines().filter(|line| line.contains("@event checksum.round")).collect();
    assert!(rounds.iter().all(|round| round.contains(" wrong=0 ")), "{rounds:?}");
}

/// A challenger that disagrees, promoted under a loose policy whose breaker cannot see it,
/// raises the immune system's disagreement alarm on the slot's client, and the configured
/// action (`on_drift = 2`) rolls it back, logged with the evidence (scenario
/// `immune-disagree.toml`, under `-icount`: latencies are counted in guest instructions, so
/// the host's load raises no false latency alarm).
// Under the client's flood the warm incumbent cannot keep up with every copy: the slot
// manager paces its mirror (docs/slots.md, "Paced mirroring"): copies beyond queue_limit
// are skipped (not compared) until it has caught up and imported the state again, so the
// comparisons go on at the rate it can answer them. Before that (2026-12-04) it dropped its
// queued copies at every re-import, too few answers were compared and no alarm came (one
// run: 247,787 wrong answers delivered); this test was ignored then.
#[test]
fn a_disagreeing_promoted_module_is_rolled_back_by_the_immune_system() {
    assert!(host::bundles_dir().join("checksum-wrong.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, (fast, wrong, promoted_at, log, telemetry)) = boot_and_drive_on(
        true,
        "immune-disagree",
        "tile-immune-disagree.log",
        Vec::new(),
        tileos_tilectl_wire::PORT,
        ready,
        Duration::from_secs(180),
        disagree_and_roll_back,
    );
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    let (before, after) = outcome.serial.split_at(promoted_at.min(outcome.serial.len()));
    // Nothing was rolled back before the wrong module came. A latency alarm may ask for a
    // rollback then: the install commit (the bundle's signatures checked in the manager's
    // one thread, about 7.5 M instructions) stalls the client's calls, a real p99 spike; with
    // checksum-fast settled there is nothing to roll back and the manager says so.
    for asked in before.lines().filter(|line| line.contains("@event slot.immune-rollback ")) {
        assert!(asked.contains("NothingToRollBack"), "a rollback before checksum-wrong was promoted: {asked}\n{}", outcome.tail(80));
    }
    assert!(!before.contains("SlotDisagreement"), "a disagreement alarm before checksum-wrong was promoted:\n{}", outcome.tail(80));
    // The disagreement alarm on the client, with its evidence, asked for the rollback ...
    let alarm = after
        .lines()
        .find(|line| line.contains("@event immune.alarm domain=checksum-client state=raised metric=SlotDisagreement"))
        .unwrap_or_else(|| panic!("no disagreement alarm after checksum-wrong's promotion:\n{}", outcome.tail(80)));
    assert!(alarm.contains("action=RollbackRequested"), "{alarm}");
    let field = |name: &str| -> f64 {
        alarm.split_whitespace().find_map(|f| f.strip_prefix(&format!("{name}="))).and_then(|v| v.parse().ok()).expect(name)
    };
    // The log prints one decimal: a baseline of no disagreement is 0.0; checksum-wrong
    // disagrees on a share of the requests (data starting with 0x42) far above it.
    assert!(field("baseline") < 0.05 && field("observed") >= 0.05 && field("z") >= 4.0, "evidence: {alarm}");
    // ... the manager took it and rolled back to checksum-fast ...
    outcome.assert_event("immune.rollback-taken", &[("slot", "checksum"), ("domain", "checksum-client"), ("metric", "SlotDisagreement")]);
    let mut rollbacks = outcome.events("slot.immune-rollback");
    rollbacks.retain(|e| e.get("metric") == Some("SlotDisagreement"));
    assert_eq!(rollbacks.len(), 1, "{:?}", rollbacks.iter().map(|e| &e.line).collect::<Vec<_>>());
    assert_eq!(rollbacks[0].get("outcome"), Some("rolled-back"), "{}", rollbacks[0].line);
    assert_eq!(rollbacks[0].get("serving"), Some(fast.to_string().as_str()), "{}", rollbacks[0].line);
    outcome.assert_event("slot.transition", &[("module", &wrong.to_string()), ("from", "promoted"), ("to", "rolled-back")]);
    // ... its update log says why (and verifies) ...
    assert!(log.contains("(signature verified)"), "{log}");
    let entry = log.lines().find(|line| line.contains("rolled back by the immune system")).unwrap_or_else(|| panic!("{log}"));
    assert!(entry.contains("SlotDisagreement drift of domain checksum-client"), "{entry}");
    // ... and the client saw wrong answers only once checksum-wrong ran. (Not "before its
    // promotion line": the manager writes its lines one per client request, so the client's
    // first wrong answer can be logged just before the line of the promotion that caused it;
    // seen in a run. Its start as a challenger is logged well before it can serve.)
    let started = format!("slot=checksum module={wrong} from=installed to=shadowing");
    let running = outcome.serial.find(&started).unwrap_or_else(|| panic!("no line {started:?}"));
    let wrong_answers: Vec<&str> = outcome.serial[..running].lines().filter(|line| line.contains("@event checksum.wrong ")).collect();
    assert!(wrong_answers.is_empty(), "wrong answers before checksum-wrong ran: {wrong_answers:?}");
    // After the rollback (its line is written a few requests after it), checksum-fast serves
    // again with the right streams: from the second round after it on, no new wrong answer.
    let rolled_back = outcome.serial.find(&format!("slot=checksum module={wrong} from=promoted to=rolled-back")).expect("rollback line");
    let wrong_counts: Vec<u64> = outcome.serial[rolled_back..]
        .lines()
        .filter(|line| line.contains("@event checksum.round"))
        .filter_map(|line| line.split_whitespace().find_map(|f| f.strip_prefix("wrong=")).and_then(|v| v.parse().ok()))
        .collect();
    assert!(wrong_counts.windows(2).skip(1).all(|w| w[0] == w[1]), "wrong answers after the rollback: {wrong_counts:?}");
    // The alarm stays raised (nothing new is compared to clear it), and the telemetry
    // figures carry it from the supervisor: `tilectl telemetry` names the drifting domain.
    let drift = telemetry.lines().find(|line| line.starts_with("drift alarm: checksum-client (")).unwrap_or_else(|| panic!("{telemetry}"));
    assert!(drift.contains("SlotDisagreement"), "{drift}");
    // The update agent's and the slot manager's latency reports arrived (docs/telemetry.md,
    // "Who reports").
    for reporter in ["update-agent", "checksum.manager", "checksum-client"] {
        let calls = host::reported_calls(&telemetry, reporter);
        assert!(calls.is_some_and(|calls| calls > 0), "no reported calls of {reporter}:\n{telemetry}");
    }
}
