//! Running QEMU: unattended with a timeout and a serial log file (tests, benchmarks), or
//! attached to the terminal (`make run`, `make debug`).

use crate::machine::{Boot, Machine};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tileos_abi::test_exit::GuestVerdict;

/// The QEMU program for the x86_64 machine.
pub const QEMU: &str = "qemu-system-x86_64";

/// Why QEMU could not be run at all.
#[derive(Debug)]
pub enum RunnerError {
    /// QEMU could not be started (usually not installed: `make deps` installs it).
    Spawn(std::io::Error),
    /// Waiting for or killing QEMU failed.
    Wait(std::io::Error),
    /// The serial log file could not be created or read.
    SerialLog(PathBuf, std::io::Error),
}

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerError::Spawn(error) => {
                write!(f, "cannot start {QEMU}: {error} (install it with `make deps`, Debian package qemu-system-x86)")
            }
            RunnerError::Wait(error) => write!(f, "lost track of {QEMU}: {error}"),
            RunnerError::SerialLog(path, error) => {
                write!(f, "serial log {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for RunnerError {}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The guest wrote its verdict to the isa-debug-exit device.
    Verdict(GuestVerdict),
    /// QEMU exited with a status that is no guest verdict (QEMU error, reset with
    /// `-no-reboot`, or shutdown).
    QemuStatus(Option<i32>, String),
    /// The wall-clock timeout passed; QEMU was killed.
    TimedOut(Duration),
    /// The serial log showed the text the run was waiting for; QEMU was stopped (for
    /// systems that run forever, such as a tile with its domains).
    Reached(String),
    /// The serial log showed a text that marks failure (see [`run_watch`]); QEMU was
    /// stopped. Holds the first complete line containing it.
    Failed(String),
}

impl Ended {
    /// How a QEMU process that exited by itself with `status` (`None`: killed by a signal)
    /// ended: the guest's verdict when the status encodes one, else [`Ended::QemuStatus`]
    /// with `stderr`, what QEMU printed.
    pub fn from_qemu_exit(status: Option<i32>, stderr: String) -> Ended {
        match status.and_then(GuestVerdict::from_qemu_status) {
            Some(verdict) => Ended::Verdict(verdict),
            None => Ended::QemuStatus(status, stderr),
        }
    }
}

/// In words, for people: `the guest reported a pass`, `the guest ended without reporting a
/// verdict (QEMU exited with status 1: …)`, `timed out after 30 s …`.
impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Verdict(GuestVerdict::Pass) => f.write_str("the guest reported a pass"),
            Ended::Verdict(GuestVerdict::Fail) => f.write_str("the guest reported a failed check (the serial log says which)"),
            Ended::Verdict(GuestVerdict::KernelException) => {
                f.write_str("the guest reported a CPU exception in the kernel (the serial log has the report)")
            }
            Ended::Verdict(GuestVerdict::Panic) => f.write_str("the guest reported a panic (the serial log has file, line and message)"),
            Ended::QemuStatus(Some(0), _) => f.write_str(
                "the guest ended without reporting a verdict (QEMU exited with status 0: it was quit, or the guest shut down or reset)",
            ),
            Ended::QemuStatus(Some(code), stderr) => {
                write!(f, "the guest ended without reporting a verdict (QEMU exited with status {code}")?;
                match stderr.trim() {
                    "" => f.write_str(")"),
                    message => write!(f, ": {message})"),
                }
            }
            Ended::QemuStatus(None, _) => f.write_str("the guest ended without reporting a verdict (QEMU was killed by a signal)"),
            Ended::TimedOut(timeout) => write!(f, "timed out after {} s without a guest verdict (QEMU was stopped)", timeout.as_secs_f64()),
            Ended::Reached(text) => write!(f, "the serial log showed the awaited {text:?} (QEMU was stopped)"),
            Ended::Failed(line) => write!(f, "the serial log showed a failure (QEMU was stopped): {line}"),
        }
    }
}

/// Result of an unattended run.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// How the run ended.
    pub ended: Ended,
    /// Everything the guest wrote to COM1.
    pub serial: String,
    /// Wall-clock time the run took.
    pub elapsed: Duration,
}

impl RunOutcome {
    /// The last `lines` lines of the serial log, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.serial.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Panics (failing the calling test) unless the guest reported `expected`; the message
    /// names what happened instead and shows the end of the serial log.
    pub fn assert_verdict(&self, expected: GuestVerdict) {
        if self.ended != Ended::Verdict(expected) {
            panic!(
                "expected guest verdict {expected:?}, but {}; the run took {:.1} s; last serial lines:\n{}",
                self.ended,
                self.elapsed.as_secs_f64(),
                self.tail(30)
            );
        }
    }

    /// Panics (failing the calling test) unless the run reached the awaited serial text.
    pub fn assert_reached(&self) {
        if !matches!(self.ended, Ended::Reached(_)) {
            panic!(
                "the awaited serial text never appeared: {}; the run took {:.1} s; last serial lines:\n{}",
                self.ended,
                self.elapsed.as_secs_f64(),
                self.tail(40)
            );
        }
    }

    /// Panics unless the serial log contains `needle`, showing the end of the log.
    pub fn assert_serial_contains(&self, needle: &str) {
        if !self.serial.contains(needle) {
            panic!("serial log lacks {needle:?}; last serial lines:\n{}", self.tail(30));
        }
    }

    /// The first netstack line reporting a non-zero number of ring errors (`netstack: N
    /// frames dropped (transmit ring full), M ring errors (last …)`; the same line with
    /// `0 ring errors` reports transmit drops only, which are no failure).
    pub fn netstack_ring_errors(&self) -> Option<&str> {
        self.serial.lines().find(|line| {
            line.split_once(" ring errors (last").and_then(|(head, _)| head.rsplit(' ').next()).is_some_and(|count| count != "0")
        })
    }

    /// The event lines named `name` among the serial log's whole lines, in order
    /// (docs/architecture.md, "Event lines"): a last line the run was stopped in the middle
    /// of (no newline yet) is left out, so a test that stops QEMU while a domain prints reads
    /// no half line (the runner stops on markers in whole lines only, but QEMU keeps printing
    /// until it is killed).
    pub fn events(&self, name: &str) -> Vec<Event> {
        let whole = self.serial.rfind('\n').map_or("", |end| &self.serial[..end]);
        whole.lines().filter_map(Event::parse).filter(|event| event.name == name).collect()
    }

    /// Panics unless some event line named `name` has every one of the `fields` (key and
    /// value; other fields may be present too), showing that event's lines and the end of
    /// the log.
    pub fn assert_event(&self, name: &str, fields: &[(&str, &str)]) {
        let events = self.events(name);
        if !events.iter().any(|event| event.has(fields)) {
            let seen: Vec<String> = events.iter().map(|event| event.line.clone()).collect();
            panic!("no event \"{name}\" with {fields:?}; events of that name:\n{}\nlast serial lines:\n{}", seen.join("\n"), self.tail(30));
        }
    }
}

/// A structured marker line, `@event NAME key=value …` (docs/architecture.md, "Event
/// lines"): what `tileos_sys::event!` and `log_event!` print beside a human-readable log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's name (`domain.stopped`).
    pub name: String,
    /// Its fields in order.
    pub fields: Vec<(String, String)>,
    /// The whole line, for messages.
    pub line: String,
}

impl Event {
    /// The event on `line`, if it is an event line (anywhere on the line: a domain's output
    /// may follow a prefix).
    pub fn parse(line: &str) -> Option<Event> {
        let (_, rest) = line.split_once("@event ")?;
        let mut words = rest.split_whitespace();
        let name = words.next()?.to_string();
        let fields = words.filter_map(|word| word.split_once('=')).map(|(key, value)| (key.to_string(), value.to_string())).collect();
        Some(Event { name, fields, line: line.trim_end().to_string() })
    }

    /// The value of field `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether every one of `fields` is present with its value.
    pub fn has(&self, fields: &[(&str, &str)]) -> bool {
        fields.iter().all(|&(key, value)| self.get(key) == Some(value))
    }
}

/// Boots `boot` on `machine` unattended: serial to `serial_log`, no monitor, no display.
/// Returns when the guest reports a verdict, QEMU exits, or `timeout` passes (QEMU is then
/// killed).
pub fn run(machine: &Machine, boot: &Boot, serial_log: &Path, timeout: Duration) -> Result<RunOutcome, RunnerError> {
    run_until(machine, boot, serial_log, timeout, &[])
}

/// As [`run`], but also stops QEMU as soon as the complete lines of the serial log contain
/// every text in `stop_when` (if it is not empty; the run then ends as [`Ended::Reached`]).
pub fn run_until(
    machine: &Machine,
    boot: &Boot,
    serial_log: &Path,
    timeout: Duration,
    stop_when: &[&str],
) -> Result<RunOutcome, RunnerError> {
    run_watch(machine, boot, serial_log, timeout, stop_when, &[])
}

/// As [`run_until`], but also stops QEMU as soon as a complete line of the serial log
/// contains any text in `fail_when` (the run then ends as [`Ended::Failed`]), so that a
/// guest that reports failure and waits forever does not cost the whole timeout.
pub fn run_watch(
    machine: &Machine,
    boot: &Boot,
    serial_log: &Path,
    timeout: Duration,
    stop_when: &[&str],
    fail_when: &[&str],
) -> Result<RunOutcome, RunnerError> {
    watch(machine, boot, serial_log, timeout, stop_when, fail_when, None)
}

/// [`run_until`] for a test whose host side talks to the guest: QEMU is stopped only once
/// every marker is in the log *and* `host_done` is set (by the host side when it has its
/// answers, or gave up), so a guest that logs an answer just before sending it is not
/// stopped in between.
pub fn run_until_host_done(
    machine: &Machine,
    boot: &Boot,
    serial_log: &Path,
    timeout: Duration,
    stop_when: &[&str],
    host_done: &AtomicBool,
) -> Result<RunOutcome, RunnerError> {
    watch(machine, boot, serial_log, timeout, stop_when, &[], Some(host_done))
}

/// Starts QEMU unattended: serial to `serial_log` (emptied first), no monitor, no display,
/// standard error kept for the reason of an early exit.
pub(crate) fn spawn_unattended(machine: &Machine, boot: &Boot, serial_log: &Path) -> Result<std::process::Child, RunnerError> {
    std::fs::write(serial_log, b"").map_err(|e| RunnerError::SerialLog(serial_log.into(), e))?;
    Command::new(QEMU)
        .args(machine.args(boot))
        .args(["-monitor", "none", "-serial"])
        .arg(format!("file:{}", serial_log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunnerError::Spawn)
}

fn watch(
    machine: &Machine,
    boot: &Boot,
    serial_log: &Path,
    timeout: Duration,
    stop_when: &[&str],
    fail_when: &[&str],
    host_done: Option<&AtomicBool>,
) -> Result<RunOutcome, RunnerError> {
    if let Some(dir) = serial_log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RunnerError::SerialLog(dir.into(), e))?;
    }
    let started = Instant::now();
    let mut qemu = spawn_unattended(machine, boot, serial_log)?;
    let ended = loop {
        if let Some(status) = qemu.try_wait().map_err(RunnerError::Wait)? {
            let mut stderr = String::new();
            if let Some(mut pipe) = qemu.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            break Ended::from_qemu_exit(status.code(), stderr);
        }
        if !stop_when.is_empty() || !fail_when.is_empty() {
            let log = std::fs::read(serial_log).map_err(|e| RunnerError::SerialLog(serial_log.into(), e))?;
            let log = String::from_utf8_lossy(&log).replace("\r\n", "\n");
            // Only whole lines count: a marker seen in a half-written line would stop QEMU
            // before the rest of that line (which the test checks) arrives.
            let complete = &log[..log.rfind('\n').map_or(0, |end| end + 1)];
            if let Some(line) = complete.lines().find(|line| fail_when.iter().any(|text| line.contains(text))) {
                let line = line.to_string();
                qemu.kill().map_err(RunnerError::Wait)?;
                qemu.wait().map_err(RunnerError::Wait)?;
                break Ended::Failed(line);
            }
            let host_finished = host_done.is_none_or(|done| done.load(Ordering::SeqCst));
            if !stop_when.is_empty() && host_finished && stop_when.iter().all(|text| complete.contains(text)) {
                qemu.kill().map_err(RunnerError::Wait)?;
                qemu.wait().map_err(RunnerError::Wait)?;
                break Ended::Reached(stop_when.join(" + "));
            }
        }
        if started.elapsed() >= timeout {
            qemu.kill().map_err(RunnerError::Wait)?;
            qemu.wait().map_err(RunnerError::Wait)?;
            break Ended::TimedOut(timeout);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let bytes = std::fs::read(serial_log).map_err(|e| RunnerError::SerialLog(serial_log.into(), e))?;
    Ok(RunOutcome { ended, serial: String::from_utf8_lossy(&bytes).replace("\r\n", "\n"), elapsed: started.elapsed() })
}

/// Boots `boot` on `machine` attached to this terminal: COM1 and the QEMU monitor share
/// standard input/output (`Ctrl-A X` quits, `Ctrl-A C` toggles the monitor). Returns QEMU's
/// exit status.
pub fn run_interactive(machine: &Machine, boot: &Boot) -> Result<Option<i32>, RunnerError> {
    let status = Command::new(QEMU).args(machine.args(boot)).args(["-serial", "mon:stdio"]).status().map_err(RunnerError::Spawn)?;
    Ok(status.code())
}

#[cfg(test)]
mod event_tests {
    use super::{Ended, Event, RunOutcome};
    use std::time::Duration;

    #[test]
    fn event_lines_parse_and_match_on_fields() {
        let serial = "supervisor: domain \"flaky\" (generation 0) stopped: page fault at address 0x0 (rip 0x1)\n\
                      @event domain.stopped domain=flaky generation=0 fault=page-fault address=0x0\n\
                      @event domain.restarted domain=flaky generation=1 restart=1 max=2\n";
        let outcome = RunOutcome { ended: Ended::Reached(String::new()), serial: serial.into(), elapsed: Duration::ZERO };
        let stopped = outcome.events("domain.stopped");
        assert_eq!(stopped.len(), 1);
        assert_eq!(stopped[0].get("fault"), Some("page-fault"));
        assert!(stopped[0].has(&[("domain", "flaky"), ("address", "0x0")]));
        assert!(!stopped[0].has(&[("domain", "flaky"), ("generation", "1")]));
        outcome.assert_event("domain.restarted", &[("domain", "flaky"), ("generation", "1")]);
        assert_eq!(Event::parse("no event here"), None);
        assert_eq!(Event::parse("@event bare").map(|e| e.fields.len()), Some(0));
    }

    #[test]
    fn transmit_drops_without_ring_errors_are_no_failure() {
        let outcome = |serial: &str| RunOutcome { ended: Ended::Reached(String::new()), serial: serial.into(), elapsed: Duration::ZERO };
        let drops = "net: 1 received frames dropped so far (receive ring full)\nnetstack: 1 frames dropped (transmit ring full), 0 ring errors (last None)\n";
        assert_eq!(outcome(drops).netstack_ring_errors(), None);
        let errors = "netstack: 1 frames dropped (transmit ring full), 2 ring errors (last Some(BadDescriptor))";
        assert_eq!(outcome(errors).netstack_ring_errors(), Some(errors));
    }

    #[test]
    #[should_panic(expected = "no event \"domain.restarted\"")]
    fn a_missing_event_fails_naming_it() {
        let outcome = RunOutcome {
            ended: Ended::Reached(String::new()),
            serial: "@event domain.restarted domain=a\n".into(),
            elapsed: Duration::ZERO,
        };
        outcome.assert_event("domain.restarted", &[("domain", "b")]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qemu_status_decodes_to_the_guest_verdict_or_stays_a_status() {
        assert_eq!(Ended::from_qemu_exit(Some(0x21), String::new()), Ended::Verdict(GuestVerdict::Pass));
        assert_eq!(Ended::from_qemu_exit(Some(0x27), String::new()), Ended::Verdict(GuestVerdict::Panic));
        assert_eq!(Ended::from_qemu_exit(Some(1), "e".into()), Ended::QemuStatus(Some(1), "e".into()));
        assert_eq!(Ended::from_qemu_exit(None, String::new()), Ended::QemuStatus(None, String::new()));
    }

    #[test]
    fn every_ending_is_said_in_words() {
        let said = |ended: Ended| ended.to_string();
        assert_eq!(said(Ended::Verdict(GuestVerdict::Pass)), "the guest reported a pass");
        assert!(said(Ended::Verdict(GuestVerdict::Fail)).starts_with("the guest reported a failed check"));
        assert_eq!(
            said(Ended::QemuStatus(Some(1), "qemu-system-x86_64: Could not set up host forwarding rule\n".into())),
            "the guest ended without reporting a verdict (QEMU exited with status 1: qemu-system-x86_64: Could not set up host forwarding rule)"
        );
        assert_eq!(
            said(Ended::QemuStatus(Some(3), String::new())),
            "the guest ended without reporting a verdict (QEMU exited with status 3)"
        );
        assert!(said(Ended::QemuStatus(Some(0), String::new())).contains("QEMU exited with status 0"));
        assert!(said(Ended::QemuStatus(None, String::new())).contains("killed by a signal"));
        assert_eq!(said(Ended::TimedOut(Duration::from_secs(30))), "timed out after 30 s without a guest verdict (QEMU was stopped)");
        assert!(said(Ended::Failed("ktest x ... FAIL".into())).ends_with("ktest x ... FAIL"));
        for ended in [Ended::Verdict(GuestVerdict::KernelException), Ended::Reached("ready".into())] {
            let text = said(ended);
            assert!(!text.contains("None") && !text.contains("Some("), "{text}");
        }
    }

    #[test]
    fn events_are_read_from_whole_lines_only() {
        let outcome = RunOutcome {
            ended: Ended::Reached("ready".into()),
            serial: "@event checksum.round client=a n=1000 wrong=0\nboot\n@event checksum.round client=chec".into(),
            elapsed: Duration::ZERO,
        };
        let rounds = outcome.events("checksum.round");
        assert_eq!(rounds.len(), 1, "the cut last line is not an event");
        assert!(rounds[0].has(&[("client", "a"), ("wrong", "0")]));
    }
}
