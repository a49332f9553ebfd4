//! The `tileos-qemu` command line as `make run` uses it, and the Makefile lines that call it:
//! `--help`, a forwarded host port that is in use, QEMU failing to start, and `TILE=`.
//! None of these needs the boot images.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use tileos_qemu::images::workspace_root;

/// Runs the `tileos-qemu` binary with `args`, standard input closed.
fn tileos_qemu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tileos-qemu")).args(args).stdin(Stdio::null()).output().expect("tileos-qemu runs")
}

/// A disk image path for this test, in the test's own temporary directory.
fn disk(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tileos-qemu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir.join(format!("{test}.img"))
}

/// Runs `tileos-qemu` with the arguments `make run` passes (with `ports`, a disk image named
/// after `test`, changed by `change`), expects it to fail with status 1 and returns its
/// standard error.
fn failing_make_run(test: &str, ports: [u16; 4], change: impl FnOnce(&mut Vec<String>)) -> String {
    let disk = disk(test);
    let mut args = make_run_args(disk.to_str().expect("UTF-8 path"), ports);
    change(&mut args);
    let out = tileos_qemu(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// The arguments `make run` passes (Makefile: run, TILE_DEVICES), with the given host ports.
fn make_run_args(disk: &str, ports: [u16; 4]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--kernel",
        "build/dev/kernel.elf32",
        "--module",
        "build/dev/rootserver.elf=rootserver",
        "--module",
        "build/dev/tile.archive=tile-archive",
        "--tile-devices",
        disk,
    ]
    .map(String::from)
    .to_vec();
    for (option, port) in ["--tcp-port", "--udp-port", "--client-tcp-port", "--client-udp-port"].into_iter().zip(ports) {
        args.push(option.into());
        args.push(port.to_string());
    }
    // The update agent's port: free, and none of the others (so a test's occupied port is
    // the one reported).
    let (agent_port, _) = tileos_qemu::host::free_ports_besides(&ports);
    args.push("--agent-port".into());
    args.push(agent_port.to_string());
    args
}

/// Four distinct free loopback ports (TCP, UDP, TCP, UDP).
fn free_ports() -> [u16; 4] {
    let (tcp, udp) = tileos_qemu::host::free_ports();
    let (client_tcp, client_udp) = tileos_qemu::host::free_ports_besides(&[tcp, udp]);
    [tcp, udp, client_tcp, client_udp]
}

#[test]
fn help_lists_every_option_on_its_own_line() {
    let out = tileos_qemu(&["--help"]);
    assert!(out.status.success(), "--help fails: {}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8_lossy(&out.stdout);
    // Every option the parser knows (its `"--name" =>` arms in main.rs) has a line.
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs")).expect("main.rs");
    let options: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("\"--") && line.contains("=>"))
        .filter_map(|line| line[1..].split('"').next())
        .collect();
    assert!(options.len() >= 14, "found only {options:?} in main.rs");
    for option in options {
        assert!(
            help.lines().any(|line| line.trim_start().starts_with(&format!("{option} ")) || line.trim() == option),
            "--help has no line for {option}:\n{help}"
        );
    }
    assert!(help.contains("--iso build/tileos.iso --tile-devices"), "--help does not show ISO booting with devices:\n{help}");
}

#[test]
fn an_unknown_option_fails_and_shows_the_usage() {
    let out = tileos_qemu(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown option '--frobnicate'") && stderr.contains("tileos-qemu --help"), "{stderr}");
}

#[test]
fn a_sensor_link_without_a_port_is_refused_naming_the_option() {
    for (address, expected) in
        [("localhost", "--sensors: 'localhost' is not HOST:PORT"), ("localhost:x", "--sensors: 'x' is not a port number")]
    {
        let out = tileos_qemu(&["--kernel", "k.elf32", "--sensors", address]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn make_run_fails_when_a_forwarded_tcp_port_is_in_use() {
    let mut ports = free_ports();
    let occupant = TcpListener::bind("127.0.0.1:0").expect("occupy a TCP port");
    ports[0] = occupant.local_addr().expect("bound").port();
    let stderr = failing_make_run("tcp-port-in-use", ports, |_| ());
    assert!(
        stderr.contains(&format!("cannot forward host TCP port {} to the tile status service (--tcp-port, TILE_TCP_PORT)", ports[0])),
        "{stderr}"
    );
    for variable in ["TILE_TCP_PORT=", "TILE_UDP_PORT=", "TILE_CLIENT_TCP_PORT=", "TILE_CLIENT_UDP_PORT=", "TILE_AGENT_PORT="] {
        assert!(stderr.contains(variable), "the message does not name {variable}: {stderr}");
    }
    drop(occupant);
}

#[test]
fn make_run_fails_when_a_forwarded_udp_port_is_in_use() {
    let mut ports = free_ports();
    let occupant = UdpSocket::bind("127.0.0.1:0").expect("occupy a UDP port");
    ports[3] = occupant.local_addr().expect("bound").port();
    let stderr = failing_make_run("udp-port-in-use", ports, |_| ());
    assert!(stderr.contains(&format!("host UDP port {} to net-client's datagram service", ports[3])), "{stderr}");
    assert!(stderr.contains("TILE_CLIENT_UDP_PORT"), "{stderr}");
    drop(occupant);
}

#[test]
fn make_run_fails_when_the_agent_port_is_in_use() {
    let occupant = TcpListener::bind("127.0.0.1:0").expect("occupy a TCP port");
    let port = occupant.local_addr().expect("bound").port();
    let stderr = failing_make_run("agent-port-in-use", free_ports(), |args| {
        let at = args.iter().position(|arg| arg == "--agent-port").expect("make run passes --agent-port");
        args[at + 1] = port.to_string();
    });
    assert!(
        stderr.contains(&format!("cannot forward host TCP port {port} to the update agent (tilectl) (--agent-port, TILE_AGENT_PORT)")),
        "{stderr}"
    );
    drop(occupant);
}

/// QEMU itself failing (here: a kernel file that is not there) fails the run too, in words,
/// and names the port overrides in case a port was taken after the runner's check.
#[test]
fn make_run_fails_when_qemu_cannot_start() {
    let stderr = failing_make_run("qemu-fails", free_ports(), |args| args[1] = "/nonexistent/tileos-kernel.elf32".into());
    assert!(stderr.contains("QEMU exited with status 1"), "{stderr}");
    assert!(stderr.contains("TILE_TCP_PORT="), "{stderr}");
    assert!(!stderr.contains("None"), "{stderr}");
}

/// `make run TILE=…` builds the tile archive from that description (and `make debug` loads
/// the symbols of its programs); checked with `make -n`, which builds nothing.
#[test]
fn make_run_and_debug_use_the_description_named_by_tile() {
    let description = "qemu/runner/tests/scenarios/supervisor.toml";
    for target in ["run", "debug"] {
        let out = Command::new("make")
            .args(["--no-print-directory", "-n", "-C"])
            .arg(workspace_root())
            .arg(target)
            .arg(format!("TILE={description}"))
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("make runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "make -n {target} fails: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("tileos-imagebuild -- {description} ")), "make -n {target}:\n{stdout}");
        assert!(!stdout.contains("tileos-imagebuild -- tile.toml"), "make -n {target}:\n{stdout}");
        if target == "debug" {
            // The gdb script comes from the image builder, for the same description.
            let gdb = format!("tileos-imagebuild -- {description} --program-dir build/target-dev/release --gdb-script build/dev/gdbinit");
            assert!(stdout.contains(&gdb), "make -n debug:\n{stdout}");
        }
    }
}
