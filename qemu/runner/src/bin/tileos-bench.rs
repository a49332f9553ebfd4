//! `tileos-bench`: the figures of `make bench`, all measured inside the guest under QEMU
//! `-icount shift=0,sleep=off` (guest `rdtsc` advances one tick per guest instruction,
//! and one tick is one nanosecond of guest virtual time):
//!
//! 1. kernel figures: boots the bench image and collects the root server's
//!    `bench <name> <per-op> <iterations>` lines; these repeat exactly;
//! 2. NVMe 4 KiB writes and reads: boots scenario `bench-nvme` on a fresh disk image and
//!    parses block-bench's `block-bench: result …` lines: one request per call on the
//!    endpoint, then through the ring at queue depth 1 and 32;
//! 3. the store's puts and gets of 4 KiB (durable and buffered) and 1 MiB values: boots
//!    scenario `bench-store` on a fresh disk image and parses store-bench's
//!    `store-bench: result …` lines;
//! 4. TCP receive throughput: boots scenario `bench-net`, sends [`TCP_BYTES`] to the
//!    netstack's discard service through QEMU's hostfwd [`TCP_ROUNDS`] times and parses the
//!    netstack's `netstack: discard connection <k>: result …` lines;
//! 5. the demo slot: boots scenario `bench-slot` with the update agent forwarded and drives
//!    it with tilectl (the signed bundles of `make bundles`): checksum-client's mean call
//!    with 0, 1 and 2 challengers shadowing (checksum-fast, checksum-lineage-b: the
//!    mirroring overhead, which on one core includes the challengers' own work, as they
//!    outrank the client), the longest call in the rounds of a promotion against the longest
//!    in quiet rounds (the promotion pause), and the manager's commit of the ~100 KiB
//!    bundle checksum-big (verify, stage, build, start).
//!
//! The I/O figures are virtual time: the devices' back ends run on the host in real time,
//! so they vary from run to run (docs/research.md, "I/O figures", says by how much). All
//! figures go to `build/bench.json` and are printed as tables, the kernel figures beside
//! the seL4 reference (the I/O figures have none: "n/a"). Benchmarks assert nothing, but a
//! run that does not reach its result lines ends this program with a failure status and
//! no figures.
//!
//! All parts boot the kernel named by `TILEOS_BENCH_KERNEL` if set (`make bench` sets it to
//! `build/bench/kernel.elf32`: the test kernel without entry timing), else the test kernel.
//!
//! Arguments `kernel`, `nvme`, `store`, `tcp`, `slot` run only those parts (e.g. to repeat one); the
//! figures are then printed but `build/bench.json` is left as it was.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::host::wait_for;
use tileos_qemu::images::{TestImages, scenario_archive, test_images, workspace_root};
use tileos_qemu::{Boot, BootModule, Ended, Machine, RunOutcome, run, run_watch};

/// seL4 reference figures measured by the same method (issue 5): guest instructions.
const SEL4: [(&str, &str); 7] = [
    ("ipc_roundtrip_same_as", "494"),
    ("ipc_roundtrip_cross_as", "496"),
    ("ipc_roundtrip_cross_as_4words", "526"),
    ("notify_signal_wait_cross_as", "1,661"),
    ("null_syscall", "303"),
    ("page_map_unmap", "1,432"),
    ("boot_to_rootserver", "≈ 210 M (kernel part)"),
];

/// Size of the NVMe disk image (32768 blocks of 512 bytes).
const DISK_BYTES: u64 = 16 << 20;
/// Size of the store bench's disk image (its window is 32 MiB from 1 MiB on).
const STORE_DISK_BYTES: u64 = 40 << 20;
/// Bytes the host sends per TCP round.
const TCP_BYTES: usize = 8 << 20;
/// TCP rounds (connections) per run.
const TCP_ROUNDS: usize = 5;
/// Serial texts that end an I/O run as failed at once. Ring errors are checked after the run
/// (`RunOutcome::netstack_ring_errors`): the netstack's line counting them also reports
/// transmit drops, with `0 ring errors`, and a drop is a slow round, not a failure.
const FAILURES: [&str; 4] = ["FAILED", "panic at", "KERNEL EXCEPTION", "stopped:"];

/// Wall-clock limit of each I/O run.
const IO_TIMEOUT: Duration = Duration::from_secs(600);

/// One I/O figure: sums over `ops` operations in virtual ticks (guest ns).
struct IoFigure {
    /// Operations (requests, or connections for TCP).
    ops: u64,
    /// Payload bytes moved.
    bytes: u64,
    /// Ticks summed over the operations.
    ticks: u64,
    /// Of those, the ticks that were not the idle loop: guest instructions executed by
    /// everything else.
    busy: u64,
    /// Per-operation minimum, median and maximum ticks, where measured.
    spread: Option<(u64, u64, u64)>,
}

impl IoFigure {
    /// Mebibytes per virtual second.
    fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / (self.ticks as f64 / 1e9) / f64::from(1 << 20)
    }

    fn json(&self, name: &str, extra: &str) -> String {
        let spread = self.spread.map_or(String::new(), |(min, median, max)| {
            format!(", \"ticks_per_op_min\": {min}, \"ticks_per_op_median\": {median}, \"ticks_per_op_max\": {max}")
        });
        format!(
            "  \"{name}\": {{\"unit\": \"virtual ticks (guest ns under -icount shift=0)\", \"iterations\": {}, \"bytes\": {}, \"ticks\": {}, \
             \"ticks_per_op_mean\": {}{spread}, \"busy_instructions\": {}, \"busy_instructions_per_op\": {}, \"busy_instructions_per_kib\": {:.1}, \
             \"ops_per_virtual_second\": {:.1}, \"mib_per_virtual_second\": {:.2}{extra}, \"sel4\": \"n/a\"}}",
            self.ops,
            self.bytes,
            self.ticks,
            self.ticks / self.ops,
            self.busy,
            self.busy / self.ops,
            self.busy as f64 / (self.bytes as f64 / 1024.0),
            self.ops as f64 / (self.ticks as f64 / 1e9),
            self.mib_per_second()
        )
    }
}

/// `key value` pairs of a result line after `marker`, as numbers.
fn fields(line: &str, marker: &str) -> Option<BTreeMap<String, u64>> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let words: Vec<&str> = rest.split_whitespace().collect();
    Some(words.chunks(2).filter_map(|pair| Some((pair[0].to_string(), pair.get(1)?.parse().ok()?))).collect())
}

/// Why a run produced no figures, with the end of its serial log.
fn failed(what: &str, outcome: &RunOutcome) -> String {
    format!("{what}: {}; the run took {:.0} s; last serial lines:\n{}", outcome.ended, outcome.elapsed.as_secs_f64(), outcome.tail(30))
}

/// The kernel figures: name → (instructions per operation, iterations).
fn kernel_figures(images: &TestImages) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let boot = Boot::Kernel {
        kernel: images.kernel.clone(),
        cmdline: String::new(),
        modules: vec![
            BootModule { path: images.rootserver.clone(), cmdline: "rootserver bench".into() },
            BootModule { path: images.bench_server.clone(), cmdline: "bench-server".into() },
        ],
    };
    let machine = Machine { icount: true, ..Machine::default() };
    eprintln!("tileos-bench: kernel figures: booting the bench image under -icount (takes a minute)...");
    let outcome = run(&machine, &boot, &images.logs.join("bench.log"), Duration::from_secs(600)).map_err(|error| error.to_string())?;
    if outcome.ended != Ended::Verdict(GuestVerdict::Pass) {
        return Err(failed("kernel figures", &outcome));
    }
    let mut figures = BTreeMap::new();
    for line in outcome.serial.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["bench", name, per_op, iterations] = words.as_slice() {
            if let (Ok(per_op), Ok(iterations)) = (per_op.parse::<u64>(), iterations.parse::<u64>()) {
                figures.insert(name.to_string(), (per_op, iterations));
            }
        }
    }
    if figures.is_empty() {
        return Err(failed("kernel figures: no `bench` lines", &outcome));
    }
    Ok(figures)
}

/// A tile scenario booted under -icount with `extra` QEMU arguments.
fn scenario(images: &TestImages, name: &str, extra: Vec<String>) -> (Machine, Boot) {
    let boot = images.tile_boot(scenario_archive(name));
    (Machine { icount: true, extra_args: extra, ..Machine::default() }, boot)
}

/// NVMe 4 KiB writes and reads: ("nvme_write_4k", "nvme_read_4k", "nvme_ring_write_4k_qd1", …,
/// figure).
fn nvme_figures(images: &TestImages) -> Result<Vec<(String, IoFigure)>, String> {
    let names = ["write_4k", "read_4k", "ring_write_4k_qd1", "ring_read_4k_qd1", "ring_write_4k_qd32", "ring_read_4k_qd32"];
    disk_figures(images, "NVMe", "bench-nvme", DISK_BYTES, "block-bench", &names, "nvme_")
}

/// The store's puts and gets of 4 KiB and 1 MiB values: ("store_put_4k_durable", …, figure).
fn store_figures(images: &TestImages) -> Result<Vec<(String, IoFigure)>, String> {
    let names = ["put_4k_durable", "put_4k_buffered", "get_4k", "put_1m_durable", "get_1m"];
    disk_figures(images, "store", "bench-store", STORE_DISK_BYTES, "store-bench", &names, "store_")
}

/// Boots `scenario` under -icount on a fresh disk image of `disk_bytes` until `program` logs `done`, and
/// parses its `<program>: result <name> ops … busy …` lines for `names`, named with
/// `prefix` in the figures.
fn disk_figures(
    images: &TestImages,
    what: &str,
    scenario_name: &str,
    disk_bytes: u64,
    program: &str,
    names: &[&str],
    prefix: &str,
) -> Result<Vec<(String, IoFigure)>, String> {
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("log directory: {error}"))?;
    let disk = images.logs.join(format!("{scenario_name}-disk.img"));
    let file = std::fs::File::create(&disk).map_err(|error| format!("disk image {}: {error}", disk.display()))?;
    file.set_len(disk_bytes).map_err(|error| format!("disk image: {error}"))?;
    drop(file);
    let (machine, boot) = scenario(images, scenario_name, tileos_qemu::nvme_disk_args(&disk));
    eprintln!("tileos-bench: {what} figures: booting scenario {scenario_name} under -icount...");
    let done = format!("{program}: done");
    let outcome = run_watch(&machine, &boot, &images.logs.join(format!("{scenario_name}.log")), IO_TIMEOUT, &[&done], &FAILURES)
        .map_err(|error| error.to_string())?;
    if !matches!(outcome.ended, Ended::Reached(_)) {
        return Err(failed(&format!("{what} figures"), &outcome));
    }
    let mut figures = Vec::new();
    for name in names {
        let marker = format!("{program}: result {name} ");
        let line = outcome.serial.lines().find(|line| line.contains(&marker));
        let values = line.and_then(|line| fields(line, &marker));
        let get = |key: &str| values.as_ref().and_then(|values| values.get(key).copied());
        let (Some(ops), Some(bytes), Some(ticks), Some(min), Some(median), Some(max), Some(busy)) =
            (get("ops"), get("bytes"), get("ticks"), get("min"), get("median"), get("max"), get("busy"))
        else {
            return Err(failed(&format!("{what} figures: no complete `{}` line", marker.trim_end()), &outcome));
        };
        if ops == 0 || ticks == 0 {
            return Err(failed(&format!("{what} figures: empty `{}` line", marker.trim_end()), &outcome));
        }
        figures.push((format!("{prefix}{name}"), IoFigure { ops, bytes, ticks, busy, spread: Some((min, median, max)) }));
    }
    Ok(figures)
}

/// The host's side of the TCP figure: [`TCP_ROUNDS`] connections to the discard service,
/// each sending [`TCP_BYTES`] and waiting for the service to close. Returns each round's
/// host wall-clock seconds.
fn send_rounds(port: u16) -> Result<Vec<f64>, String> {
    let data: Vec<u8> = (0..TCP_BYTES).map(|index| (index * 7 + index / 4096) as u8).collect();
    let mut seconds = Vec::new();
    for round in 1..=TCP_ROUNDS {
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("round {round}: connect: {error}"))?;
        stream.set_write_timeout(Some(Duration::from_secs(120))).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        stream.write_all(&data).map_err(|error| format!("round {round}: send: {error}"))?;
        stream.shutdown(Shutdown::Write).map_err(|error| format!("round {round}: shutdown: {error}"))?;
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).map_err(|error| format!("round {round}: waiting for the close: {error}"))?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

/// TCP receive throughput: the figure over all rounds, each round's figure, each round's
/// host wall-clock seconds and the TSC ticks per HPET tick seen by the netstack.
fn tcp_figures(images: &TestImages) -> Result<(IoFigure, Vec<IoFigure>, Vec<f64>, f64), String> {
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map_err(|error| format!("free port: {error}"))?.port();
    let (machine, boot) = scenario(
        images,
        "bench-net",
        vec!["-netdev".into(), format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:9"), "-device".into(), "virtio-net-pci,netdev=n0".into()],
    );
    let log = images.logs.join("bench-net.log");
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("log directory: {error}"))?;
    std::fs::write(&log, b"").map_err(|error| format!("serial log: {error}"))?;
    let (sender, results) = mpsc::channel();
    let watched = log.clone();
    let host = std::thread::spawn(move || {
        let result = if wait_for(&watched, "netstack: ready", Instant::now() + IO_TIMEOUT) {
            send_rounds(port)
        } else {
            Err("the netstack never logged \"netstack: ready\"".into())
        };
        let _ = sender.send(result);
    });
    eprintln!("tileos-bench: TCP figures: booting scenario bench-net under -icount, sending {TCP_ROUNDS} × {} MiB...", TCP_BYTES >> 20);
    let last = format!("netstack: discard connection {TCP_ROUNDS}: result");
    let outcome = run_watch(&machine, &boot, &log, IO_TIMEOUT, &[&last], &FAILURES).map_err(|error| error.to_string())?;
    host.join().map_err(|_| "the host side panicked".to_string())?;
    let seconds = results.try_recv().unwrap_or_else(|_| Err("the host side did not finish".into()));
    if !matches!(outcome.ended, Ended::Reached(_)) {
        return Err(failed("TCP figures", &outcome));
    }
    if let Some(line) = outcome.netstack_ring_errors() {
        return Err(failed(&format!("TCP figures: {line}"), &outcome));
    }
    let seconds = seconds.map_err(|error| failed(&format!("TCP figures: host side: {error}"), &outcome))?;
    let mut rounds = Vec::new();
    let (mut ticks_total, mut hpet_total) = (0, 0);
    for round in 1..=TCP_ROUNDS {
        let marker = format!("netstack: discard connection {round}: result ");
        let values = outcome.serial.lines().find(|line| line.contains(&marker)).and_then(|line| fields(line, &marker));
        let get = |key: &str| values.as_ref().and_then(|values| values.get(key).copied());
        let (Some(bytes), Some(ticks), Some(busy), Some(hpet)) = (get("bytes"), get("ticks"), get("busy"), get("hpet")) else {
            return Err(failed(&format!("TCP figures: no complete `{}` line", marker.trim_end()), &outcome));
        };
        if bytes != TCP_BYTES as u64 || ticks == 0 {
            return Err(failed(&format!("TCP figures: round {round} received {bytes} of {TCP_BYTES} bytes in {ticks} ticks"), &outcome));
        }
        ticks_total += ticks;
        hpet_total += hpet;
        rounds.push(IoFigure { ops: 1, bytes, ticks, busy, spread: None });
    }
    let total = IoFigure {
        ops: rounds.len() as u64,
        bytes: rounds.iter().map(|round| round.bytes).sum(),
        ticks: ticks_total,
        busy: rounds.iter().map(|round| round.busy).sum(),
        spread: None,
    };
    Ok((total, rounds, seconds, ticks_total as f64 / hpet_total.max(1) as f64))
}

/// The demo slot's figures, in guest instructions (time-stamp counter ticks under -icount).
struct SlotFigures {
    /// checksum-client's mean call with 0, 1 and 2 challengers shadowing.
    mean_call: [u64; 3],
    /// Its longest call in quiet rounds (no challenger, no promotion).
    quiet_longest: u64,
    /// Its longest call in the round in which checksum-fast was promoted.
    promotion_longest: u64,
    /// The manager's commit of the ~100 KiB bundle and its size in bytes.
    install: (u64, u64),
}

impl SlotFigures {
    /// The figures' lines of bench.json.
    fn json(&self) -> Vec<String> {
        let [zero, one, two] = self.mean_call;
        vec![
            format!("  \"slot_mean_call_0_challengers\": {{\"instructions\": {zero}}}"),
            format!("  \"slot_mean_call_1_challenger\": {{\"instructions\": {one}}}"),
            format!("  \"slot_mean_call_2_challengers\": {{\"instructions\": {two}}}"),
            format!("  \"slot_longest_call_quiet\": {{\"instructions\": {}}}", self.quiet_longest),
            format!("  \"slot_longest_call_promotion\": {{\"instructions\": {}}}", self.promotion_longest),
            format!("  \"slot_install_commit\": {{\"instructions\": {}, \"bundle_bytes\": {}}}", self.install.0, self.install.1),
        ]
    }
}

/// Prints the slot table.
fn print_slot(slot: &SlotFigures) {
    println!("{:<52} {:>14}", "demo slot (guest instructions)", "tileos");
    let [zero, one, two] = slot.mean_call;
    println!("{:<52} {:>14}", "client call, mean, 0 challengers", zero);
    println!("{:<52} {:>14}", "client call, mean, 1 challenger (overhead)", format!("{one} (+{})", one.saturating_sub(zero)));
    println!("{:<52} {:>14}", "client call, mean, 2 challengers (overhead)", format!("{two} (+{})", two.saturating_sub(zero)));
    println!("{:<52} {:>14}", "client call, longest in a quiet round", slot.quiet_longest);
    println!("{:<52} {:>14}", "client call, longest in the promotion's round", slot.promotion_longest);
    println!("{:<52} {:>14}", format!("install commit of a {} KiB bundle", slot.install.1 / 1024), slot.install.0);
}

/// A `checksum.round` line's (mean, longest) call in ticks.
fn round_fields(line: &str) -> Option<(u64, u64)> {
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key).and_then(|value| value.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
    };
    Some((field("mean_ticks")?, field("max_ticks")?))
}

/// checksum-client's rounds in `serial` from byte `from` on: (mean, longest) of each.
fn rounds_after(serial: &str, from: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
    serial.get(from..).unwrap_or("").lines().filter(|line| line.starts_with("@event checksum.round ")).filter_map(round_fields)
}

/// Those rounds but the first (it may have begun before byte `from`).
fn client_rounds(serial: &str, from: usize) -> Vec<(u64, u64)> {
    rounds_after(serial, from).skip(1).collect()
}

/// Waits until the serial log has `rounds` complete client rounds after byte `from`.
fn wait_rounds(log: &std::path::Path, from: usize, rounds: usize) -> Result<Vec<(u64, u64)>, String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let serial = std::fs::read_to_string(log).unwrap_or_default();
        let seen = client_rounds(&serial, from);
        if seen.len() >= rounds {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            return Err(format!("only {} client rounds after byte {from} of the serial log", seen.len()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The serial log's length now.
fn log_length(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).map(|text| text.len()).unwrap_or(0)
}

/// One tilectl command against the bench tile.
fn tilectl(port: u16, command: tileos_tilectl::Command) -> Result<String, String> {
    let options = tileos_tilectl::Options {
        tile: format!("127.0.0.1:{port}"),
        key: None,
        dev_key: true,
        json: false,
        timeout: Duration::from_secs(60),
    };
    let mut out = Vec::new();
    tileos_tilectl::run(&options, &command, &mut out).map_err(|failure| failure.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Rounds measured per phase.
const SLOT_ROUNDS: usize = 3;

/// The host's side of the slot figures: the rounds of each phase and the promotion round.
fn drive_slot(port: u16, log: &std::path::Path) -> Result<([Vec<(u64, u64)>; 3], Vec<(u64, u64)>), String> {
    use tileos_tilectl::Command as Tilectl;
    let bundles = workspace_root().join("build/bundles");
    let install = |name: &str| tilectl(port, Tilectl::Install { file: bundles.join(format!("{name}.bundle")), slot: "checksum".into() });
    let shadowing = |count: usize| {
        let deadline = Instant::now() + IO_TIMEOUT;
        while std::fs::read_to_string(log).unwrap_or_default().matches("to=shadowing").count() < count {
            if Instant::now() > deadline {
                return Err(format!("{count} challengers never shadowed"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    };
    let quiet = wait_rounds(log, log_length(log), SLOT_ROUNDS)?;
    install("checksum-fast")?;
    shadowing(1)?;
    let one = wait_rounds(log, log_length(log), SLOT_ROUNDS)?;
    install("checksum-lineage-b")?;
    shadowing(2)?;
    let two = wait_rounds(log, log_length(log), SLOT_ROUNDS)?;
    // The install figure: the third install's commit.
    install("checksum-big")?;
    shadowing(3)?;
    // The promotion's rounds: the two that end first after it was asked for (it happens in
    // one of them).
    let before = log_length(log);
    tilectl(port, Tilectl::Promote { slot: "checksum".into(), module: 1, force: true })?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let promotion = loop {
        let serial = std::fs::read_to_string(log).unwrap_or_default();
        let rounds: Vec<(u64, u64)> = rounds_after(&serial, before).take(2).collect();
        if rounds.len() == 2 {
            break rounds;
        }
        if Instant::now() > deadline {
            return Err("no client round after the promotion".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Ok(([quiet, one, two], promotion))
}

/// The demo slot's figures (see the module documentation, part 5).
fn slot_figures(images: &TestImages) -> Result<SlotFigures, String> {
    let agent = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|error| format!("free port: {error}"))?.port();
    let (machine, boot) = scenario(
        images,
        "bench-slot",
        vec![
            "-netdev".into(),
            format!("user,id=n0,hostfwd=tcp:127.0.0.1:{agent}-:{}", tileos_tilectl_wire::PORT),
            "-device".into(),
            "virtio-net-pci,netdev=n0".into(),
        ],
    );
    let big = std::fs::metadata(workspace_root().join("build/bundles/checksum-big.bundle"))
        .map_err(|error| format!("build/bundles/checksum-big.bundle: {error} (run `make bundles`)"))?
        .len();
    let log = images.logs.join("bench-slot.log");
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("log directory: {error}"))?;
    std::fs::write(&log, b"").map_err(|error| format!("serial log: {error}"))?;
    let (sender, results) = mpsc::channel();
    let watched = log.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let host_done = done.clone();
    let host = std::thread::spawn(move || {
        let deadline = Instant::now() + IO_TIMEOUT;
        let result = if wait_for(&watched, "update-agent: ready", deadline) && wait_for(&watched, "slot checksum: serving", deadline) {
            drive_slot(agent, &watched)
        } else {
            Err("the update agent or the slot manager never logged its ready line".into())
        };
        let _ = sender.send(result);
        host_done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    eprintln!("tileos-bench: slot figures: booting scenario bench-slot under -icount, driving it with tilectl...");
    let outcome = tileos_qemu::run_until_host_done(&machine, &boot, &log, IO_TIMEOUT, &["update-agent: ready"], &done)
        .map_err(|error| error.to_string())?;
    host.join().map_err(|_| "the host side panicked".to_string())?;
    let (phases, promotion) = results
        .try_recv()
        .unwrap_or_else(|_| Err("the host side did not finish".into()))
        .map_err(|error| failed(&format!("slot figures: {error}"), &outcome))?;
    let mean = |rounds: &[(u64, u64)]| rounds.iter().map(|r| r.0).sum::<u64>() / rounds.len().max(1) as u64;
    let longest = |rounds: &[(u64, u64)]| rounds.iter().map(|r| r.1).max().unwrap_or(0);
    let commits: Vec<u64> = outcome
        .serial
        .lines()
        .filter(|line| line.starts_with("@event slot.install-commit "))
        .filter_map(|line| line.split_whitespace().find_map(|word| word.strip_prefix("ticks=")).and_then(|v| v.parse().ok()))
        .collect();
    let Some(&install) = commits.get(2) else {
        return Err(failed("slot figures: no install-commit line for checksum-big", &outcome));
    };
    Ok(SlotFigures {
        mean_call: [mean(&phases[0]), mean(&phases[1]), mean(&phases[2])],
        quiet_longest: longest(&phases[0]),
        promotion_longest: longest(&promotion),
        install: (install, big),
    })
}

/// Prints the kernel table.
fn print_kernel(kernel: &BTreeMap<String, (u64, u64)>) {
    println!("{:<32} {:>14} {:>10} {:>24}", "figure (guest instructions)", "tileos", "iterations", "seL4 reference");
    for (name, (per_op, iterations)) in kernel {
        let reference = SEL4.iter().find(|(n, _)| n == name).map_or("-", |(_, r)| r);
        println!("{name:<32} {per_op:>14} {iterations:>10} {reference:>24}");
    }
}

/// Prints the header of the I/O table.
fn print_io_header() {
    println!("I/O figures in guest virtual time (-icount shift=0: 1 tick = 1 guest ns; these vary from run to run, see docs/research.md)");
    println!(
        "{:<24} {:>10} {:>26} {:>12} {:>12} {:>12} {:>10} {:>6}",
        "figure", "ticks/op", "min / median / max", "busy instr", "ops/virt s", "MiB/virt s", "iterations", "seL4"
    );
}

/// Prints rows of the I/O table (NVMe and store figures).
fn print_disk(figures: &[(String, IoFigure)]) {
    for (name, figure) in figures {
        let (min, median, max) = figure.spread.unwrap_or_default();
        println!(
            "{name:<24} {:>10} {:>26} {:>12} {:>12.0} {:>12.2} {:>10} {:>6}",
            figure.ticks / figure.ops,
            format!("{min} / {median} / {max}"),
            format!("{}/op", figure.busy / figure.ops),
            figure.ops as f64 / (figure.ticks as f64 / 1e9),
            figure.mib_per_second(),
            figure.ops,
            "n/a"
        );
    }
}

/// The TCP results: the figure over all rounds, each round, host seconds, TSC per HPET tick.
type TcpResults = (IoFigure, Vec<IoFigure>, Vec<f64>, f64);

/// Prints the TCP row of the I/O table and the per-round line.
fn print_tcp((tcp, rounds, seconds, tsc_per_hpet): &TcpResults) {
    let per_round: Vec<String> = rounds.iter().map(|round| format!("{:.2}", round.mib_per_second())).collect();
    let busy: Vec<String> = rounds.iter().map(|round| format!("{:.0}", round.busy as f64 / (round.bytes as f64 / 1024.0))).collect();
    let wall: Vec<String> = seconds.iter().map(|s| format!("{s:.3}")).collect();
    let median = median_round(rounds);
    println!(
        "{:<24} {:>10} {:>26} {:>12} {:>12} {:>12.2} {:>10} {:>6}",
        "tcp_receive",
        "-",
        format!("median of {} × {} MiB", rounds.len(), TCP_BYTES >> 20),
        format!("{:.0}/KiB", median.busy as f64 / (median.bytes as f64 / 1024.0)),
        "-",
        median.mib_per_second(),
        tcp.ops,
        "n/a"
    );
    println!(
        "tcp_receive rounds: {} MiB/virtual s, {} busy instructions/KiB; host wall clock {} s per round (not a guest figure); TSC ticks per HPET tick {tsc_per_hpet:.4} (10 = TSC counts guest ns)",
        per_round.join(", "),
        busy.join(", "),
        wall.join(", ")
    );
}

/// The round with the median ticks (rounds all move the same bytes).
fn median_round(rounds: &[IoFigure]) -> &IoFigure {
    let mut order: Vec<&IoFigure> = rounds.iter().collect();
    order.sort_by_key(|round| round.ticks);
    order[order.len() / 2]
}

/// The TCP entry of `build/bench.json`.
fn tcp_json((tcp, rounds, seconds, tsc_per_hpet): &TcpResults) -> String {
    let per_round: Vec<String> = rounds.iter().map(|round| format!("{:.2}", round.mib_per_second())).collect();
    let busy: Vec<String> = rounds.iter().map(|round| format!("{:.1}", round.busy as f64 / (round.bytes as f64 / 1024.0))).collect();
    let wall: Vec<String> = seconds.iter().map(|s| format!("{s:.3}")).collect();
    let median = median_round(rounds);
    tcp.json(
        "tcp_receive",
        &format!(
            ", \"median_round_mib_per_virtual_second\": {:.2}, \"median_round_busy_instructions_per_kib\": {:.1}, \"rounds_mib_per_virtual_second\": [{}], \"rounds_busy_instructions_per_kib\": [{}], \"rounds_host_wall_seconds\": [{}], \"tsc_ticks_per_hpet_tick\": {tsc_per_hpet:.4}",
            median.mib_per_second(),
            median.busy as f64 / (median.bytes as f64 / 1024.0),
            per_round.join(", "),
            busy.join(", "),
            wall.join(", ")
        ),
    )
}

fn main() -> ExitCode {
    let parts: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = parts.iter().find(|part| !["kernel", "nvme", "store", "tcp", "slot"].contains(&part.as_str())) {
        eprintln!("tileos-bench: unknown part {unknown:?} (parts: kernel, nvme, store, tcp, slot; none = all, and bench.json is written)");
        return ExitCode::FAILURE;
    }
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let mut images = match test_images() {
        Ok(images) => images.clone(),
        Err(error) => {
            eprintln!("tileos-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    // `make bench` measures its own kernel: the test kernel without entry timing.
    if let Some(kernel) = std::env::var_os("TILEOS_BENCH_KERNEL") {
        images.kernel = kernel.into();
    }
    let images = &images;
    let measured = (|| -> Result<_, String> {
        let kernel = if wanted("kernel") { Some(kernel_figures(images)?) } else { None };
        let nvme = if wanted("nvme") { Some(nvme_figures(images)?) } else { None };
        let store = if wanted("store") { Some(store_figures(images)?) } else { None };
        let tcp = if wanted("tcp") { Some(tcp_figures(images)?) } else { None };
        let slot = if wanted("slot") { Some(slot_figures(images)?) } else { None };
        Ok((kernel, nvme, store, tcp, slot))
    })();
    let (kernel, nvme, store, tcp, slot) = match measured {
        Ok(measured) => measured,
        Err(error) => {
            eprintln!("tileos-bench: FAILED, no figures written: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(kernel) = &kernel {
        print_kernel(kernel);
        println!();
    }
    if nvme.is_some() || store.is_some() || tcp.is_some() {
        print_io_header();
    }
    for figures in [&nvme, &store].into_iter().flatten() {
        print_disk(figures);
    }
    if let Some(tcp) = &tcp {
        print_tcp(tcp);
    }
    if let Some(slot) = &slot {
        println!();
        print_slot(slot);
    }
    let (Some(kernel), Some(nvme), Some(store), Some(tcp), Some(slot)) = (kernel, nvme, store, tcp, slot) else {
        println!("(only some parts run: {} left as it was)", workspace_root().join("build/bench.json").display());
        return ExitCode::SUCCESS;
    };
    let mut json: Vec<String> = kernel
        .iter()
        .map(|(name, (per_op, iterations))| format!("  \"{name}\": {{\"instructions\": {per_op}, \"iterations\": {iterations}}}"))
        .collect();
    json.extend(nvme.iter().chain(&store).map(|(name, figure)| figure.json(name, "")));
    json.push(tcp_json(&tcp));
    json.extend(slot.json());
    let path = workspace_root().join("build/bench.json");
    if let Err(error) = std::fs::write(&path, format!("{{\n{}\n}}\n", json.join(",\n"))) {
        eprintln!("tileos-bench: cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("written to {}", path.display());
    ExitCode::SUCCESS
}
