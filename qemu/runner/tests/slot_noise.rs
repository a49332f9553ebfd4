//! The `NoiseCancelled` comparator on a booted tile (docs/slots.md, "Evidence and the
//! policy": **Comparators**). The incumbent `checksum-noisy` answers every client rightly
//! (`checksum-v1`'s answers) but sends an extra word no client reads after about 1 answer in
//! 8, decided by the time-stamp counter, not by the request (`tileos_checksum::faults::Noisy`),
//! so two replicas of it run side by side differ byte for byte on about 2 answers in 9 (one
//! of the two noisy, not both). Two boots under the same client load (`checksum-client`
//! checks every answer), with scenarios that differ only in the slot's comparator (checked
//! by `the_scenarios_differ_only_in_the_comparator`); the policy allows a tenth of the
//! compared answers to disagree, after the noise, with 400 agreeing:
//!
//! 1. scenario `slot-noise` (`comparator = "noise-cancelled"`): the slot runs a second
//!    replica of the incumbent, whose counts `tilectl status` shows (`replica … agreeing A
//!    disagreeing D`: the noise, D > 0); `checksum-noisy-wrong` (wrong on data starting with
//!    0x42 or an odd byte, about half the client's requests, and the noise) is rejected
//!    (`Disagreed(TooMuchDisagreement { …, noise: Noise { … } })`, its disagreement rate
//!    less the noise above a tenth) and never promotable; `checksum-noisy-fast` (right
//!    answers, the noise) disagrees raw on more than a tenth of its compared answers, yet is
//!    promotable after the noise (`EvidenceSufficient`), is promoted by an unforced
//!    `tilectl promote`, and serves three client rounds with no rollback (the window's
//!    breaker subtracts the noise too). The manager's stack stays within half
//!    (`host::assert_manager_stack_within_half`) and `tilectl log --verify` passes;
//! 2. scenario `slot-noise-exact` (`exact`): no replica runs; the same `checksum-noisy-fast`
//!    is refused every unforced promotion and rejected for its raw disagreement.
//!
//! In both, every round of the client reads `wrong=0 errors=0`, across the switch too.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::RunOutcome;
use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module};
use tileos_qemu::images::workspace_root;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The client rounds required after the noisy challenger's promotion.
const ROUNDS_AFTER: usize = 3;
/// The policy's `max_disagreement` in both scenarios (after the noise under
/// `noise-cancelled`): 1/10.
const ALLOWED: (u64, u64) = (1, 10);
/// The replica's comparisons the test waits for before it installs anything.
const NOISE_SAMPLES: u64 = 300;

/// A row's agreeing, disagreeing and timed-out answers in a tilectl status line.
type Evidence = (u64, u64, u64);

/// Runs one tilectl command against the tile.
fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    host::tilectl(port, command, Duration::from_secs(30))
}

/// The evidence on the status row starting with `prefix` (`  module 2   `, `  replica `).
fn row(status: &str, prefix: &str) -> Option<Evidence> {
    let line = status.lines().find(|line| line.starts_with(prefix))?;
    let field = |key: &str| -> Option<u64> {
        let mut words = line.split_whitespace();
        words.find(|word| *word == key)?;
        words.next()?.parse().ok()
    };
    Some((field("agreeing")?, field("disagreeing")?, field("timeouts")?))
}

/// Module `module`'s evidence in a tilectl status, if the slot lists it.
fn evidence(status: &str, module: u32) -> Option<Evidence> {
    row(status, &format!("  module {module:<3} "))
}

/// The noise replica's (same answers as the serving module's, different ones), if listed.
fn noise(status: &str) -> Option<(u64, u64)> {
    row(status, "  replica ").map(|(agreeing, disagreeing, _)| (agreeing, disagreeing))
}

/// The scenario's lines without comments and blank lines.
fn scenario_lines(name: &str) -> Vec<String> {
    let path = workspace_root().join(format!("qemu/runner/tests/scenarios/{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines().map(|line| line.split('#').next().unwrap_or("").trim().to_owned()).filter(|line| !line.is_empty()).collect()
}

/// The two boots compare the comparators and nothing else.
#[test]
fn the_scenarios_differ_only_in_the_comparator() {
    let noise = scenario_lines("slot-noise");
    let exact = scenario_lines("slot-noise-exact");
    assert_eq!(noise.len(), exact.len(), "the scenarios differ in more than the comparator");
    let differing: Vec<(&str, &str)> = noise.iter().zip(&exact).filter(|(a, b)| a != b).map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        differing,
        vec![
            ("name = \"slot-noise-test\"", "name = \"slot-noise-exact-test\""),
            ("comparator = \"noise-cancelled\"", "comparator = \"exact\"")
        ],
        "the scenarios differ in more than the comparator and the tile's name"
    );
    assert!(noise.contains(&"program = \"checksum-noisy\"".to_owned()), "the incumbent is the noisy one");
    assert!(noise.contains(&format!("max_disagreement = \"{}/{}\"", ALLOWED.0, ALLOWED.1)), "the policy allows {ALLOWED:?}");
}

/// Whether `part` of `whole` is above the policy's share ([`ALLOWED`]).
fn above_allowed(part: u64, whole: u64) -> bool {
    part * ALLOWED.1 > ALLOWED.0 * whole
}

/// Waits until the replica has been compared [`NOISE_SAMPLES`] times: its (agreeing,
/// disagreeing).
fn until_noise_measured(port: u16) -> Result<(u64, u64), String> {
    let status = host::wait_status(port, "the noise measured", 120, Duration::from_millis(300), |status| {
        noise(status).is_some_and(|(agreeing, disagreeing)| agreeing + disagreeing >= NOISE_SAMPLES)
    })?;
    noise(&status).ok_or_else(|| format!("no replica row:\n{status}"))
}

/// Installs `bundle` and waits until the slot has rejected it: its module number and the
/// statuses' evidence of it while it shadowed.
fn until_rejected(port: u16, bundle: &str) -> Result<(u32, Vec<Evidence>, Vec<String>), String> {
    let module = installed_module(&install_bundle(port, SLOT, bundle)?)?;
    let (mut seen, mut refusals) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = tilectl(port, Tilectl::Status)?;
        let Some(found) = evidence(&status, module) else {
            if status.contains("rejected ") && !status.contains("rejected 0,") && status.contains("module 0 serving") {
                return Ok((module, seen, refusals));
            }
            return Err(format!("{bundle} (module {module}) left the slot, but not rejected:\n{status}"));
        };
        seen.push(found);
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module, force: false }) {
            Err(failure) if (failure.contains("Policy") || failure.contains("no module")) && Instant::now() < deadline => {
                refusals.push(failure)
            }
            other => return Err(format!("unforced promotion of {bundle} (module {module}): expected a refusal, got {other:?}")),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the `slot-noise` boot's host side saw.
struct UnderNoise {
    /// The replica's (agreeing, disagreeing) before any install.
    noise_before: (u64, u64),
    /// `checksum-noisy-wrong`'s module.
    wrong: u32,
    /// Refusals of its unforced promotions.
    wrong_refusals: Vec<String>,
    /// `checksum-noisy-fast`'s module.
    fast: u32,
    /// Its evidence and the replica's in the last status before the accepted promotion.
    fast_evidence: Evidence,
    /// The replica's (agreeing, disagreeing) then.
    noise_at_promotion: (u64, u64),
    /// Unforced promotions refused before the accepted one.
    refusals: Vec<String>,
    /// The serial log's length just before the accepted promotion.
    promoted_at: usize,
    /// The status after the client's rounds past the promotion.
    status: String,
    /// `tilectl log --verify`'s output at the end.
    log: String,
}

/// Boot 1 (`noise-cancelled`): the noise measured, the noisy wrong challenger rejected, the
/// noisy right one promoted by the policy's evidence, then serving [`ROUNDS_AFTER`] client
/// rounds.
fn drive_noise(port: u16, serial: &Path) -> Result<UnderNoise, String> {
    let noise_before = until_noise_measured(port)?;
    let (wrong, _, wrong_refusals) = until_rejected(port, "checksum-noisy-wrong")?;
    let fast = installed_module(&install_bundle(port, SLOT, "checksum-noisy-fast")?)?;
    let mut refusals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (promoted_at, fast_evidence, noise_at_promotion) = loop {
        let status = tilectl(port, Tilectl::Status)?;
        let seen = (evidence(&status, fast), noise(&status));
        let promoted_at = host::serial_text(serial).len();
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module: fast, force: false }) {
            Ok(_) => {
                let (Some(found), Some(noise)) = seen else {
                    return Err(format!("promoted, but the status before showed no evidence or no replica:\n{status}"));
                };
                break (promoted_at, found, noise);
            }
            // Refused while its evidence is short: too few agreeing, the soak, or (on its
            // first few answers) a disagreement rate above the noise's by chance.
            Err(failure)
                if (failure.contains("Insufficient(") || failure.contains("NotShadowing(Installed)")) && Instant::now() < deadline =>
            {
                refusals.push(failure);
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(failure) => return Err(format!("unforced promotion of checksum-noisy-fast (module {fast}): {failure}")),
        }
    };
    host::wait_status(port, "checksum-noisy-fast serving", 30, Duration::from_millis(300), |status| {
        status.contains(&format!("module {fast} serving"))
    })?;
    host::wait_client_rounds(serial, promoted_at, ROUNDS_AFTER, 60)?;
    let status = tilectl(port, Tilectl::Status)?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    Ok(UnderNoise { noise_before, wrong, wrong_refusals, fast, fast_evidence, noise_at_promotion, refusals, promoted_at, status, log })
}

/// The reason of module `module`'s rejection in `serial` (`Disagreed(…)`), if it was rejected.
fn rejection(serial: &str, module: u32) -> Option<String> {
    let needle = format!("@event slot.transition slot={SLOT} module={module} from=shadowing to=rejected reason=");
    host::whole_lines_with(serial, &needle).first().and_then(|line| line.split("reason=").nth(1)).map(|reason| reason.trim().to_owned())
}

/// The number in `text` after `key` (`disagreeing: 52,` → 52).
fn number_after(text: &str, key: &str) -> Option<u64> {
    text.split(key).nth(1)?.split(|c: char| !c.is_ascii_digit()).find(|part| !part.is_empty())?.parse().ok()
}

/// A `TooMuchDisagreement` rejection's (disagreeing + timeouts, compared, noise disagreeing,
/// noise compared).
fn rejected_figures(reason: &str) -> (u64, u64, u64, u64) {
    assert!(reason.starts_with("Disagreed(TooMuchDisagreement"), "{reason}");
    let field = |text: &str, key| number_after(text, key).unwrap_or_else(|| panic!("no {key:?} in {reason}"));
    let (own, noise) = reason.split_once("noise: Noise").unwrap_or_else(|| panic!("no noise in {reason}"));
    (
        field(own, "disagreeing: ") + field(own, "timeouts: "),
        field(own, "compared: "),
        field(noise, "disagreeing: "),
        field(noise, "compared: "),
    )
}

/// `a/b`, in per cent with one decimal, for the report.
fn percent(a: u64, b: u64) -> String {
    format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64)
}

/// Every `checksum.round` of the client reads `wrong=0 errors=0`: the number of rounds.
fn assert_client_right(outcome: &RunOutcome) -> usize {
    let rounds = host::check_client_rounds(&outcome.serial, 0, 0);
    assert_eq!(rounds.errors, 0, "{}", outcome.tail(20));
    rounds.rounds
}

#[test]
fn noise_cancelled_promotes_the_noisy_right_challenger_rejects_the_noisy_wrong_one_exact_never_promotes_it() {
    // Boot 1: comparator "noise-cancelled".
    let started = Instant::now();
    let (outcome, seen) = boot_slot("slot-noise", "tile-slot-noise.log", drive_noise);
    let noise_seconds = started.elapsed().as_secs();
    let serial = &outcome.serial;

    // The noise, measured by the replica and shown by the status: non-zero, about 2 in 9.
    let (agreeing, disagreeing) = seen.noise_before;
    assert!(disagreeing > 0, "the replica never differed from the incumbent: {agreeing} agreeing");
    let noise_compared = agreeing + disagreeing;
    assert!(
        disagreeing * 20 > noise_compared && disagreeing * 20 < noise_compared * 8,
        "the noise {disagreeing} of {noise_compared} is not between 5% and 40%"
    );

    // The wrong one: rejected for disagreement after the noise, never promotable.
    let wrong = seen.wrong;
    let wrong_reason = rejection(serial, wrong)
        .unwrap_or_else(|| panic!("checksum-noisy-wrong (module {wrong}) was never rejected:\n{}", outcome.tail(40)));
    let (w_against, w_compared, w_noise_d, w_noise_n) = rejected_figures(&wrong_reason);
    assert!(w_noise_d > 0 && w_noise_n >= NOISE_SAMPLES, "the rejection subtracted no noise: {wrong_reason}");
    assert!(!serial.contains(&format!("module={wrong} from=shadowing to=promotable")), "checksum-noisy-wrong became promotable");
    for refusal in &seen.wrong_refusals {
        assert!(
            refusal.contains("Insufficient(") || refusal.contains("NotShadowing(Installed)") || refusal.contains("no module"),
            "checksum-noisy-wrong's promotion refused for another reason: {refusal}"
        );
    }

    // The right one: its raw disagreement above the allowed tenth, within it after the noise.
    let fast = seen.fast;
    let (f_agreeing, f_disagreeing, f_timeouts) = seen.fast_evidence;
    let f_compared = f_agreeing + f_disagreeing + f_timeouts;
    assert!(f_agreeing >= 400, "promoted on {f_agreeing} agreeing (the policy needs 400)");
    assert!(
        above_allowed(f_disagreeing + f_timeouts, f_compared),
        "checksum-noisy-fast's raw disagreement {} of {f_compared} is within the allowed tenth: the noise was not needed",
        f_disagreeing + f_timeouts
    );
    let (n_agreeing, n_disagreeing) = seen.noise_at_promotion;
    let n_compared = n_agreeing + n_disagreeing;
    // (D+T)/N − d/n ≤ 1/10, in integers: ((D+T)·n − d·N)·10 ≤ N·n.
    let excess = ((f_disagreeing + f_timeouts) * n_compared).saturating_sub(n_disagreeing * f_compared);
    assert!(excess * ALLOWED.1 <= ALLOWED.0 * f_compared * n_compared, "promoted although above the allowed share after the noise");
    // Refused only while its evidence was short: a disagreement rate above the allowed one
    // after the noise only on fewer compared answers than the policy's 400.
    for refusal in &seen.refusals {
        let short = refusal.contains("TooFewAgreeing")
            || refusal.contains("SoakTooShort")
            || refusal.contains("NotShadowing(Installed)")
            || (refusal.contains("TooMuchDisagreement") && number_after(refusal, "compared: ").is_some_and(|n| n < 400));
        assert!(short, "a refusal for another reason than short evidence: {refusal}");
    }
    outcome.assert_serial_contains(&format!("module={fast} from=shadowing to=promotable reason=EvidenceSufficient"));
    outcome.assert_serial_contains(&format!("module={fast} from=promotable to=promoted"));
    assert!(!serial.contains("to=rolled-back"), "a rollback under noise-cancelled:\n{}", outcome.tail(40));
    assert!(seen.status.contains(&format!("module {fast} serving")), "{}", seen.status);
    assert!(seen.status.contains("rejected 1,") && seen.status.contains("rolled back 0;"), "{}", seen.status);
    // The replica gets no copies while the window is open: the status still shows the noise
    // measured before the promotion (reset when it settles), but for the copies sent between
    // the status read before the promotion and the promotion (a few tens), not the client's
    // [`ROUNDS_AFTER`] rounds of 500 since.
    let replica_row = seen.status.lines().find(|line| line.starts_with("  replica ")).unwrap_or_default().to_owned();
    let (final_agreeing, final_disagreeing) = noise(&seen.status).unwrap_or_else(|| panic!("no replica row:\n{}", seen.status));
    let more = (final_agreeing + final_disagreeing).checked_sub(n_compared);
    assert!(more.is_some_and(|more| more <= 200), "the replica compared {more:?} more after the promotion:\n{}", seen.status);
    let rounds = assert_client_right(&outcome);
    let after = host::whole_lines_with(&serial[seen.promoted_at.min(serial.len())..], "@event checksum.round ").len();
    assert!(after >= ROUNDS_AFTER, "{after} client rounds after the promotion");
    let (used, size) = host::assert_manager_stack_within_half(serial, SLOT);
    // The log verified: both installs, each refused unforced promotion (an entry each), the
    // promotion last, no rollback.
    let log = &seen.log;
    assert!(log.contains("(signature verified)"), "{log}");
    let entries: Vec<&str> = log.lines().skip(1).filter(|line| !line.starts_with("consistency:")).collect();
    for module in [wrong, fast] {
        assert!(entries.iter().any(|e| e.contains(&format!("installed as module {module} "))), "no install of module {module}:\n{log}");
    }
    assert!(entries.last().is_some_and(|e| e.contains(" promote ") && e.contains("promoted by hand")), "{log}");
    assert!(!entries.iter().any(|e| e.contains(" rollback ")), "{log}");

    // Boot 2: comparator "exact".
    let started = Instant::now();
    let (exact_outcome, (module, exact_evidence, exact_refusals, exact_status)) =
        boot_slot("slot-noise-exact", "tile-slot-noise-exact.log", |port, _| {
            let status = tilectl(port, Tilectl::Status)?;
            let (module, evidence, refusals) = until_rejected(port, "checksum-noisy-fast")?;
            Ok((module, evidence, refusals, status))
        });
    let exact_seconds = started.elapsed().as_secs();
    let exact_serial = &exact_outcome.serial;
    assert!(noise(&exact_status).is_none(), "a replica under exact:\n{exact_status}");
    assert!(!exact_evidence.is_empty(), "no status showed checksum-noisy-fast shadowing under exact");
    for refusal in &exact_refusals {
        assert!(
            refusal.contains("Insufficient(") || refusal.contains("NotShadowing(Installed)") || refusal.contains("no module"),
            "an unforced promotion under exact refused for another reason: {refusal}"
        );
    }
    let exact_reason = rejection(exact_serial, module)
        .unwrap_or_else(|| panic!("checksum-noisy-fast (module {module}) was never rejected under exact:\n{}", exact_outcome.tail(40)));
    let (e_against, e_compared, e_noise_d, e_noise_n) = rejected_figures(&exact_reason);
    assert_eq!((e_noise_d, e_noise_n), (0, 0), "noise under exact: {exact_reason}");
    assert!(above_allowed(e_against, e_compared), "{exact_reason}");
    assert!(!exact_serial.contains(&format!("module={module} from=shadowing to=promotable")), "promotable under exact");
    assert!(!exact_serial.contains("to=promoted"), "a promotion under exact");
    let exact_rounds = assert_client_right(&exact_outcome);

    eprintln!(
        "slot_noise: noise-cancelled: noise {disagreeing} of {noise_compared} ({}) before any install; checksum-noisy-wrong \
         rejected on {w_against} of {w_compared} ({}) less noise {w_noise_d} of {w_noise_n} ({}); checksum-noisy-fast promoted \
         on {} of {f_compared} disagreeing ({} raw) less noise {n_disagreeing} of {n_compared} ({}), after {} refusals; \
         {rounds} client rounds ({after} after the promotion); manager stack {used} of {size} bytes; {noise_seconds} s. \
         exact: checksum-noisy-fast rejected on {e_against} of {e_compared} ({}), {} refusals, {exact_rounds} client rounds, \
         {exact_seconds} s; the last status's replica row: {replica_row:?}",
        percent(disagreeing, noise_compared),
        percent(w_against, w_compared),
        percent(w_noise_d, w_noise_n),
        f_disagreeing + f_timeouts,
        percent(f_disagreeing + f_timeouts, f_compared),
        percent(n_disagreeing, n_compared),
        seen.refusals.len(),
        percent(e_against, e_compared),
        exact_refusals.len(),
    );
}

/// Boots `scenario` (serial log `log` in the test logs) and runs `drive` once the update
/// agent and the slot serve; panics on a kernel exception, a panic or a failed check in its
/// serial log.
fn boot_slot<T: Send + 'static>(
    scenario: &str,
    log: &str,
    drive: impl FnOnce(u16, &Path) -> Result<T, String> + Send + 'static,
) -> (RunOutcome, T) {
    for bundle in ["checksum-noisy-fast", "checksum-noisy-wrong"] {
        assert!(host::bundles_dir().join(format!("{bundle}.bundle")).is_file(), "no {bundle} bundle: run `make bundles`");
    }
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, value) = boot_and_drive(scenario, log, Vec::new(), PORT, ready, TIMEOUT, drive);
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked", "FAIL:"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    (outcome, value)
}
