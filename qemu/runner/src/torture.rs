//! The store's power-cut torture (`make torture CYCLES=N`, docs/store.md): boots scenario
//! `torture` (the store and the store-writer domain on one NVMe disk image) again and
//! again, and kills QEMU with SIGKILL at a random moment of each run — after a random
//! number of acknowledged writes, or a few milliseconds into a compaction. At each boot
//! the writer lists and reads back everything the store kept (`@event torture.present`),
//! and the host checks it against what the writer had acknowledged before the kill:
//!
//! - **lost**: a number whose put was acknowledged as durable (or was followed by a
//!   durable acknowledgement, which makes everything before it durable), and whose delete
//!   was never started, is missing;
//! - **resurrected**: a number whose delete was acknowledged as durable is back;
//! - **bad**: a value the writer read back is not exactly what it wrote (a partial write
//!   became visible, or data was damaged).
//!
//! The run is repeatable in what it asks for (the seed picks every kill point), not in
//! where exactly QEMU is when the signal lands: that is the point.

use crate::{Boot, Event, Machine};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a torture run is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Boots (each ending in a kill, except a last one that only checks).
    pub cycles: u32,
    /// Seed of the kill points.
    pub seed: u64,
    /// The disk image (created empty if missing; kept between cycles).
    pub disk: PathBuf,
    /// Where each boot's serial log goes (`cycle.log`, overwritten).
    pub serial_log: PathBuf,
    /// How long one boot may take to reach its check.
    pub boot_timeout: Duration,
}

/// What a torture run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Boots that ended in a kill.
    pub cycles: u32,
    /// Kills that landed during a compaction.
    pub kills_during_compaction: u32,
    /// Writes the writer acknowledged (durable and buffered).
    pub acknowledged: u64,
    /// Of them, durable ones (or made durable by a later durable one).
    pub durable: u64,
    /// Durable writes found intact at a later boot.
    pub verified: u64,
    /// Durable writes missing at a later boot: `cycle N: number M`.
    pub lost: Vec<String>,
    /// Durably deleted numbers found again.
    pub resurrected: Vec<String>,
    /// Values read back wrong (`@event torture.bad` lines).
    pub bad: Vec<String>,
}

impl Report {
    /// Whether nothing was lost, resurrected or damaged.
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.resurrected.is_empty() && self.bad.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "torture: {} cycles ({} killed during compaction), {} writes acknowledged ({} durable), {} verified, {} lost, {} resurrected, {} bad",
            self.cycles,
            self.kills_during_compaction,
            self.acknowledged,
            self.durable,
            self.verified,
            self.lost.len(),
            self.resurrected.len(),
            self.bad.len()
        )?;
        for (kind, list) in [("lost", &self.lost), ("resurrected", &self.resurrected), ("bad", &self.bad)] {
            for entry in list.iter().take(20) {
                writeln!(f, "torture: {kind}: {entry}")?;
            }
        }
        Ok(())
    }
}

/// What the host knows of the writer's numbers, from the acknowledgements it saw.
#[derive(Debug, Default)]
struct Model {
    /// Acknowledged durable, delete not started: must be present.
    durable: BTreeSet<u64>,
    /// Acknowledged buffered, not yet followed by a durable acknowledgement.
    pending: BTreeSet<u64>,
    /// Deleted with a durable acknowledgement: must be absent.
    gone: BTreeSet<u64>,
    /// Deleted with a buffered acknowledgement, not yet made durable.
    pending_deletes: BTreeSet<u64>,
}

impl Model {
    /// Takes one writer event into account; returns whether it acknowledged a put.
    fn apply(&mut self, event: &Event, report: &mut Report) {
        let seq = event.get("seq").and_then(|seq| seq.parse::<u64>().ok());
        let durable = event.get("durable") == Some("1");
        match (event.name.as_str(), seq) {
            ("torture.ack", Some(seq)) => {
                report.acknowledged += 1;
                self.pending.insert(seq);
                if durable {
                    self.make_durable(report);
                }
            }
            ("torture.deleting", Some(seq)) => {
                self.durable.remove(&seq);
                self.pending.remove(&seq);
            }
            ("torture.deleted", Some(seq)) => {
                self.pending_deletes.insert(seq);
                if durable {
                    self.make_durable(report);
                }
            }
            _ => {}
        }
    }

    /// A durable acknowledgement: everything acknowledged before it is durable too.
    fn make_durable(&mut self, report: &mut Report) {
        report.durable += self.pending.len() as u64;
        self.durable.append(&mut self.pending);
        self.gone.append(&mut self.pending_deletes);
    }

    /// Checks what a boot found; forgets what a crash may have taken.
    fn check(&mut self, cycle: u32, present: &BTreeSet<u64>, report: &mut Report) {
        for &seq in &self.durable {
            if present.contains(&seq) {
                report.verified += 1;
            } else {
                report.lost.push(format!("cycle {cycle}: number {seq}"));
            }
        }
        self.durable.retain(|seq| present.contains(seq));
        for &seq in self.gone.intersection(present) {
            report.resurrected.push(format!("cycle {cycle}: number {seq}"));
        }
        // Buffered changes the crash did not keep are gone; those it kept are on the disk
        // now, but promise nothing.
        self.pending.clear();
        self.pending_deletes.clear();
    }
}

/// Parses `ranges=1-5,7` into the numbers.
fn parse_ranges(ranges: &str) -> Option<BTreeSet<u64>> {
    let mut numbers = BTreeSet::new();
    if ranges == "-" {
        return Some(numbers);
    }
    for part in ranges.split(',') {
        let (first, last): (u64, u64) = match part.split_once('-') {
            Some((first, last)) => (first.parse().ok()?, last.parse().ok()?),
            None => (part.parse().ok()?, part.parse().ok()?),
        };
        if last < first || last - first > 1_000_000 {
            return None;
        }
        numbers.extend(first..=last);
    }
    Some(numbers)
}

/// Checks one serial log in which the writer restarted (without a power cut: its domain,
/// the store or the disk driver was killed and restarted) against itself: every
/// `torture.present` is checked against the acknowledgements logged before it, as at a
/// boot of the torture. A line that does not parse counts as bad.
pub fn check_log(serial: &str) -> Report {
    let mut model = Model::default();
    let mut report = Report::default();
    for (line_number, line) in serial.lines().enumerate() {
        let Some(event) = Event::parse(line) else { continue };
        match event.name.as_str() {
            "torture.present" => match event.get("ranges").and_then(parse_ranges) {
                Some(present) => model.check(line_number as u32 + 1, &present, &mut report),
                None => report.bad.push(format!("line {}: {line}", line_number + 1)),
            },
            "torture.bad" => report.bad.push(format!("line {}: {line}", line_number + 1)),
            _ => model.apply(&event, &mut report),
        }
    }
    report
}

/// SplitMix64: the kill points.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// After this many further acknowledgements, plus a delay.
    AfterAcks(u64, Duration),
    /// This long into the next compaction (or after 200 acknowledgements without one).
    IntoCompaction(Duration),
}

/// The serial log lines of a running QEMU, as they complete.
struct SerialLog {
    path: PathBuf,
    consumed: usize,
    partial: String,
}

impl SerialLog {
    fn new(path: &Path) -> SerialLog {
        SerialLog { path: path.into(), consumed: 0, partial: String::new() }
    }

    /// The lines completed since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let Ok(bytes) = std::fs::read(&self.path) else { return Vec::new() };
        if bytes.len() <= self.consumed {
            return Vec::new();
        }
        self.partial.push_str(&String::from_utf8_lossy(&bytes[self.consumed..]).replace('\r', ""));
        self.consumed = bytes.len();
        let Some(end) = self.partial.rfind('\n') else { return Vec::new() };
        let complete: Vec<String> = self.partial[..end].lines().map(String::from).collect();
        self.partial.drain(..=end);
        complete
    }
}

fn tail(serial_log: &Path) -> String {
    let text = std::fs::read_to_string(serial_log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs the torture on `boot` (the torture scenario), `machine` getting the disk.
/// `progress` is called with a line after every cycle.
pub fn run(config: &Config, machine: &Machine, boot: &Boot, mut progress: impl FnMut(&str)) -> Result<Report, String> {
    if !config.disk.exists() {
        let file = std::fs::File::create(&config.disk).map_err(|error| format!("{}: {error}", config.disk.display()))?;
        file.set_len(16 << 20).map_err(|error| format!("{}: {error}", config.disk.display()))?;
    }
    let mut machine = machine.clone();
    machine.extra_args.extend(crate::nvme_disk_args(&config.disk));
    let mut random = Random(config.seed);
    let mut model = Model::default();
    let mut report = Report::default();
    // The last boot only checks.
    for cycle in 0..=config.cycles {
        let last = cycle == config.cycles;
        let kill = if random.below(3) == 0 {
            KillPoint::IntoCompaction(Duration::from_millis(random.below(40)))
        } else {
            KillPoint::AfterAcks(1 + random.below(60), Duration::from_millis(random.below(20)))
        };
        let mut qemu = crate::run::spawn_unattended(&machine, boot, &config.serial_log).map_err(|error| error.to_string())?;
        let mut log = SerialLog::new(&config.serial_log);
        let started = Instant::now();
        let mut checked = false;
        let mut acks_after_check = 0u64;
        let mut compacting_since: Option<Instant> = None;
        let mut kill_at: Option<Instant> = None;
        let failure = loop {
            if let Some(status) = qemu.try_wait().map_err(|error| error.to_string())? {
                let mut stderr = String::new();
                if let Some(mut pipe) = qemu.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                break Some(format!("QEMU ended by itself ({status}): {stderr}"));
            }
            for line in log.new_lines() {
                if line.contains("FAILED") || line.contains("panic at") || line.contains("KERNEL EXCEPTION") {
                    report.bad.push(format!("cycle {cycle}: {line}"));
                }
                let Some(event) = Event::parse(&line) else { continue };
                match event.name.as_str() {
                    "torture.present" => {
                        let present =
                            event.get("ranges").and_then(parse_ranges).ok_or_else(|| format!("cycle {cycle}: bad line {line}"))?;
                        model.check(cycle, &present, &mut report);
                        checked = true;
                    }
                    "torture.bad" => report.bad.push(format!("cycle {cycle}: {line}")),
                    "store.compacting" => compacting_since = Some(Instant::now()),
                    "store.compacted" => compacting_since = None,
                    "torture.ack" => acks_after_check += 1,
                    _ => {}
                }
                model.apply(&event, &mut report);
            }
            if checked && last {
                break None;
            }
            if checked && kill_at.is_none() {
                kill_at = match kill {
                    KillPoint::AfterAcks(acks, delay) if acks_after_check >= acks => Some(Instant::now() + delay),
                    KillPoint::IntoCompaction(delay) => match compacting_since {
                        Some(since) => Some(since + delay),
                        None if acks_after_check >= 200 => Some(Instant::now()),
                        None => None,
                    },
                    KillPoint::AfterAcks(..) => None,
                };
            }
            if kill_at.is_some_and(|at| Instant::now() >= at) {
                if compacting_since.is_some() {
                    report.kills_during_compaction += 1;
                }
                break None;
            }
            if started.elapsed() > config.boot_timeout {
                break Some(format!("no {} within {:?}", if checked { "kill point" } else { "check" }, config.boot_timeout));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let _ = qemu.kill();
        let _ = qemu.wait();
        // What the guest logged up to the kill still counts.
        for line in log.new_lines() {
            if let Some(event) = Event::parse(&line) {
                model.apply(&event, &mut report);
            }
        }
        if let Some(failure) = failure {
            return Err(format!("cycle {cycle}: {failure}\n{report}last serial lines:\n{}", tail(&config.serial_log)));
        }
        if !last {
            report.cycles += 1;
        }
        progress(&format!(
            "torture: cycle {cycle}/{}: {} acknowledged, {} verified, {} lost so far",
            config.cycles,
            report.acknowledged,
            report.verified,
            report.lost.len()
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event {
        Event::parse(line).unwrap()
    }

    #[test]
    fn ranges_parse_and_garbage_does_not() {
        assert_eq!(parse_ranges("1-3,7"), Some([1, 2, 3, 7].into()));
        assert_eq!(parse_ranges("-"), Some(BTreeSet::new()));
        assert_eq!(parse_ranges("3-1"), None);
        assert_eq!(parse_ranges("x"), None);
    }

    #[test]
    fn buffered_writes_count_only_once_a_durable_one_follows() {
        let mut model = Model::default();
        let mut report = Report::default();
        model.apply(&event("@event torture.ack seq=1 durable=0"), &mut report);
        model.check(1, &BTreeSet::new(), &mut report);
        assert!(report.passed(), "a buffered write may be lost");
        model.apply(&event("@event torture.ack seq=1 durable=0"), &mut report);
        model.apply(&event("@event torture.ack seq=2 durable=1"), &mut report);
        model.check(2, &[2].into(), &mut report);
        assert_eq!(report.lost, ["cycle 2: number 1"]);
        assert_eq!((report.acknowledged, report.durable, report.verified), (3, 2, 1));
    }

    #[test]
    fn a_started_delete_releases_and_a_durable_one_forbids() {
        let mut model = Model::default();
        let mut report = Report::default();
        model.apply(&event("@event torture.ack seq=1 durable=1"), &mut report);
        model.apply(&event("@event torture.deleting seq=1"), &mut report);
        model.check(1, &BTreeSet::new(), &mut report);
        assert!(report.passed());
        model.apply(&event("@event torture.ack seq=5 durable=1"), &mut report);
        model.apply(&event("@event torture.deleting seq=5"), &mut report);
        model.apply(&event("@event torture.deleted seq=5 durable=1"), &mut report);
        model.check(2, &[5].into(), &mut report);
        assert_eq!(report.resurrected, ["cycle 2: number 5"]);
    }
}
