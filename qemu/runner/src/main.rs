//! `tileos-qemu`: boots a tileos image on the standard machine, for `make run`,
//! `make debug` and scripts.
//!
//! ```text
//! tileos-qemu (--kernel K.elf32 [--cmdline C] [--module FILE[=CMDLINE]]... | --iso I.iso)
//!             [--tile-devices DISK [--tcp-port P] [--udp-port P] [--client-tcp-port P] [--client-udp-port P] [--agent-port P]]
//!             [--sensors HOST:PORT] [--icount] [--gdb] [--log FILE --timeout SECONDS]
//! ```
//! `--sensors` connects COM2 to the tile simulator (`tools/tile-sim`, docs/sensors.md).
//! `--tile-devices` adds the full tile's devices (NVMe on DISK, created empty if missing;
//! virtio-net with the status service on host TCP port P, default 8080, and the UDP echo
//! on host UDP port P, default 7007; the net-client domain's line service on host TCP port
//! `--client-tcp-port` P, default 7070, and its datagram service on host UDP port
//! `--client-udp-port` P, default 5000; the update agent, tilectl's end, on host TCP port
//! `--agent-port` P, default 7700; virtio-gpu).
//! Without `--log` the guest is attached to the terminal (serial and monitor on stdio); the
//! exit status is 0 when QEMU ends normally (quit with Ctrl-A X, or the guest reports a
//! pass) and 1 when it could not start or failed, with the reason in words. With `--log` the
//! run is unattended; the exit status is 0 when the guest reports a pass. `--help` lists
//! every option.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::{Boot, BootModule, Ended, Machine, TileDevices};

const USAGE: &str = "usage: tileos-qemu (--kernel K.elf32 [--cmdline C] [--module FILE[=CMDLINE]]... | --iso I.iso) [--tile-devices DISK [--tcp-port P] [--udp-port P] [--client-tcp-port P] [--client-udp-port P] [--agent-port P]] [--sensors HOST:PORT] [--icount] [--gdb] [--log FILE --timeout SECONDS]\n       tileos-qemu --help";

/// Every option with its one-line description, for `--help`.
const OPTIONS: &[(&str, &str)] = &[
    ("--kernel K.elf32", "boot this kernel (the ELF32 form, build/dev/kernel.elf32) with QEMU's Multiboot loader"),
    ("--cmdline C", "the kernel's command line (with --kernel)"),
    ("--module FILE[=CMDLINE]", "load FILE as the next Multiboot module with command line CMDLINE (with --kernel; repeatable)"),
    ("--iso I.iso", "boot a GRUB ISO (make image: build/tileos.iso) as a CD-ROM, as real hardware does"),
    (
        "--tile-devices DISK",
        "add the tile's devices: NVMe on the raw image DISK (created empty, 68 MiB, if missing; grown to 68 MiB if smaller), virtio-net, virtio-gpu",
    ),
    ("--tcp-port P", "host TCP port forwarded to the tile status service, guest TCP 8080 (default 8080; make run: TILE_TCP_PORT)"),
    ("--udp-port P", "host UDP port forwarded to the UDP echo, guest UDP 7 (default 7007; make run: TILE_UDP_PORT)"),
    (
        "--client-tcp-port P",
        "host TCP port forwarded to net-client's line service, guest TCP 7070 (default 7070; make run: TILE_CLIENT_TCP_PORT)",
    ),
    (
        "--client-udp-port P",
        "host UDP port forwarded to net-client's datagram service, guest UDP 5000 (default 5000; make run: TILE_CLIENT_UDP_PORT)",
    ),
    ("--agent-port P", "host TCP port forwarded to the update agent (tilectl), guest TCP 7700 (default 7700; make run: TILE_AGENT_PORT)"),
    (
        "--sensors HOST:PORT",
        "connect COM2 (the sensors domain's link) to the tile simulator listening there (tileos-tile-sim serve; make run: TILE_SENSORS)",
    ),
    ("--icount", "count guest instructions (-icount shift=0,sleep=off): repeatable timings, as make bench uses"),
    ("--gdb", "start halted with QEMU's gdb stub on localhost:1234"),
    ("--log FILE", "run unattended: the serial output goes to FILE (and to stdout at the end); needs --timeout"),
    ("--timeout SECONDS", "with --log: stop QEMU after SECONDS; the exit status is 0 only when the guest reports a pass"),
    ("--help", "this list"),
];

/// The `--help` text: the synopsis, then every option on its own line.
fn help() -> String {
    let width = OPTIONS.iter().map(|(option, _)| option.len()).max().unwrap_or(0);
    let mut text =
        format!("tileos-qemu: boots a tileos image on the standard QEMU machine (make run, make debug, scripts)\n{USAGE}\n\noptions:\n");
    for (option, what) in OPTIONS {
        text.push_str(&format!("  {option:width$}  {what}\n"));
    }
    text.push_str("\nWithout --log, serial and QEMU monitor are on this terminal (Ctrl-A X quits, Ctrl-A C the monitor).\n");
    text.push_str("Booting the ISO with every device: tileos-qemu --iso build/tileos.iso --tile-devices build/dev/disk.img\n");
    text
}

/// How to move the forwarded host ports, for messages about a port in use.
const PORT_HINT: &str = "choose free host ports with `make run TILE_TCP_PORT=18080 TILE_UDP_PORT=17007 TILE_CLIENT_TCP_PORT=17070 TILE_CLIENT_UDP_PORT=15000 TILE_AGENT_PORT=17700` (tileos-qemu: --tcp-port, --udp-port, --client-tcp-port, --client-udp-port, --agent-port)";

/// Size of a new NVMe disk image: tile.toml's disk windows, block-check's 4 MiB and the
/// 64 MiB kept for the store after it.
const DISK_BYTES: u64 = 68 << 20;

struct Options {
    machine: Machine,
    boot: Boot,
    log: Option<(PathBuf, Duration)>,
    /// The tile's devices, when `--tile-devices` adds them.
    devices: Option<TileDevices>,
}

/// Parses the command line; `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut machine = Machine::default();
    let (mut kernel, mut iso, mut cmdline, mut modules) = (None, None, String::new(), Vec::new());
    let (mut log, mut timeout) = (None, None);
    let (mut disk, mut tcp_port, mut udp_port) = (None, 8080u16, 7007u16);
    let (mut client_tcp_port, mut client_udp_port) = (tileos_qemu::CLIENT_TCP_PORT, tileos_qemu::CLIENT_UDP_PORT);
    let mut agent_port = tileos_qemu::AGENT_PORT;
    let port = |name: &str, text: String| text.parse::<u16>().map_err(|_| format!("{name}: '{text}' is not a port number"));
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
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
            "--agent-port" => agent_port = port("--agent-port", value("--agent-port")?)?,
            "--sensors" => {
                let address = value("--sensors")?;
                let (host, text) = address.rsplit_once(':').ok_or(format!("--sensors: '{address}' is not HOST:PORT"))?;
                machine.extra_args.extend(tileos_qemu::sensor_link_args(host, port("--sensors", text.to_string())?));
            }
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
    let devices = disk.map(|disk| TileDevices { disk, tcp_port, udp_port, client_tcp_port, client_udp_port, agent_port });
    if let Some(devices) = &devices {
        create_disk(&devices.disk)?;
        machine.extra_args.extend(devices.args());
    }
    let log = match (log, timeout) {
        (Some(log), Some(timeout)) => Some((log, timeout)),
        (None, None) => None,
        _ => return Err("--log and --timeout go together".into()),
    };
    Ok(Some(Options { machine, boot, log, devices }))
}

/// Checks that every host port QEMU is to forward can be bound on 127.0.0.1 (QEMU would
/// otherwise stop with "Could not set up host forwarding rule"); the first that cannot,
/// in words, with how to choose others.
fn ports_free(devices: &TileDevices) -> Result<(), String> {
    let ports = [
        (false, devices.tcp_port, "the tile status service", "--tcp-port", "TILE_TCP_PORT"),
        (true, devices.udp_port, "the UDP echo", "--udp-port", "TILE_UDP_PORT"),
        (false, devices.client_tcp_port, "net-client's line service", "--client-tcp-port", "TILE_CLIENT_TCP_PORT"),
        (true, devices.client_udp_port, "net-client's datagram service", "--client-udp-port", "TILE_CLIENT_UDP_PORT"),
        (false, devices.agent_port, "the update agent (tilectl)", "--agent-port", "TILE_AGENT_PORT"),
    ];
    for (udp, port, service, option, variable) in ports {
        let bound = if udp { UdpSocket::bind(("127.0.0.1", port)).map(drop) } else { TcpListener::bind(("127.0.0.1", port)).map(drop) };
        if let Err(error) = bound {
            let protocol = if udp { "UDP" } else { "TCP" };
            return Err(format!(
                "cannot forward host {protocol} port {port} to {service} ({option}, {variable}): {error}; is another tile or program using it?\n{PORT_HINT}"
            ));
        }
    }
    Ok(())
}

/// Creates an empty disk image at `disk` unless one is there; grows a smaller one (with
/// zeros at the end, so what it holds stays where it was) to [`DISK_BYTES`].
fn create_disk(disk: &std::path::Path) -> Result<(), String> {
    if let Ok(metadata) = std::fs::metadata(disk) {
        if metadata.len() < DISK_BYTES {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(disk)
                .map_err(|e| format!("--tile-devices: cannot open {}: {e}", disk.display()))?;
            file.set_len(DISK_BYTES).map_err(|e| format!("--tile-devices: cannot grow {}: {e}", disk.display()))?;
            eprintln!("tileos-qemu: grew the disk image {} to {} MiB", disk.display(), DISK_BYTES >> 20);
        }
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
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("tileos-qemu: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(devices) = &options.devices
        && let Err(message) = ports_free(devices)
    {
        eprintln!("tileos-qemu: {message}");
        return ExitCode::FAILURE;
    }
    if options.machine.gdb {
        eprintln!("tileos-qemu: waiting for gdb on localhost:1234 (the CPU is halted until gdb continues)");
    }
    // What to add when QEMU itself failed: a forwarded port may have been taken meanwhile.
    let port_hint = if options.devices.is_some() {
        format!("\ntileos-qemu: if QEMU could not set up a host forwarding rule, a forwarded port is in use: {PORT_HINT}")
    } else {
        String::new()
    };
    match options.log {
        None => match tileos_qemu::run_interactive(&options.machine, &options.boot) {
            Ok(status) => match Ended::from_qemu_exit(status, String::new()) {
                Ended::QemuStatus(Some(0), _) => {
                    eprintln!("tileos-qemu: QEMU exited normally (quit with Ctrl-A X, or the guest shut down)");
                    ExitCode::SUCCESS
                }
                ended @ Ended::Verdict(GuestVerdict::Pass) => {
                    eprintln!("tileos-qemu: {ended}");
                    ExitCode::SUCCESS
                }
                Ended::QemuStatus(Some(code), _) => {
                    eprintln!(
                        "tileos-qemu: QEMU exited with status {code}: it could not start the guest or stopped with an error, and the guest reported no verdict (QEMU's own message is above){port_hint}"
                    );
                    ExitCode::FAILURE
                }
                ended => {
                    eprintln!("tileos-qemu: {ended}");
                    ExitCode::FAILURE
                }
            },
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
                        let hint = if matches!(other, Ended::QemuStatus(Some(code), _) if code != 0) { port_hint.as_str() } else { "" };
                        eprintln!("tileos-qemu: {other}; the run took {:.1} s{hint}", outcome.elapsed.as_secs_f64());
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
