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
//!    netstack's `netstack: discard connection <k>: result …` lines.
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
//! Arguments `kernel`, `nvme`, `store`, `tcp` run only those parts (e.g. to repeat one); the
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
    if let Some(unknown) = parts.iter().find(|part| !["kernel", "nvme", "store", "tcp"].contains(&part.as_str())) {
        eprintln!("tileos-bench: unknown part {unknown:?} (parts: kernel, nvme, store, tcp; none = all, and bench.json is written)");
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
        Ok((kernel, nvme, store, tcp))
    })();
    let (kernel, nvme, store, tcp) = match measured {
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
    let (Some(kernel), Some(nvme), Some(store), Some(tcp)) = (kernel, nvme, store, tcp) else {
        println!("(only some parts run: {} left as it was)", workspace_root().join("build/bench.json").display());
        return ExitCode::SUCCESS;
    };
    let mut json: Vec<String> = kernel
        .iter()
        .map(|(name, (per_op, iterations))| format!("  \"{name}\": {{\"instructions\": {per_op}, \"iterations\": {iterations}}}"))
        .collect();
    json.extend(nvme.iter().chain(&store).map(|(name, figure)| figure.json(name, "")));
    json.push(tcp_json(&tcp));
    let path = workspace_root().join("build/bench.json");
    if let Err(error) = std::fs::write(&path, format!("{{\n{}\n}}\n", json.join(",\n"))) {
        eprintln!("tileos-bench: cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("written to {}", path.display());
    ExitCode::SUCCESS
}
