//! `tileos-qemu`: boots a tileos image on the standard machine, for `make run`,
//! `make debug` and scripts.
//!
//! ```text
//! tileos-qemu (--kernel K.elf32 [--cmdline C] [--module FILE[=CMDLINE]]... | --iso I.iso)
//!             [--tile-devices DISK [--tcp-port P] [--udp-port P] [--client-tcp-port P] [--client-udp-port P]]
//!             [--icount] [--gdb] [--log FILE --timeout SECONDS]
//! ```
//! `--tile-devices` adds the full tile's devices (NVMe on DISK, created empty if missing;
//! virtio-net with the status service on host TCP port P, default 8080, and the UDP echo
//! on host UDP port P, default 7007; the net-client domain's line service on host TCP port
//! `--client-tcp-port` P, default 7070, and its datagram service on host UDP port
//! `--client-udp-port` P, default 5000; virtio-gpu).
//! Without `--log` the guest is attached to the terminal (serial and monitor on stdio).
//! With `--log` the run is unattended; the exit status is 0 when the guest reports a pass.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::{Boot, BootModule, Ended, Machine, TileDevices};

const USAGE: &str = "usage: tileos-qemu (--kernel K.elf32 [--cmdline C] [--module FILE[=CMDLINE]]... | --iso I.iso) [--tile-devices DISK [--tcp-port P] [--udp-port P] [--client-tcp-port P] [--client-udp-port P]] [--icount] [--gdb] [--log FILE --timeout SECONDS]";

/// Size of a new NVMe disk image (4 MiB, what the block client expects at least).
const DISK_BYTES: u64 = 4 << 20;

struct Options {
    machine: Machine,
    boot: Boot,
    log: Option<(PathBuf, Duration)>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut machine = Machine::default();
    let (mut kernel, mut iso, mut cmdline, mut modules) = (None, None, String::new(), Vec::new());
    let (mut log, mut timeout) = (None, None);
    let (mut disk, mut tcp_port, mut udp_port) = (None, 8080u16, 7007u16);
    let (mut client_tcp_port, mut client_udp_port) = (tileos_qemu::CLIENT_TCP_PORT, tileos_qemu::CLIENT_UDP_PORT);
    let port = |name: &str, text: String| text.parse::<u16>().map_err(|_| format!("{name}: '{text}' is not a port number"));
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(value("--kernel")?)),
            "--iso" => iso = Some(PathBuf::from(value("--iso")?)),
            "--cmdline" => cmdline = value("--cmdline")?,
            "--module" => {
                let spec = value("--module")?;
                let (path, module_cmdline) = spec.split_once('=').unwrap_or((&spec, ""));
                modules.push(BootModule { path: path.into(), cmdline: module_cmdline.into() });
            }
            "--tile-devices" => disk = Some(PathBuf::from(value("--tile-devices")?)),
            "--tcp-port" => tcp_port = port("--tcp-port", value("--tcp-port")?)?,
            "--udp-port" => udp_port = port("--udp-port", value("--udp-port")?)?,
            "--client-tcp-port" => client_tcp_port = port("--client-tcp-port", value("--client-tcp-port")?)?,
            "--client-udp-port" => client_udp_port = port("--client-udp-port", value("--client-udp-port")?)?,
            "--icount" => machine.icount = true,
            "--gdb" => machine.gdb = true,
            "--log" => log = Some(PathBuf::from(value("--log")?)),
            "--timeout" => {
                let text = value("--timeout")?;
                let seconds: u64 = text.parse().map_err(|_| format!("--timeout: '{text}' is not a number of seconds"))?;
                timeout = Some(Duration::from_secs(seconds));
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let boot = match (kernel, iso) {
        (Some(kernel), None) => Boot::Kernel { kernel, cmdline, modules },
        (None, Some(iso)) if modules.is_empty() && cmdline.is_empty() => Boot::Iso(iso),
        (None, Some(_)) => return Err("--cmdline and --module apply to --kernel only; an ISO carries its own".into()),
        _ => return Err("give exactly one of --kernel or --iso".into()),
    };
    if let Some(disk) = disk {
        create_disk(&disk)?;
        machine.extra_args.extend(TileDevices { disk, tcp_port, udp_port, client_tcp_port, client_udp_port }.args());
    }
    let log = match (log, timeout) {
        (Some(log), Some(timeout)) => Some((log, timeout)),
        (None, None) => None,
        _ => return Err("--log and --timeout go together".into()),
    };
    Ok(Options { machine, boot, log })
}

/// Creates an empty disk image at `disk` unless one is there.
fn create_disk(disk: &std::path::Path) -> Result<(), String> {
    if disk.exists() {
        return Ok(());
    }
    if let Some(parent) = disk.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("--tile-devices: cannot create {}: {e}", parent.display()))?;
    }
    let file = std::fs::File::create(disk).map_err(|e| format!("--tile-devices: cannot create {}: {e}", disk.display()))?;
    file.set_len(DISK_BYTES).map_err(|e| format!("--tile-devices: cannot size {}: {e}", disk.display()))?;
    eprintln!("tileos-qemu: created an empty {} MiB disk image {}", DISK_BYTES >> 20, disk.display());
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("tileos-qemu: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if options.machine.gdb {
        eprintln!("tileos-qemu: waiting for gdb on localhost:1234 (the CPU is halted until gdb continues)");
    }
    match options.log {
        None => match tileos_qemu::run_interactive(&options.machine, &options.boot) {
            Ok(status) => {
                let verdict = status.and_then(GuestVerdict::from_qemu_status);
                eprintln!("tileos-qemu: QEMU exited (status {status:?}, guest verdict {verdict:?})");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("tileos-qemu: {error}");
                ExitCode::FAILURE
            }
        },
        Some((log, timeout)) => match tileos_qemu::run(&options.machine, &options.boot, &log, timeout) {
            Ok(outcome) => {
                print!("{}", outcome.serial);
                match outcome.ended {
                    Ended::Verdict(GuestVerdict::Pass) => ExitCode::SUCCESS,
                    other => {
                        eprintln!("tileos-qemu: run ended with {other:?} after {:.1}s", outcome.elapsed.as_secs_f64());
                        ExitCode::FAILURE
                    }
                }
            }
            Err(error) => {
                eprintln!("tileos-qemu: {error}");
                ExitCode::FAILURE
            }
        },
    }
}
