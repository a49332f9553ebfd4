//! Running QEMU: unattended with a timeout and a serial log file (tests, benchmarks), or
//! attached to the terminal (`make run`, `make debug`).

use crate::machine::{Boot, Machine};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
            RunnerError::Spawn(error) => write!(
                f, "cannot start {QEMU}: {error} (install it with `make deps`, Debian package qemu-system-x86)"
            ),
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
                "expected guest verdict {expected:?}, but the run ended with {:?} after {:.1}s; last serial lines:\n{}",
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
                "the awaited serial text never appeared: the run ended with {:?} after {:.1}s; last serial lines:\n{}",
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
}

/// Boots `boot` on `machine` unattended: serial to `serial_log`, no monitor, no display.
/// Returns when the guest reports a verdict, QEMU exits, or `timeout` passes (QEMU is then
/// killed).
pub fn run(
    machine: &Machine,
    boot: &Boot,
    serial_log: &Path,
    timeout: Duration,
) -> Result<RunOutcome, RunnerError> {
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
    if let Some(dir) = serial_log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RunnerError::SerialLog(dir.into(), e))?;
    }
    std::fs::write(serial_log, b"").map_err(|e| RunnerError::SerialLog(serial_log.into(), e))?;
    let started = Instant::now();
    let mut qemu = Command::new(QEMU)
        .args(machine.args(boot))
        .args(["-monitor", "none", "-serial"])
        .arg(format!("file:{}", serial_log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunnerError::Spawn)?;
    let ended = loop {
        if let Some(status) = qemu.try_wait().map_err(RunnerError::Wait)? {
            let code = status.code();
            break match code.and_then(GuestVerdict::from_qemu_status) {
                Some(verdict) => Ended::Verdict(verdict),
                None => {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = qemu.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                    }
                    Ended::QemuStatus(code, stderr)
                }
            };
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
            if !stop_when.is_empty() && stop_when.iter().all(|text| complete.contains(text)) {
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
    Ok(RunOutcome {
        ended,
        serial: String::from_utf8_lossy(&bytes).replace("\r\n", "\n"),
        elapsed: started.elapsed(),
    })
}

/// Boots `boot` on `machine` attached to this terminal: COM1 and the QEMU monitor share
/// standard input/output (`Ctrl-A X` quits, `Ctrl-A C` toggles the monitor). Returns QEMU's
/// exit status.
pub fn run_interactive(machine: &Machine, boot: &Boot) -> Result<Option<i32>, RunnerError> {
    let status = Command::new(QEMU)
        .args(machine.args(boot))
        .args(["-serial", "mon:stdio"])
        .status()
        .map_err(RunnerError::Spawn)?;
    Ok(status.code())
}
