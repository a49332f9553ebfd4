//! `tileos-bench`: the figures of `make bench`, all measured inside the guest under QEMU
//! `-icount shift=0,sleep=off` (guest `rdtsc` advances one tick per guest instruction,
//! and one tick is one nanosecond of guest virtual time):
//!
//! 1. kernel figures: boots the bench image, once with the Meltdown mitigation and once
//!    without, and collects the root server's `bench <name> <per-op> <iterations>` lines;
//!    these repeat exactly;
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
//!    with 0, 1 and 2 challengers shadowing (checksum-fast, checksum-lineage-b), which on
//!    one core includes the challengers' own work, as they outrank the client; the slot
//!    manager's own work per request in the same phases (its `slot.cost` lines: the
//!    mirroring overhead proper, beside the kernel's IPC round trip, the part of it in
//!    the serving path's system calls and the part in the manager's logic); the longest call
//!    around the policy's automatic promotion of checksum-fast against the rounds before it
//!    and quiet rounds (the promotion pause), the manager's own handling of the promotion
//!    (its `slot.promotion-handled` line: the update-log entry persisted, then the switch,
//!    at the promoted module's import when the state was transferred before the switch,
//!    else as deferred work), the promotion to the promoted module's
//!    first answer with its parts (its `slot.switch` line: the module ready, the first
//!    request's own time, the transfer before the switch; its `slot.switch-glue` line: the
//!    messages and log lines in between), and the work it deferred until the switch
//!    was over and no client waited (its first `slot.deferred` line after it); and the
//!    manager's commit of the ~100 KiB
//!    bundle checksum-big (verify, stage, build, start: a job of bounded steps, from the
//!    commit to its answer, with the manager's own work and its longest step), and the
//!    client's longest call in the rounds that install spans (the client stall during an
//!    install) beside its longest call with two challengers and no install, and the
//!    bundle's upload through the update agent (its `agent.install` line: begin to commit,
//!    and the operator signatures it checked); and checksum-probe's view (`slots16`: woken
//!    by the CMOS clock at 8192 Hz at priority 75, above the command path and the
//!    challengers; the `probe` module) of the policy's promotion, a rollback by hand and a
//!    promotion by hand (the manager's `slot.promotion-stall` and, since `slots20`,
//!    `slot.rollback-stall` windows: its longest lateness, response and call overlapping
//!    each) and away from them; the rollback by hand's longest busy span. With
//!    `TILEOS_BENCH_SLOT_HAND_REPEAT=N` (`slots42`) the rollback and the promotion by hand
//!    are done N times in the one boot (each a new install of checksum-lineage-b) and each
//!    repeat's derived worst client wait is printed too (the figures above are the first's).
//! 6. the verification cost per answer: boots scenario `verify` on a fresh disk image and
//!    parses the verify domain's `verify.answered` events (the judge's answers of its boot
//!    test): judging (route, class-A check or T3, ledger entry encoding), persisting the
//!    entry durably in the store (the store's and the NVMe driver's work included) and
//!    appending it to the ledger; beside the host reference, `Desk::judge` and
//!    `Desk::commit` of the same answers on this machine (wall clock).
//! 7. inference: boots scenario `inference` and compares the inference domain's guest
//!    instructions per generated token and per adapter swap with the host core's time for
//!    the same prompts and bundles (`tileos-bench/inference.rs`).
//! 8. the twin: boots scenario `twin-bearing` with the tile simulator (its library in a
//!    host thread, the healthy bearing, 10× simulated time) behind COM2 and parses the
//!    twin's `twin.update` lines: the time from a sensor sample (the sensors domain's
//!    timestamp) to the twin's state holding it, and the twin's own ingest. **This part is
//!    not under `-icount`**: the simulator and the domains' sampling and notification
//!    intervals run on the wall clock, so its figures are guest time-stamp-counter time on
//!    the wall clock (µs), labelled as such, not instructions.
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
//! The kernel figures are measured twice, the second time on the kernel without the Meltdown
//! mitigation named by `TILEOS_BENCH_KERNEL_NO_KPTI` (`make bench`:
//! `build/bench/kernel-no-kpti.elf32`; else the test one, `build/test/kernel-no-kpti.elf32`):
//! bench.json's `instructions` are the default kernel's, `instructions_no_kpti` the other's.
//! A third run boots the default kernel on two CPUs (`-smp 2`, issue 18): every figure again
//! with a second CPU online, so the kernel is shared and takes its big kernel lock
//! (`instructions_two_cpus`), and the figures only a second CPU gives, IPC and notification
//! across CPUs (`ipc_roundtrip_cross_cpu`, `notify_signal_wait_cross_cpu`: the root server
//! on CPU 0, the bench-server on CPU 1; under `-icount` the two virtual CPUs share one
//! virtual clock, so a cross-CPU figure is the instructions both CPUs execute from the
//! first's system call to its return, plus the time a halted CPU waits for its IPI).
//!
//! Arguments `kernel`, `nvme`, `store`, `tcp`, `slot`, `verify`, `inference`, `twin`, `domains` run only those parts (e.g. to repeat one); the
//! figures are then printed but `build/bench.json` is left as it was.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::host::wait_for;
use tileos_qemu::images::{TestImages, scenario_archive, test_images, workspace_root};
use tileos_qemu::{Boot, BootModule, Ended, Machine, RunOutcome, run, run_watch};

#[path = "tileos-bench/domains.rs"]
mod domains;
#[path = "tileos-bench/inference.rs"]
mod inference;
#[path = "tileos-bench/probe.rs"]
mod probe;

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

/// One kernel figure: guest instructions per operation with the Meltdown mitigation (the
/// default kernel) and without it (feature `no-kpti`), on one CPU, and the default kernel's
/// on two CPUs; the iterations measured. A cross-CPU figure has only the two-CPU one.
struct KernelFigure {
    /// Instructions per operation on the default kernel (with the mitigation), one CPU.
    kpti: Option<u64>,
    /// Instructions per operation on the kernel built `no-kpti`, one CPU.
    no_kpti: Option<u64>,
    /// Instructions per operation on the default kernel with two CPUs online.
    two_cpus: Option<u64>,
    /// Iterations measured (every run runs the same bench).
    iterations: u64,
}

/// The figures only a machine with a second CPU gives: a two-CPU run that lacks one failed.
const CROSS_CPU_FIGURES: [&str; 2] = ["ipc_roundtrip_cross_cpu", "notify_signal_wait_cross_cpu"];

/// The kernel figures of both kernels on one CPU and of the default kernel on two, by name.
/// A one-CPU figure only one kernel reports, or a two-CPU run without the cross-CPU figures,
/// is an error.
fn kernel_figures(images: &TestImages, no_kpti: &Path) -> Result<BTreeMap<String, KernelFigure>, String> {
    let with = kernel_run(images, &images.kernel, "bench.log", 1)?;
    let without = kernel_run(images, no_kpti, "bench-no-kpti.log", 1)?;
    let two_cpus = kernel_run(images, &images.kernel, "bench-two-cpus.log", 2)?;
    let mut figures = BTreeMap::new();
    for (name, (kpti, iterations)) in &with {
        let Some((no_kpti, _)) = without.get(name) else {
            return Err(format!("kernel figures: {name} measured with the Meltdown mitigation only"));
        };
        let two_cpus = two_cpus.get(name).map(|(figure, _)| *figure);
        figures.insert(name.clone(), KernelFigure { kpti: Some(*kpti), no_kpti: Some(*no_kpti), two_cpus, iterations: *iterations });
    }
    if let Some(name) = without.keys().find(|name| !with.contains_key(*name)) {
        return Err(format!("kernel figures: {name} measured without the Meltdown mitigation only"));
    }
    for name in CROSS_CPU_FIGURES {
        let Some((figure, iterations)) = two_cpus.get(name) else {
            return Err(format!("kernel figures: the two-CPU run did not measure {name} (bench-two-cpus.log)"));
        };
        figures.insert(name.to_string(), KernelFigure { kpti: None, no_kpti: None, two_cpus: Some(*figure), iterations: *iterations });
    }
    Ok(figures)
}

/// One kernel's figures on a machine of `cpus` CPUs: name → (instructions per operation,
/// iterations).
fn kernel_run(images: &TestImages, kernel: &Path, log_name: &str, cpus: u32) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let boot = Boot::Kernel {
        kernel: kernel.to_path_buf(),
        cmdline: String::new(),
        modules: vec![
            BootModule { path: images.rootserver.clone(), cmdline: "rootserver bench".into() },
            BootModule { path: images.bench_server.clone(), cmdline: "bench-server".into() },
        ],
    };
    let machine = Machine { icount: true, cpus, ..Machine::default() };
    eprintln!(
        "tileos-bench: kernel figures: booting the bench image with {} on {cpus} CPU(s) under -icount (takes a minute)...",
        kernel.display()
    );
    let outcome = run(&machine, &boot, &images.logs.join(log_name), Duration::from_secs(600)).map_err(|error| error.to_string())?;
    if outcome.ended != Ended::Verdict(GuestVerdict::Pass) {
        return Err(failed(&format!("kernel figures ({})", kernel.display()), &outcome));
    }
    let mut figures = BTreeMap::new();
    for line in outcome.serial.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["bench", name, per_op, iterations] = words.as_slice()
            && let (Ok(per_op), Ok(iterations)) = (per_op.parse::<u64>(), iterations.parse::<u64>())
        {
            figures.insert(name.to_string(), (per_op, iterations));
        }
    }
    if figures.is_empty() {
        return Err(failed(&format!("kernel figures ({}): no `bench` lines", kernel.display()), &outcome));
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
    /// The slot manager's own work per client request with 0, 1 and 2 challengers.
    manager: [u64; 3],
    /// Of that, its serving path's system calls (`NbSend`/`Reply`; the receive, `SaveRecv`,
    /// is outside the measure).
    manager_kernel: [u64; 3],
    /// Of that, the manager's logic (`Manager::received` without its system calls; the rest
    /// is the domain glue's handling of each message). `None` from a manager that does not
    /// log it.
    manager_logic: Option<[u64; 3]>,
    /// Its longest call in quiet rounds (no challenger, no promotion).
    quiet_longest: u64,
    /// Its longest call in three rounds shortly before checksum-fast's promotion (3
    /// challengers shadowing).
    before_promotion_longest: u64,
    /// Its longest call in the rounds around the promotion.
    promotion_longest: u64,
    /// The manager's `slot.switch`: from the promotion to the promoted module's first
    /// delivered answer (microseconds of guest time: 1,000 instructions each).
    switch: u64,
    /// Its parts from the same line: the promotion until the promoted module was ready to
    /// serve (its import of the warm module's state done), and the delivered request's own
    /// time in the manager (its arrival to its delivery); the rest of `switch` is time
    /// before that request arrived. And whether the state was transferred at the switch.
    switch_parts: (u64, u64, bool),
    /// More of the same line: when the warm module's export reached the manager (a transfer
    /// at the switch; 0 otherwise), and, for a transfer made before the switch
    /// (`before_switch=true`), how long it took while the incumbent still served.
    switch_transfer: (u64, Option<u64>),
    /// The manager's `slot.deferred` that started a transfer before the switch (the last
    /// before the promotion), when there was one.
    pre_transfer_deferred: Option<u64>,
    /// The glue's `slot.switch-glue` line (the messages handled and the log lines written
    /// between the promotion's handling and the first answer), its fields as logged.
    switch_glue: Option<String>,
    /// The manager's `slot.promotion-handled`: its handling of the promotion (by the
    /// policy: the deferred work that persists the update-log entry, then switches; a
    /// client call in progress, past the deferral bound, would wait for all of it).
    promotion_handled: u64,
    /// The manager's first `slot.deferred` after the promotion: the work it kept off the
    /// clients' path (lowering the warm module's schedule), done once the switch was over
    /// and no client waited.
    promotion_deferred: u64,
    /// The manager's `slot.deferred` that persisted a policy promotion's update-log entry
    /// during its transfer before the switch (the first after its `slot.promotion-logged`),
    /// when there was one.
    promotion_entry: Option<u64>,
    /// The glue's `slot.promotion-stall`: the longest span the manager was busy without
    /// waiting for a message while the promotion was under way (from its being due to the
    /// promoted module's first answer), the messages handled meanwhile, and which of them
    /// (1-based) was the longest.
    promotion_stall: Option<(u64, u64, u64)>,
    /// The manager's commit of the ~100 KiB bundle and its size in bytes: from the commit's
    /// arrival to its answer (`slot.install-commit ticks=`).
    install: (u64, u64),
    /// Of the install: the manager's own work for it, its steps, the longest step, the
    /// client requests answered during it and the longest time between two of those answers
    /// (`work=`, `steps=`, `longest_step=`, `answered=`, `longest_answer_gap=`; `None` for a
    /// manager whose line lacks them).
    install_parts: Option<(u64, u64, u64, u64, u64)>,
    /// Of the install: its longest step before the last (the hashing and staging; the last
    /// is the module's start), `longest_step_before_last=` (`None` for a manager whose line
    /// lacks it).
    install_longest_before_last: Option<u64>,
    /// The longest time between two client answers from the install before it to the end
    /// of this one (its upload through the update agent included: `answer_gap_since_last=`).
    install_upload_gap: Option<u64>,
    /// The update agent's figures of the ~100 KiB bundle's upload, from its begin to its
    /// commit (`agent.install`: `ticks=`, `signatures=`, `signature_ticks=`; `None` for an
    /// agent that does not log them).
    install_upload: Option<(u64, u64, u64)>,
    /// The client's longest call in the rounds the install of the ~100 KiB bundle spans
    /// (from tilectl's connection to the challenger shadowing: the upload, the commit and
    /// the start), and in the rounds with two challengers before it (the same load without
    /// an install).
    install_stall: (u64, u64),
    /// The client-visible stall at the policy's promotion and at the promotion by hand,
    /// timed from the client's calls (`None`: the phase did not happen or no call lay in
    /// its window).
    timed: [Option<TimedStall>; 2],
    /// The derived worst wait at the promotion by hand (its `slot.promotion-stall`
    /// `longest_busy=` plus its `slot.switch` `request_micros=`), as for the policy's.
    hand_derived: Option<u64>,
    /// The same for each repeat of the promotion by hand ([`hand_repeats`]; empty without).
    hand_repeats: Vec<Option<u64>>,
    /// The client's longest call in the round of the rollback by hand and the next (its
    /// round maxima, not timed against a window).
    rollback_longest: Option<u64>,
    /// checksum-probe's view (`slots16`, the `probe` module) of the policy's promotion, the
    /// rollback by hand and the promotion by hand (`None`: the window's marker is missing).
    probe: [Option<probe::Window>; 3],
    /// The manager's busy span of the rollback's and the promotion's request by hand
    /// (`slot.control-span ticks=`).
    control_spans: [Option<u64>; 2],
    /// The rollback by hand under way (since `slots20` its entry and its rollback are
    /// deferred steps): its `slot.rollback-stall` line's longest busy span, which one of how
    /// many, and its window (request to answer).
    rollback_stall: Option<(u64, u64, u64, u64)>,
    /// The probe away from those windows (all its rounds that overlap none of them, the
    /// installs' included): the median and the largest of the rounds' longest lateness,
    /// response and call, and the rounds counted.
    probe_outside: ([u64; 3], [u64; 3], usize),
    /// The probe's rounds logged, and its wakes and calls in them.
    probe_counts: (usize, u64, u64),
}

/// A promotion's stall as the client saw it: checksum-client's calls that overlapped the
/// promotion's window (the manager's `slot.promotion-stall` `from=`..`to=`, time-stamp
/// counter; only each round's 4 longest calls are logged, `slow=`, so a call of the window
/// shorter than its round's 4th longest is not seen), against the same load's calls in
/// the three rounds before the promotion's.
#[derive(Clone, Copy, Debug)]
struct TimedStall {
    /// The longest call that overlapped the window.
    longest: u64,
    /// The logged calls that overlapped it.
    calls: usize,
    /// The window's length (the promotion under way, first message to last).
    window: u64,
    /// The load's longest call in the three rounds before.
    baseline_longest: u64,
    /// The load's mean call in those rounds (its usual call).
    baseline_mean: u64,
    /// How long before the window's start the longest call began (negative: after).
    began_before: i64,
}

impl TimedStall {
    /// The longest call of the window over the load's usual (mean) call.
    fn over_usual(&self) -> u64 {
        self.longest.saturating_sub(self.baseline_mean)
    }

    /// The longest call of the window over the load's longest call before it (negative:
    /// shorter).
    fn over_longest(&self) -> i64 {
        self.longest as i64 - self.baseline_longest as i64
    }
}

impl SlotFigures {
    /// The longest wait a client request can meet at the promotion, derived from markers:
    /// a request that arrives as the manager's longest busy span under the promotion starts
    /// waits for all of it (`slot.promotion-stall longest_busy=`), then for its own time in
    /// the manager, arrival to delivery, as the first request after the switch took
    /// (`slot.switch request_micros=`, its log line included). Not timed as one call: the
    /// client's own send and receive (a few hundred instructions) are not in it.
    fn worst_client_wait(&self) -> Option<u64> {
        self.promotion_stall.map(|(longest, _, _)| longest + self.switch_parts.1)
    }

    /// The figures' lines of bench.json.
    fn json(&self) -> Vec<String> {
        let [zero, one, two] = self.mean_call;
        vec![
            format!("  \"slot_mean_call_0_challengers\": {{\"instructions\": {zero}}}"),
            format!("  \"slot_mean_call_1_challenger\": {{\"instructions\": {one}}}"),
            format!("  \"slot_mean_call_2_challengers\": {{\"instructions\": {two}}}"),
            format!("  \"slot_manager_per_request_0_challengers\": {{\"instructions\": {}}}", self.manager[0]),
            format!("  \"slot_manager_per_request_1_challenger\": {{\"instructions\": {}}}", self.manager[1]),
            format!("  \"slot_manager_per_request_2_challengers\": {{\"instructions\": {}}}", self.manager[2]),
            format!("  \"slot_manager_syscalls_per_request_0_challengers\": {{\"instructions\": {}}}", self.manager_kernel[0]),
            format!("  \"slot_manager_syscalls_per_request_1_challenger\": {{\"instructions\": {}}}", self.manager_kernel[1]),
            format!("  \"slot_manager_syscalls_per_request_2_challengers\": {{\"instructions\": {}}}", self.manager_kernel[2]),
            format!(
                "  \"slot_manager_logic_per_request\": {{\"instructions\": {:?}}}",
                self.manager_logic.map(|l| l.to_vec()).unwrap_or_default()
            ),
            format!("  \"slot_longest_call_quiet\": {{\"instructions\": {}}}", self.quiet_longest),
            format!("  \"slot_longest_call_before_promotion\": {{\"instructions\": {}}}", self.before_promotion_longest),
            format!("  \"slot_longest_call_promotion\": {{\"instructions\": {}}}", self.promotion_longest),
            format!("  \"slot_switch_to_first_answer\": {{\"instructions\": {}}}", self.switch),
            format!("  \"slot_switch_ready\": {{\"instructions\": {}, \"transfer\": {}}}", self.switch_parts.0, self.switch_parts.2),
            format!("  \"slot_switch_first_request\": {{\"instructions\": {}}}", self.switch_parts.1),
            format!(
                "  \"slot_switch_transfer\": {{\"exported\": {}, \"before_switch\": {:?}, \"started_by\": {:?}}}",
                self.switch_transfer.0, self.switch_transfer.1, self.pre_transfer_deferred
            ),
            format!("  \"slot_promotion_handled\": {{\"instructions\": {}}}", self.promotion_handled),
            format!("  \"slot_promotion_deferred\": {{\"instructions\": {}}}", self.promotion_deferred),
            format!("  \"slot_promotion_entry_step\": {{\"instructions\": {:?}}}", self.promotion_entry),
            format!(
                "  \"slot_promotion_longest_busy\": {{\"instructions\": {:?}, \"messages\": {:?}}}",
                self.promotion_stall.map(|s| s.0),
                self.promotion_stall.map(|s| s.1)
            ),
            format!("  \"slot_promotion_worst_client_wait\": {{\"instructions\": {:?}}}", self.worst_client_wait()),
            format!("  \"slot_promotion_timed_stall\": {}", timed_json(self.timed[0])),
            format!("  \"slot_hand_promotion_timed_stall\": {}", timed_json(self.timed[1])),
            format!("  \"slot_hand_promotion_worst_client_wait\": {{\"instructions\": {:?}}}", self.hand_derived),
            format!(
                "  \"slot_hand_promotion_repeats_worst_client_wait\": [{}]",
                self.hand_repeats.iter().map(|w| w.map_or("null".to_string(), |w| w.to_string())).collect::<Vec<_>>().join(", ")
            ),
            format!("  \"slot_rollback_by_hand_longest_call\": {{\"instructions\": {:?}}}", self.rollback_longest),
            format!("  \"slot_probe_policy_promotion\": {}", probe::json(self.probe[0])),
            format!("  \"slot_probe_hand_rollback\": {}", probe::json(self.probe[1])),
            format!("  \"slot_probe_hand_promotion\": {}", probe::json(self.probe[2])),
            format!(
                "  \"slot_probe_outside_windows\": {{\"rounds\": {}, \"median_round_longest\": {{\"lateness\": {}, \"response\": {}, \"call\": {}}}, \"longest\": {{\"lateness\": {}, \"response\": {}, \"call\": {}}}}}",
                self.probe_outside.2,
                self.probe_outside.0[0],
                self.probe_outside.0[1],
                self.probe_outside.0[2],
                self.probe_outside.1[0],
                self.probe_outside.1[1],
                self.probe_outside.1[2]
            ),
            format!(
                "  \"slot_probe_counts\": {{\"rounds\": {}, \"wakes\": {}, \"calls\": {}}}",
                self.probe_counts.0, self.probe_counts.1, self.probe_counts.2
            ),
            format!(
                "  \"slot_by_hand_request_span\": {{\"rollback\": {:?}, \"promotion\": {:?}}}",
                self.control_spans[0], self.control_spans[1]
            ),
            match self.rollback_stall {
                Some((longest, messages, at, window)) => format!(
                    "  \"slot_rollback_by_hand_longest_busy\": {{\"instructions\": {longest}, \"messages\": {messages}, \"longest_at\": {at}, \"window\": {window}}}"
                ),
                None => "  \"slot_rollback_by_hand_longest_busy\": null".to_string(),
            },
            format!("  \"slot_install_commit\": {{\"instructions\": {}, \"bundle_bytes\": {}}}", self.install.0, self.install.1),
            match self.install_parts {
                Some((work, steps, longest, answered, gap)) => format!(
                    "  \"slot_install_commit_work\": {{\"instructions\": {work}, \"steps\": {steps}, \"longest_step\": {longest}, \"answered\": {answered}, \"longest_answer_gap\": {gap}}}"
                ),
                None => "  \"slot_install_commit_work\": null".to_string(),
            },
            format!(
                "  \"slot_install_longest_step_before_last\": {}",
                self.install_longest_before_last.map_or_else(|| "null".to_string(), |n| n.to_string())
            ),
            format!(
                "  \"slot_install_client_stall\": {{\"instructions\": {}, \"without_install\": {}}}",
                self.install_stall.0, self.install_stall.1
            ),
            match self.install_upload {
                Some((ticks, signatures, signature_ticks)) => format!(
                    "  \"slot_install_upload\": {{\"instructions\": {ticks}, \"signatures\": {signatures}, \"signature_instructions\": {signature_ticks}}}"
                ),
                None => "  \"slot_install_upload\": null".to_string(),
            },
        ]
    }
}

/// A timed stall as bench.json has it.
fn timed_json(stall: Option<TimedStall>) -> String {
    match stall {
        Some(t) => format!(
            "{{\"longest_call\": {}, \"calls\": {}, \"window\": {}, \"baseline_longest\": {}, \"baseline_mean\": {}, \"over_usual\": {}, \"over_longest\": {}, \"began_before_window\": {}}}",
            t.longest,
            t.calls,
            t.window,
            t.baseline_longest,
            t.baseline_mean,
            t.over_usual(),
            t.over_longest(),
            t.began_before
        ),
        None => "null".to_string(),
    }
}

/// Windows the twin part waits for.
const TWIN_WINDOWS: usize = 60;

/// The twin part's figures (guest TSC on the wall clock, µs; part 6 of the module docs).
struct TwinFigures {
    /// Sample → twin update: median, 90th percentile, longest.
    sample_to_update: [u64; 3],
    /// The twin's own ingest of the reading: median, longest.
    ingest: [u64; 2],
    /// Windows measured.
    windows: usize,
}

/// The value at per-mille `rank` of sorted `values` (nearest rank).
fn ranked(values: &[u64], per_mille: usize) -> u64 {
    values.get((values.len() * per_mille / 1000).min(values.len().saturating_sub(1))).copied().unwrap_or(0)
}

/// Part 6: boots `twin-bearing` with the simulator and reads [`TWIN_WINDOWS`] `twin.update` lines.
fn twin_figures(images: &TestImages) -> Result<TwinFigures, String> {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use tileos_tile_sim::link::{Mode, Sim, serve};
    let path = workspace_root().join("tools/tile-sim/scenarios/twin-healthy.toml");
    let scenario = tileos_tile_sim::scenario::load(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| format!("bind the simulator's port: {error}"))?;
    let port = listener.local_addr().map_err(|error| format!("{error}"))?.port();
    let sim = Arc::new(Mutex::new(Sim::new(tileos_tile_sim::model::Model::new(scenario), Mode::Healthy)));
    std::thread::spawn(move || serve(listener, sim, 10.0));
    let log = images.logs.join("bench-twin.log");
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("{error}"))?;
    std::fs::write(&log, b"").map_err(|error| format!("{error}"))?;
    let machine = Machine { extra_args: tileos_qemu::sensor_link_args("127.0.0.1", port), ..Machine::default() };
    let done = Arc::new(AtomicBool::new(false));
    let (host_done, watched) = (done.clone(), log.clone());
    let host = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(150);
        let result = loop {
            let text = std::fs::read_to_string(&watched).unwrap_or_default();
            if text.matches("@event twin.update ").count() >= TWIN_WINDOWS {
                break Ok(());
            }
            if Instant::now() > deadline {
                break Err(format!("fewer than {TWIN_WINDOWS} twin.update lines within 150 s"));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        host_done.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    });
    let boot = images.tile_boot(scenario_archive("twin-bearing"));
    let outcome = tileos_qemu::run_until_host_done(&machine, &boot, &log, Duration::from_secs(180), &["@event twin.ready"], &done)
        .map_err(|error| format!("twin: {error}"))?;
    host.join().map_err(|_| String::from("the host thread panicked"))??;
    let updates = outcome.events("twin.update");
    let field = |name: &str| -> Vec<u64> {
        let mut values: Vec<u64> = updates.iter().filter_map(|e| e.get(name).and_then(|v| v.parse().ok())).collect();
        values.sort_unstable();
        values
    };
    let (latency, ingest) = (field("sample_to_update_us"), field("ingest_us"));
    if latency.len() < TWIN_WINDOWS || ingest.len() < TWIN_WINDOWS {
        return Err(failed("twin: too few twin.update lines", &outcome));
    }
    Ok(TwinFigures {
        sample_to_update: [ranked(&latency, 500), ranked(&latency, 900), latency[latency.len() - 1]],
        ingest: [ranked(&ingest, 500), ingest[ingest.len() - 1]],
        windows: latency.len(),
    })
}

impl TwinFigures {
    /// The figures' line of bench.json.
    fn json(&self) -> String {
        let [median, p90, max] = self.sample_to_update;
        format!(
            "  \"twin_sample_to_update\": {{\"unit\": \"guest TSC µs, wall clock (not -icount)\", \"median\": {median}, \"p90\": {p90}, \"max\": {max}, \"ingest_median\": {}, \"ingest_max\": {}, \"windows\": {}}}",
            self.ingest[0], self.ingest[1], self.windows
        )
    }
}

/// Prints the twin table.
fn print_twin(twin: &TwinFigures) {
    println!("{:<52} {:>14}", format!("twin ({} windows; guest TSC µs, wall clock)", twin.windows), "tileos");
    let [median, p90, max] = twin.sample_to_update;
    println!("{:<52} {:>14}", "sensor sample to twin update, median", median);
    println!("{:<52} {:>14}", "  90th percentile", p90);
    println!("{:<52} {:>14}", "  longest", max);
    println!("{:<52} {:>14}", "the twin's own ingest, median", twin.ingest[0]);
    println!("{:<52} {:>14}", "  longest", twin.ingest[1]);
}

/// Prints the slot table.
fn print_slot(slot: &SlotFigures) {
    println!("{:<52} {:>14}", "demo slot (guest instructions)", "tileos");
    let [zero, one, two] = slot.mean_call;
    println!("{:<52} {:>14}", "client call, mean, 0 challengers", zero);
    println!("{:<52} {:>14}", "client call, mean, 1 challenger (overhead)", format!("{one} (+{})", one.saturating_sub(zero)));
    println!("{:<52} {:>14}", "client call, mean, 2 challengers (overhead)", format!("{two} (+{})", two.saturating_sub(zero)));
    let [m0, m1, m2] = slot.manager;
    println!("{:<52} {:>14}", "slot manager's work per request, 0 challengers", m0);
    println!("{:<52} {:>14}", "  1 challenger (overhead)", format!("{m1} (+{})", m1.saturating_sub(m0)));
    println!("{:<52} {:>14}", "  2 challengers (overhead)", format!("{m2} (+{})", m2.saturating_sub(m0)));
    let [k0, k1, k2] = slot.manager_kernel;
    println!("{:<52} {:>14}", "  of which system calls, 0 challengers", k0);
    println!("{:<52} {:>14}", "  of which system calls, 1 challenger (overhead)", format!("{k1} (+{})", k1.saturating_sub(k0)));
    println!("{:<52} {:>14}", "  of which system calls, 2 challengers (overhead)", format!("{k2} (+{})", k2.saturating_sub(k0)));
    if let Some([l0, l1, l2]) = slot.manager_logic {
        println!("{:<52} {:>14}", "  of which the manager's logic, 0 challengers", l0);
        println!("{:<52} {:>14}", "  of which the manager's logic, 1 challenger (overhead)", format!("{l1} (+{})", l1.saturating_sub(l0)));
        println!("{:<52} {:>14}", "  of which the manager's logic, 2 challengers (overhead)", format!("{l2} (+{})", l2.saturating_sub(l0)));
    }
    println!("{:<52} {:>14}", "client call, longest in a quiet round", slot.quiet_longest);
    println!("{:<52} {:>14}", "client call, longest shortly before the promotion", slot.before_promotion_longest);
    println!("{:<52} {:>14}", "client call, longest around the promotion", slot.promotion_longest);
    println!("{:<52} {:>14}", "promotion to the promoted module's first answer", slot.switch);
    let (ready, request, transfer) = slot.switch_parts;
    let how = if transfer { "state transferred" } else { "no warm module: no transfer" };
    println!("{:<52} {:>14}", format!("  of which: promotion to the module ready ({how})"), ready);
    println!("{:<52} {:>14}", "  of which: the first request, arrival to delivery", request);
    match slot.switch_transfer {
        (_, Some(before)) => {
            println!("{:<52} {:>14}", "state transfer before the switch (incumbent serving)", before);
            if let Some(started) = slot.pre_transfer_deferred {
                println!("{:<52} {:>14}", "  the deferred work that started it", started);
            }
        }
        (exported, None) => println!("{:<52} {:>14}", "  promotion to the warm module's export received", exported),
    }
    if let Some(glue) = &slot.switch_glue {
        println!("  switch, the glue's view: {glue}");
    }
    println!("{:<52} {:>14}", "manager's handling of the promotion (the switch)", slot.promotion_handled);
    println!("{:<52} {:>14}", "manager's deferred work after the promotion", slot.promotion_deferred);
    if let Some(entry) = slot.promotion_entry {
        println!("{:<52} {:>14}", "  the entry persisted (a step, before the transfer)", entry);
    }
    if let Some((longest, messages, at)) = slot.promotion_stall {
        println!("{:<52} {:>14}", format!("manager's longest busy span in the promotion (msg {at} of {messages})"), longest);
    }
    if let Some(worst) = slot.worst_client_wait() {
        println!("{:<52} {:>14}", "worst client wait at the promotion (span + own time)", worst);
    }
    for (what, timed) in ["policy", "hand"].iter().zip(slot.timed) {
        if timed.is_none() {
            println!("{what} promotion, timed: no logged call in its window (each below its round's 4th longest, or no window)");
        }
        if let Some(t) = timed {
            println!("{:<52} {:>14}", format!("{what} promotion, timed: longest client call in it"), t.longest);
            println!("{:<52} {:>14}", "  its window; calls seen in it", format!("{}; {}", t.window, t.calls));
            println!("{:<52} {:>14}", "  the longest began this long before the window", t.began_before);
            println!("{:<52} {:>14}", "  load before it: mean call; longest call", format!("{}; {}", t.baseline_mean, t.baseline_longest));
            println!("{:<52} {:>14}", "  over the mean call; over the longest call", format!("{}; {}", t.over_usual(), t.over_longest()));
        }
    }
    if let Some(worst) = slot.hand_derived {
        println!("{:<52} {:>14}", "hand promotion: worst client wait, derived", worst);
    }
    for (i, worst) in slot.hand_repeats.iter().enumerate() {
        let worst = worst.map_or("-".to_string(), |w| w.to_string());
        println!("{:<52} {:>14}", format!("hand promotion, repeat {}: worst client wait, derived", i + 2), worst);
    }
    if let Some(longest) = slot.rollback_longest {
        println!("{:<52} {:>14}", "rollback by hand: longest client call, its rounds", longest);
    }
    for (what, span) in ["rollback", "promotion"].iter().zip(slot.control_spans) {
        if let Some(span) = span {
            println!("{:<52} {:>14}", format!("{what} by hand: the manager's span of its request"), span);
        }
    }
    if let Some((longest, messages, at, window)) = slot.rollback_stall {
        println!("{:<52} {:>14}", format!("rollback by hand: longest busy span (msg {at} of {messages})"), longest);
        println!("{:<52} {:>14}", "  its window (request to answer)", window);
    }
    for (what, window) in ["policy promotion", "rollback by hand", "promotion by hand"].iter().zip(slot.probe) {
        probe::print(what, window);
    }
    let (logged, wakes, calls) = slot.probe_counts;
    println!("{:<52} {:>14}", format!("probe: rounds logged; wakes, calls in them"), format!("{logged}; {wakes}, {calls}"));
    let (median, largest, rounds) = slot.probe_outside;
    println!("{:<52} {:>14}", format!("probe, away from them ({rounds} rounds): lateness"), format!("{} / {}", median[0], largest[0]));
    println!("{:<52} {:>14}", "  response (median of the rounds' longest / longest)", format!("{} / {}", median[1], largest[1]));
    println!("{:<52} {:>14}", "  call", format!("{} / {}", median[2], largest[2]));
    println!("{:<52} {:>14}", format!("install commit of a {} KiB bundle (to its answer)", slot.install.1 / 1024), slot.install.0);
    if let Some((work, steps, longest, answered, gap)) = slot.install_parts {
        println!("{:<52} {:>14}", format!("  of which the manager's steps ({steps})"), work);
        println!("{:<52} {:>14}", "  the manager's longest step", longest);
        if let Some(before_last) = slot.install_longest_before_last {
            println!("{:<52} {:>14}", "  … before the last (the start)", before_last);
        }
        println!("{:<52} {:>14}", format!("  longest between client answers ({answered} in it)"), gap);
    }
    if let Some(gap) = slot.install_upload_gap {
        println!("{:<52} {:>14}", "  longest between client answers, upload included", gap);
    }
    if let Some((ticks, signatures, signature_ticks)) = slot.install_upload {
        println!("{:<52} {:>14}", "upload of that bundle through the agent (begin to commit)", ticks);
        println!("{:<52} {:>14}", format!("  of which {signatures} operator signatures (begin's not in it)"), signature_ticks);
    }
    println!("{:<52} {:>14}", "client stall during the install (longest call)", slot.install_stall.0);
    println!("{:<52} {:>14}", "  client call, longest before it (2 challengers)", slot.install_stall.1);
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

/// checksum-client's rounds that overlap `serial[start..end]`: those logged in it and the
/// first one logged after it (each round's line comes at its end).
fn rounds_spanning(serial: &str, (start, end): (usize, usize)) -> Vec<(u64, u64)> {
    rounds_after(serial.get(..end).unwrap_or(serial), start).chain(rounds_after(serial, end).take(1)).collect()
}

/// Waits until the serial log has `rounds` complete client rounds after byte `from`.
fn wait_rounds(log: &std::path::Path, from: usize, rounds: usize) -> Result<Vec<(u64, u64)>, String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let serial = serial_text(log);
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

/// The serial log as the run's outcome has it (line ends `\r\n` made `\n`), so that byte
/// offsets taken while the guest runs point at the same place in [`RunOutcome::serial`]
/// (with the raw file's offsets, each line before added a byte: the promotion's window
/// began rounds too late and missed the round that held the promotion).
fn serial_text(log: &std::path::Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default().replace("\r\n", "\n")
}

/// The serial log's length now (in [`serial_text`]).
fn log_length(log: &std::path::Path) -> usize {
    serial_text(log).len()
}

/// Rounds measured per phase (500 calls each; the manager logs its cost every 1,000).
const SLOT_ROUNDS: usize = 6;

/// Where in the serial log each phase of the slot figures began and ended (byte offsets).
struct SlotPhases {
    /// 0, 1 and 2 challengers shadowing: (start, end).
    shadowing: [(usize, usize); 3],
    /// The line of the automatic promotion.
    promotion: usize,
    /// The lines of the rollback by hand and of the promotion by hand after it (`None`:
    /// not reached).
    by_hand: Option<(usize, usize)>,
    /// The install of the ~100 KiB bundle: from before tilectl connects to the challenger
    /// shadowing.
    big_install: (usize, usize),
    /// The repeats of the rollback and the promotion by hand ([`hand_repeats`]), as `by_hand`.
    repeats: Vec<(usize, usize)>,
}

/// How many times the rollback and the promotion by hand are done in one boot (default 1):
/// `TILEOS_BENCH_SLOT_HAND_REPEAT` (at most 40), for watching a rare case of the promotion
/// by hand; the figures are the first's, the repeats' derived worst waits are printed.
fn hand_repeats() -> usize {
    std::env::var("TILEOS_BENCH_SLOT_HAND_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(1).clamp(1, 40)
}

/// The host's side of the slot figures: installs the challengers one by one, waits for each
/// phase's rounds, then for the policy's automatic promotion of checksum-fast.
fn drive_slot(port: u16, log: &std::path::Path) -> Result<SlotPhases, String> {
    let install = |name: &str| tileos_qemu::host::install_bundle(port, "checksum", name);
    let shadowing = |count: usize| {
        let deadline = Instant::now() + IO_TIMEOUT;
        while serial_text(log).matches("to=shadowing").count() < count {
            if Instant::now() > deadline {
                return Err(format!("{count} challengers never shadowed"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    };
    let phase = || -> Result<(usize, usize), String> {
        let start = log_length(log);
        wait_rounds(log, start, SLOT_ROUNDS)?;
        Ok((start, log_length(log)))
    };
    let quiet = phase()?;
    install("checksum-fast")?;
    shadowing(1)?;
    let one = phase()?;
    install("checksum-lineage-b")?;
    shadowing(2)?;
    let two = phase()?;
    // The install figure: the third install's commit, and the client's calls around it.
    let big_start = log_length(log);
    install("checksum-big")?;
    shadowing(3)?;
    let big_install = (big_start, log_length(log));
    // The promotion: by the policy (no tilectl traffic competes with the clients then).
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let serial = serial_text(log);
        if let Some(promotion) = serial.find("reason=Promoted(Policy)")
            && rounds_after(&serial, promotion).nth(1).is_some()
        {
            let by_hand = drive_by_hand(port, log, promotion)?;
            let mut repeats = Vec::new();
            let mut from = by_hand.1 + 1;
            for _ in 1..hand_repeats() {
                let next = drive_by_hand(port, log, from)?;
                // Past the previous promotion's transition line.
                from = next.1 + 1;
                repeats.push(next);
            }
            return Ok(SlotPhases { shadowing: [quiet, one, two], promotion, big_install, by_hand: Some(by_hand), repeats });
        }
        if Instant::now() > deadline {
            return Err("checksum-fast was not promoted by the policy (or no client round followed)".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// After the policy's promotion: a rollback by hand (the window is open), checksum-lineage-b
/// installed again, and once it shadows and three rounds passed, its promotion by hand
/// (forced: its evidence is young). Returns the serial log's offsets of the rollback's and
/// the promotion's transition lines.
/// `from`: where in the serial log its lines are looked for (a repeat's are after the
/// previous one's).
fn drive_by_hand(port: u16, log: &std::path::Path, from: usize) -> Result<(usize, usize), String> {
    let slot = "checksum".to_string();
    let wait = |text: &str| -> Result<usize, String> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(at) = serial_text(log).get(from..).and_then(|rest| rest.find(text)) {
                return Ok(from + at);
            }
            if Instant::now() > deadline {
                return Err(format!("{text:?} never appeared in the serial log"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_rounds(log, log_length(log), 2)?;
    tileos_qemu::host::tilectl(port, tileos_tilectl::Command::Rollback { slot: slot.clone() }, Duration::from_secs(60))?;
    let rollback = wait("reason=ManualRollback")?;
    wait_rounds(log, log_length(log), 2)?;
    let installed = tileos_qemu::host::install_bundle(port, "checksum", "checksum-lineage-b")?;
    let module = tileos_qemu::host::installed_module(&installed)?;
    wait(&format!("module={module} from=installed to=shadowing"))?;
    wait_rounds(log, log_length(log), 4)?;
    let promoted =
        tileos_qemu::host::tilectl(port, tileos_tilectl::Command::Promote { slot, module, force: true }, Duration::from_secs(60))?;
    if !promoted.contains("promoted") {
        return Err(format!("the promotion by hand: {promoted}"));
    }
    let promotion = wait("reason=Promoted(Forced)")?;
    wait_rounds(log, promotion, 3)?;
    // Two of checksum-probe's rounds after it (each 31 ms of guest time), so its samples of
    // the promotion's window are logged.
    let deadline = Instant::now() + IO_TIMEOUT;
    while serial_text(log).get(promotion..).unwrap_or("").matches("@event probe.round ").count() < 2 {
        if Instant::now() > deadline {
            return Err("checksum-probe logged no two rounds after the promotion by hand".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((rollback, promotion))
}

/// checksum-client's logged calls (`slow=`: each round's longest, `ticks@start`) in `serial`.
fn logged_calls(serial: &str) -> Vec<(u64, u64)> {
    serial
        .lines()
        .filter(|line| line.starts_with("@event checksum.round "))
        .filter_map(|line| line.split_whitespace().find_map(|word| word.strip_prefix("slow=")))
        .flat_map(|list| list.split(','))
        .filter_map(|call| {
            let (ticks, start) = call.split_once('@')?;
            Some((ticks.parse().ok()?, start.parse().ok()?))
        })
        .filter(|&(ticks, _)| ticks > 0)
        .collect()
}

/// The stall the client saw at the promotion whose transition line is at `at`: its
/// `slot.promotion-stall` line (the first after `at`) gives the window, the logged calls
/// that overlap it are the stall's, and the three rounds before the one that held `at` are
/// the baseline.
fn timed_stall(serial: &str, at: usize) -> Option<TimedStall> {
    let line = serial.get(at..)?.lines().find(|line| line.starts_with("@event slot.promotion-stall "))?;
    let field = |name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name)).and_then(|v| v.parse::<u64>().ok());
    let (from, to) = (field("from=")?, field("to=")?);
    let inside: Vec<(u64, u64)> = logged_calls(serial).into_iter().filter(|&(ticks, start)| start <= to && start + ticks >= from).collect();
    let &(longest, began) = inside.iter().max()?;
    let before: Vec<(u64, u64)> = rounds_after(serial.get(..at).unwrap_or(serial), 0).collect();
    let baseline = &before[before.len().saturating_sub(4)..before.len().saturating_sub(1)];
    Some(TimedStall {
        longest,
        calls: inside.len(),
        began_before: from as i64 - began as i64,
        window: to.saturating_sub(from),
        baseline_longest: baseline.iter().map(|r| r.1).max().unwrap_or(0),
        baseline_mean: baseline.iter().map(|r| r.0).sum::<u64>() / baseline.len().max(1) as u64,
    })
}

/// The `field` (`ticks_per_request=`, `kernel_ticks_per_request=` or `logic_ticks_per_request=`) of the slot manager's
/// `slot.cost` lines in `serial[start..end]`, but the first (its window may have begun
/// before `start`).
fn manager_costs(serial: &str, (start, end): (usize, usize), field: &str) -> Vec<u64> {
    serial
        .get(start..end)
        .unwrap_or("")
        .lines()
        .filter(|line| line.starts_with("@event slot.cost "))
        .filter_map(|line| line.split_whitespace().find_map(|word| word.strip_prefix(field)).and_then(|v| v.parse().ok()))
        .skip(1)
        .collect()
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
            // checksum-probe's clock: its interrupts in guest time (`vm`), not the host's.
            "-rtc".into(),
            "clock=vm".into(),
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
    // A minute more for each repeat of the rollback and the promotion by hand.
    let run_timeout = IO_TIMEOUT + Duration::from_secs(60) * (hand_repeats() as u32 - 1);
    let outcome = tileos_qemu::run_until_host_done(&machine, &boot, &log, run_timeout, &["update-agent: ready"], &done)
        .map_err(|error| error.to_string())?;
    host.join().map_err(|_| "the host side panicked".to_string())?;
    let phases = results
        .try_recv()
        .unwrap_or_else(|_| Err("the host side did not finish".into()))
        .map_err(|error| failed(&format!("slot figures: {error}"), &outcome))?;
    let serial = &outcome.serial;
    let rounds = |(start, end): (usize, usize)| -> Vec<(u64, u64)> { client_rounds(serial.get(..end).unwrap_or(serial), start) };
    let average = |values: &[u64]| values.iter().sum::<u64>() / values.len().max(1) as u64;
    let mean = |phase| average(&rounds(phase).iter().map(|r| r.0).collect::<Vec<_>>());
    let longest = |rounds: &[(u64, u64)]| rounds.iter().map(|r| r.1).max().unwrap_or(0);
    let manager = |phase, field| {
        let costs = manager_costs(serial, phase, field);
        if costs.is_empty() { Err(failed("slot figures: no slot.cost line in a phase", &outcome)) } else { Ok(average(&costs)) }
    };
    // The round that held the promotion may be logged just before its transition line (the
    // log lines of different domains interleave): the promotion's window is the last round
    // before the line and the two after it; the baseline is the three rounds before those.
    let before: Vec<(u64, u64)> = rounds_after(serial.get(..phases.promotion).unwrap_or(serial), 0).collect();
    let around: Vec<(u64, u64)> = before.last().copied().into_iter().chain(rounds_after(serial, phases.promotion).take(2)).collect();
    let baseline = &before[before.len().saturating_sub(4)..before.len().saturating_sub(1)];
    let commits: Vec<&str> = outcome.serial.lines().filter(|line| line.starts_with("@event slot.install-commit ")).collect();
    let commit_field = |line: &str, name: &str| -> Option<u64> {
        line.split_whitespace().find_map(|word| word.strip_prefix(name)).and_then(|v| v.parse().ok())
    };
    let Some(install) = commits.get(2).and_then(|line| commit_field(line, "ticks=")) else {
        return Err(failed("slot figures: no install-commit line for checksum-big", &outcome));
    };
    let install_parts = commits.get(2).and_then(|line| {
        Some((
            commit_field(line, "work=")?,
            commit_field(line, "steps=")?,
            commit_field(line, "longest_step=")?,
            commit_field(line, "answered=")?,
            commit_field(line, "longest_answer_gap=")?,
        ))
    });
    let install_longest_before_last = commits.get(2).and_then(|line| commit_field(line, "longest_step_before_last="));
    let install_stall = longest(&rounds_spanning(serial, phases.big_install));
    let install_upload_gap = commits.get(2).and_then(|line| commit_field(line, "answer_gap_since_last="));
    let install_upload = serial.lines().filter(|line| line.starts_with("@event agent.install ")).nth(2).and_then(|line| {
        Some((commit_field(line, "ticks=")?, commit_field(line, "signatures=")?, commit_field(line, "signature_ticks=")?))
    });
    let switch_line = serial
        .lines()
        .find(|line| line.starts_with("@event slot.switch "))
        .ok_or_else(|| failed("slot figures: no slot.switch line", &outcome))?;
    let field = |name: &str| switch_line.split_whitespace().find_map(|word| word.strip_prefix(name)).map(str::to_owned);
    let micros = |name: &str| {
        field(name)
            .and_then(|micros| micros.parse::<u64>().ok())
            .map(|micros| micros * 1000)
            .ok_or_else(|| failed(&format!("slot figures: no {name} in the slot.switch line"), &outcome))
    };
    let switch = micros("first_answer_micros=")?;
    let switch_parts = (micros("ready_micros=")?, micros("request_micros=")?, field("transfer=").as_deref() == Some("true"));
    let before_switch = field("before_switch=").as_deref() == Some("true");
    let switch_transfer = (micros("exported_micros=").unwrap_or(0), if before_switch { micros("pre_transfer_micros=").ok() } else { None });
    let logged_at = serial.find("@event slot.promotion-logged ");
    // The step after the entry's (since `slots14` the entry is persisted before the
    // transfer starts).
    let pre_transfer_deferred = if before_switch {
        logged_at
            .and_then(|at| serial.get(at..))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with("@event slot.deferred "))
            .nth(1)
            .and_then(|line| line.split_whitespace().find_map(|word| word.strip_prefix("ticks=")))
            .and_then(|ticks| ticks.parse::<u64>().ok())
    } else {
        None
    };
    let switch_glue = serial
        .lines()
        .find(|line| line.starts_with("@event slot.switch-glue "))
        .map(|line| line.split_whitespace().skip(3).collect::<Vec<_>>().join(" "));
    let promotion_handled = serial
        .lines()
        .find(|line| line.starts_with("@event slot.promotion-handled "))
        .and_then(|line| line.split_whitespace().find_map(|word| word.strip_prefix("ticks=")))
        .and_then(|ticks| ticks.parse::<u64>().ok())
        .ok_or_else(|| failed("slot figures: no slot.promotion-handled line", &outcome))?;
    let promotion_deferred = serial
        .get(phases.promotion..)
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("@event slot.deferred "))
        .and_then(|line| line.split_whitespace().find_map(|word| word.strip_prefix("ticks=")))
        .and_then(|ticks| ticks.parse::<u64>().ok())
        .ok_or_else(|| failed("slot figures: no slot.deferred line after the promotion", &outcome))?;
    let promotion_entry = logged_at
        .and_then(|at| serial.get(at..))
        .and_then(|rest| rest.lines().find(|line| line.starts_with("@event slot.deferred ")))
        .and_then(|line| line.split_whitespace().find_map(|word| word.strip_prefix("ticks=")))
        .and_then(|ticks| ticks.parse::<u64>().ok());
    let promotion_stall = serial.lines().find(|line| line.starts_with("@event slot.promotion-stall ")).and_then(|line| {
        let field = |name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name)).and_then(|v| v.parse::<u64>().ok());
        Some((field("longest_busy=")?, field("messages=")?, field("longest_at=")?))
    });
    // The promotion by hand's derived worst wait: its stall line's longest span plus its
    // switch line's first request (both the first after its transition line).
    let derived_at = |at: usize| {
        let rest = serial.get(at..)?;
        let value = |marker: &str, name: &str| {
            rest.lines()
                .find(|line| line.starts_with(marker))
                .and_then(|line| line.split_whitespace().find_map(|word| word.strip_prefix(name)))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(value("@event slot.promotion-stall ", "longest_busy=")? + value("@event slot.switch ", "request_micros=")? * 1000)
    };
    let hand_derived = phases.by_hand.and_then(|(_, at)| derived_at(at));
    let hand_repeats: Vec<Option<u64>> = phases.repeats.iter().map(|&(_, at)| derived_at(at)).collect();
    let rollback_longest = phases.by_hand.and_then(|(at, _)| {
        let before: Vec<(u64, u64)> = rounds_after(serial.get(..at).unwrap_or(serial), 0).collect();
        before.last().copied().into_iter().chain(rounds_after(serial, at).take(1)).map(|r| r.1).max()
    });
    // The probe (slots16): its samples in the windows of the policy's promotion, the
    // rollback by hand and the promotion by hand, and away from them.
    let probe_rounds = probe::rounds(serial);
    // The rollback by hand's window: since `slots20` its `slot.rollback-stall` line (its
    // request, its entry's step, its rollback's step), logged after its transition line.
    let windows = [
        probe::span_after(serial, phases.promotion, "@event slot.promotion-stall "),
        phases.by_hand.and_then(|(at, _)| probe::span_after(serial, at, "@event slot.rollback-stall ")),
        phases.by_hand.and_then(|(_, at)| probe::span_after(serial, at, "@event slot.promotion-stall ")),
    ];
    // Both requests' spans are logged before their transition lines (since `slots20` the
    // rollback, like the promotion, comes at a later step): the last one before it.
    let span_ticks = |(from, to): (u64, u64)| to.saturating_sub(from);
    let control_spans = [
        phases.by_hand.and_then(|(at, _)| probe::span_before(serial, at, "@event slot.control-span ")).map(span_ticks),
        phases.by_hand.and_then(|(_, at)| probe::span_before(serial, at, "@event slot.control-span ")).map(span_ticks),
    ];
    let rollback_stall = phases.by_hand.and_then(|(at, _)| {
        let line = serial.get(at..)?.lines().find(|line| line.starts_with("@event slot.rollback-stall "))?;
        let field = |name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name)).and_then(|v| v.parse::<u64>().ok());
        Some((field("longest_busy=")?, field("messages=")?, field("longest_at=")?, field("to=")?.saturating_sub(field("from=")?)))
    });
    let probe_outside = probe::outside(&probe_rounds, &windows.iter().flatten().copied().collect::<Vec<_>>());
    let probe = windows.map(|span| span.map(|span| probe::window(&probe_rounds, span)));
    let probe_counts = (probe_rounds.len(), probe_rounds.iter().map(|r| r.wakes).sum(), probe_rounds.iter().map(|r| r.calls).sum());
    let [quiet, one, two] = phases.shadowing;
    Ok(SlotFigures {
        mean_call: [mean(quiet), mean(one), mean(two)],
        manager: [manager(quiet, "ticks_per_request=")?, manager(one, "ticks_per_request=")?, manager(two, "ticks_per_request=")?],
        manager_kernel: [
            manager(quiet, "kernel_ticks_per_request=")?,
            manager(one, "kernel_ticks_per_request=")?,
            manager(two, "kernel_ticks_per_request=")?,
        ],
        manager_logic: match (
            manager(quiet, "logic_ticks_per_request="),
            manager(one, "logic_ticks_per_request="),
            manager(two, "logic_ticks_per_request="),
        ) {
            (Ok(l0), Ok(l1), Ok(l2)) => Some([l0, l1, l2]),
            _ => None,
        },
        quiet_longest: longest(&rounds(quiet)),
        before_promotion_longest: longest(baseline),
        promotion_longest: longest(&around),
        switch,
        switch_parts,
        switch_transfer,
        pre_transfer_deferred,
        switch_glue,
        promotion_handled,
        promotion_deferred,
        promotion_entry,
        promotion_stall,
        install: (install, big),
        install_parts,
        install_longest_before_last,
        install_upload_gap,
        install_upload,
        install_stall: (install_stall, longest(&rounds(two))),
        timed: [timed_stall(serial, phases.promotion), phases.by_hand.and_then(|(_, at)| timed_stall(serial, at))],
        hand_derived,
        hand_repeats,
        rollback_longest,
        probe,
        control_spans,
        rollback_stall,
        probe_outside,
        probe_counts,
    })
}

/// Prints the kernel table: both kernels on one CPU and the default one on two, beside the
/// seL4 reference.
fn print_kernel(kernel: &BTreeMap<String, KernelFigure>) {
    let shown = |figure: Option<u64>| figure.map_or("-".to_string(), |figure| figure.to_string());
    println!(
        "{:<32} {:>14} {:>14} {:>14} {:>10} {:>24}",
        "figure (guest instructions)", "tileos (KPTI)", "without KPTI", "KPTI, 2 CPUs", "iterations", "seL4 reference"
    );
    for (name, figure) in kernel {
        let reference = SEL4.iter().find(|(n, _)| n == name).map_or("-", |(_, r)| r);
        println!(
            "{name:<32} {:>14} {:>14} {:>14} {:>10} {reference:>24}",
            shown(figure.kpti),
            shown(figure.no_kpti),
            shown(figure.two_cpus),
            figure.iterations
        );
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

/// The verification cost per answer: medians over the verify boot test's answers, in guest
/// instructions, and the host reference's medians of the same steps in nanoseconds.
struct VerifyFigures {
    /// Answers measured in the guest.
    answers: usize,
    /// Guest medians: judging, persisting, appending.
    guest: [u64; 3],
    /// Host medians (ns): judging, appending.
    host: [u64; 2],
}

impl VerifyFigures {
    fn json(&self) -> Vec<String> {
        let [judge, persist, commit] = self.guest;
        vec![
            format!(
                r#"  "verify_judge_per_answer": {{"instructions": {judge}, "answers": {}, "host_ns": {}}}"#,
                self.answers, self.host[0]
            ),
            format!(r#"  "verify_persist_per_answer": {{"instructions": {persist}, "answers": {}}}"#, self.answers),
            format!(
                r#"  "verify_ledger_append_per_answer": {{"instructions": {commit}, "answers": {}, "host_ns": {}}}"#,
                self.answers, self.host[1]
            ),
        ]
    }
}

fn print_verify(figures: &VerifyFigures) {
    println!("{:<52} {:>14} {:>12}", format!("verification per answer (median of {})", figures.answers), "guest instr.", "host ns");
    println!("{:<52} {:>14} {:>12}", "judge: route, check or T3, ledger entry", figures.guest[0], figures.host[0]);
    println!("{:<52} {:>14} {:>12}", "persist the entry durably (store + NVMe)", figures.guest[1], "n/a");
    println!("{:<52} {:>14} {:>12}", "append to the ledger (RFC 6962 log)", figures.guest[2], figures.host[1]);
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// The host reference: the verify boot test's judged answers through the same desk, timed
/// on the host (median of 101 rounds of judge and of append).
fn verify_host_reference() -> Result<[u64; 2], String> {
    use tileos_verify_service::desk::{Answered, Desk, tile_canaries};
    use tileos_verify_service::dev_keys;
    let signature = dev_keys::tile_policy_signature().ok_or("tile.policy.sig is not 128 hex digits")?;
    let desk = || {
        Desk::new(
            dev_keys::TILE_POLICY.as_bytes(),
            &signature,
            &dev_keys::policy_signer().verifying_key(),
            Default::default(),
            dev_keys::ledger_key(),
            tile_canaries(u64::MAX),
        )
        .map_err(|error| format!("desk: {error}"))
    };
    let answers = [
        ("12+7", "t1", "19"),
        ("5 km in m", "t1", "500"),
        ("may we share the site plans?", "t3", "human review: security"),
        ("49-3", "t1", "46"),
    ];
    let (mut judge, mut append) = (Vec::new(), Vec::new());
    for _ in 0..101 {
        let mut d = desk()?;
        for (query, specialist, answer) in answers {
            let (request, route) = d.route(query, None).map_err(|error| format!("{query}: {error}"))?;
            let started = Instant::now();
            let judged = d.judge(&request, &route, &[Answered { specialist, answer }], 0.0).map_err(|error| format!("{query}: {error}"))?;
            judge.push(started.elapsed().as_nanos() as u64);
            let started = Instant::now();
            d.commit(&judged).map_err(|error| format!("{query}: {error}"))?;
            append.push(started.elapsed().as_nanos() as u64);
        }
    }
    Ok([median(judge), median(append)])
}

/// Boots scenario `verify` under -icount and reads the verify domain's `verify.answered`
/// events.
fn verify_figures(images: &TestImages) -> Result<VerifyFigures, String> {
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("log directory: {error}"))?;
    let disk = images.logs.join("bench-verify-disk.img");
    let file = std::fs::File::create(&disk).map_err(|error| format!("disk image {}: {error}", disk.display()))?;
    file.set_len(STORE_DISK_BYTES).map_err(|error| format!("disk image: {error}"))?;
    drop(file);
    let (machine, boot) = scenario(images, "verify", tileos_qemu::nvme_disk_args(&disk));
    eprintln!("tileos-bench: verify figures: booting scenario verify under -icount...");
    let outcome = run_watch(
        &machine,
        &boot,
        &images.logs.join("bench-verify.log"),
        IO_TIMEOUT,
        &["@event verifyhostile.done"],
        &["FAILED", "panic at", "KERNEL EXCEPTION"],
    )
    .map_err(|error| error.to_string())?;
    if !matches!(outcome.ended, Ended::Reached(_)) {
        return Err(failed("verify figures", &outcome));
    }
    let events = outcome.events("verify.answered");
    let field = |key: &str| -> Result<Vec<u64>, String> {
        events.iter().map(|e| e.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| format!("no {key} in {}", e.line))).collect()
    };
    let (judge, persist, commit) = (field("judge_ticks")?, field("persist_ticks")?, field("commit_ticks")?);
    if events.is_empty() {
        return Err(failed("verify figures: no verify.answered event", &outcome));
    }
    Ok(VerifyFigures { answers: events.len(), guest: [median(judge), median(persist), median(commit)], host: verify_host_reference()? })
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
    if let Some(unknown) = parts
        .iter()
        .find(|part| !["kernel", "nvme", "store", "tcp", "slot", "verify", "inference", "twin", "domains"].contains(&part.as_str()))
    {
        eprintln!(
            "tileos-bench: unknown part {unknown:?} (parts: kernel, nvme, store, tcp, slot, verify, inference, twin, domains; none = all, and bench.json is written)"
        );
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
    // `make bench` measures its own kernels: the test kernel without entry timing, with and
    // without the Meltdown mitigation.
    if let Some(kernel) = std::env::var_os("TILEOS_BENCH_KERNEL") {
        images.kernel = kernel.into();
    }
    let no_kpti: PathBuf = std::env::var_os("TILEOS_BENCH_KERNEL_NO_KPTI")
        .map_or_else(|| workspace_root().join("build/test/kernel-no-kpti.elf32"), PathBuf::from);
    let images = &images;
    let measured = (|| -> Result<_, String> {
        let kernel = if wanted("kernel") { Some(kernel_figures(images, &no_kpti)?) } else { None };
        let nvme = if wanted("nvme") { Some(nvme_figures(images)?) } else { None };
        let store = if wanted("store") { Some(store_figures(images)?) } else { None };
        let tcp = if wanted("tcp") { Some(tcp_figures(images)?) } else { None };
        let slot = if wanted("slot") { Some(slot_figures(images)?) } else { None };
        let verify = if wanted("verify") { Some(verify_figures(images)?) } else { None };
        let inference = if wanted("inference") { Some(inference::inference_figures(images)?) } else { None };
        let twin = if wanted("twin") { Some(twin_figures(images)?) } else { None };
        let many = if wanted("domains") { Some(domains::domains_figures(images)?) } else { None };
        Ok((kernel, nvme, store, tcp, slot, verify, inference, twin, many))
    })();
    let (kernel, nvme, store, tcp, slot, verify, inference, twin, many) = match measured {
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
    if let Some(verify) = &verify {
        println!();
        print_verify(verify);
    }
    if let Some(inference) = &inference {
        println!();
        inference.print();
    }
    if let Some(twin) = &twin {
        println!();
        print_twin(twin);
    }
    if let Some(many) = &many {
        println!();
        domains::print(many);
    }
    let (Some(kernel), Some(nvme), Some(store), Some(tcp), Some(slot), Some(verify), Some(inference), Some(twin), Some(many)) =
        (kernel, nvme, store, tcp, slot, verify, inference, twin, many)
    else {
        println!("(only some parts run: {} left as it was)", workspace_root().join("build/bench.json").display());
        return ExitCode::SUCCESS;
    };
    let mut json: Vec<String> = kernel
        .iter()
        .map(|(name, figure)| {
            let field = |key: &str, value: Option<u64>| value.map_or(String::new(), |value| format!("\"{key}\": {value}, "));
            format!(
                "  \"{name}\": {{{}{}{}\"iterations\": {}}}",
                field("instructions", figure.kpti),
                field("instructions_no_kpti", figure.no_kpti),
                field("instructions_two_cpus", figure.two_cpus),
                figure.iterations
            )
        })
        .collect();
    json.extend(nvme.iter().chain(&store).map(|(name, figure)| figure.json(name, "")));
    json.push(tcp_json(&tcp));
    json.extend(slot.json());
    json.extend(verify.json());
    json.extend(inference.json());
    json.push(twin.json());
    json.extend(domains::json(&many));
    let path = workspace_root().join("build/bench.json");
    if let Err(error) = std::fs::write(&path, format!("{{\n{}\n}}\n", json.join(",\n"))) {
        eprintln!("tileos-bench: cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("written to {}", path.display());
    ExitCode::SUCCESS
}
