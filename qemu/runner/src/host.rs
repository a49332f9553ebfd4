//! The host's side of tests that talk to a running tile: free loopback ports for QEMU's
//! port forwarding, waiting for a line in a serial log, reading the tile status service,
//! talking to line and datagram services.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

/// Two free loopback ports (TCP, UDP), found by binding port 0 and letting go.
pub fn free_ports() -> (u16, u16) {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port").local_addr().expect("bound").port();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port").local_addr().expect("bound").port();
    (tcp, udp)
}

/// Two more free loopback ports (TCP, UDP) that are none of `taken` (as [`free_ports`],
/// which may hand out a port it handed out before, once that was let go).
pub fn free_ports_besides(taken: &[u16]) -> (u16, u16) {
    loop {
        let (tcp, udp) = free_ports();
        if !taken.contains(&tcp) && !taken.contains(&udp) {
            return (tcp, udp);
        }
    }
}

/// The serial log's text as the run's outcome has it (`RunOutcome::serial`: lines end in
/// "\n", not the serial port's "\r\n"), so that offsets a test's host side takes in it
/// while it drives the tile are offsets in the outcome's serial.
pub fn serial_text(serial: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(serial).unwrap_or_default()).replace("\r\n", "\n")
}

/// The whole lines of `serial` (a last line with no newline yet left out) that start with
/// `prefix`.
pub fn whole_lines_with<'a>(serial: &'a str, prefix: &str) -> Vec<&'a str> {
    let whole = serial.rfind('\n').map_or("", |end| &serial[..end]);
    whole.lines().filter(|line| line.starts_with(prefix)).collect()
}

/// The value of `key=` in an event line.
pub fn event_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// Where `needle` first appears in `serial` (a byte offset); panics, naming the needle, if
/// it does not appear.
pub fn position(serial: &str, needle: &str) -> usize {
    serial.find(needle).unwrap_or_else(|| panic!("serial log lacks {needle:?}"))
}

/// Lineage `k`'s line in `tilectl status` of an N-version slot: (its program's kind,
/// "lineage" or "fallback"; its seat; its dissents).
pub fn lineage_status(status: &str, k: u32) -> Option<(String, u32, u64)> {
    let prefix = format!("  module {k:<3} ");
    let line = status.lines().find(|line| line.starts_with(&prefix))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| words.iter().position(|word| *word == key).and_then(|index| words.get(index + 1));
    Some((words.get(2)?.to_string(), after("seat")?.parse().ok()?, after("disagreeing")?.parse().ok()?))
}

/// Waits until the serial log `serial` holds `needle` at or after byte `from` of its text
/// ([`serial_text`]); where it appears, or an error naming it after `seconds`.
pub fn wait_for_text(serial: &Path, from: usize, needle: &str, seconds: u64) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(at) = serial_text(serial).get(from..).and_then(|text| text.find(needle)) {
            return Ok(from + at);
        }
        if Instant::now() > deadline {
            return Err(format!("no {needle:?} within {seconds} s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the serial log `serial` holds `count` whole lines starting with `prefix` at
/// or after byte `from` of its text; an error naming them after `seconds`.
pub fn wait_for_lines(serial: &Path, from: usize, prefix: &str, count: usize, seconds: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while whole_lines_with(serial_text(serial).get(from..).unwrap_or(""), prefix).len() < count {
        if Instant::now() > deadline {
            return Err(format!("{count} whole lines starting {prefix:?} not seen within {seconds} s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Waits until the file `log` holds `text` (or `deadline` passes); whether it did.
pub fn wait_for(log: &Path, text: &str, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if std::fs::read(log).is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(text)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Attempts [`read_status`] makes.
const STATUS_ATTEMPTS: u32 = 5;

/// Connects to the tile status service forwarded to host TCP port `port` and reads its
/// line (the service closes the connection after it).
///
/// QEMU's user network accepts the host's connection at once and only then connects to
/// the guest; when the guest does not answer that in time (a loaded host), QEMU closes the
/// host's side without data. An empty answer is therefore retried, a few times, a second
/// apart; every attempt's outcome is in the error if none succeeds.
pub fn read_status(port: u16) -> Result<String, String> {
    let mut attempts = Vec::new();
    for _ in 0..STATUS_ATTEMPTS {
        match read_once(port) {
            Ok(status) if !status.is_empty() => return Ok(status),
            Ok(_) => attempts.push(String::from("closed without data")),
            Err(error) => attempts.push(error),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(format!("no status line from port {port} in {STATUS_ATTEMPTS} attempts: {}", attempts.join("; ")))
}

/// One connection to the status service: what it sent before closing.
fn read_once(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("connect to the status port {port}: {error}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).map_err(|error| format!("set a read timeout: {error}"))?;
    let mut status = String::new();
    stream.read_to_string(&mut status).map_err(|error| format!("read the status line: {error} (got {status:?})"))?;
    Ok(status)
}

/// One TCP conversation with a line service in the tile (the net-client domain's),
/// forwarded to host port `port`: `pieces` are written with a pause between
/// them (so that a line may arrive split), then the host closes its side and reads
/// everything until the client closes too.
pub fn converse(port: u16, pieces: &[&str]) -> Result<String, String> {
    // As in read_status: a connection QEMU's user network closed without data (the guest
    // answered its connection attempt late) is tried again.
    let mut attempts = Vec::new();
    for _ in 0..STATUS_ATTEMPTS {
        match converse_once(port, pieces) {
            Ok(answer) if !answer.is_empty() => return Ok(answer),
            Ok(_) => attempts.push(String::from("closed without data")),
            Err(error) => attempts.push(error),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(format!("no answer from port {port} in {STATUS_ATTEMPTS} attempts: {}", attempts.join("; ")))
}

/// One [`converse`] connection: what came back before the service closed.
fn converse_once(port: u16, pieces: &[&str]) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("connect to port {port}: {error}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).map_err(|error| format!("set a read timeout: {error}"))?;
    for piece in pieces {
        stream.write_all(piece.as_bytes()).map_err(|error| format!("write {piece:?}: {error}"))?;
        std::thread::sleep(Duration::from_millis(200));
    }
    stream.shutdown(Shutdown::Write).map_err(|error| format!("shut down the sending side: {error}"))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|error| format!("read the answers: {error} (got {answer:?})"))?;
    Ok(answer)
}

/// One datagram to a UDP service in the tile, forwarded to host port `port`, and its
/// answer (a few tries: UDP may be lost).
pub fn datagram(port: u16, payload: &[u8]) -> Result<Vec<u8>, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|error| format!("bind UDP: {error}"))?;
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buffer = [0u8; 1500];
    for _ in 0..5 {
        socket.send_to(payload, ("127.0.0.1", port)).map_err(|error| format!("send the datagram: {error}"))?;
        if let Ok((length, _)) = socket.recv_from(&mut buffer) {
            return Ok(buffer[..length].to_vec());
        }
    }
    Err(format!("no answer to the datagram {payload:?} after 5 tries"))
}

/// Boots test scenario `scenario` (serial log `log_name` in the test logs) with the tile's
/// usual forwards plus a free host port to guest TCP port `guest_port` and QEMU arguments
/// `extra_args` (a disk, …), and, once every `ready`
/// line is in the serial log, runs `drive(host_port, serial_log)` on a host thread; QEMU is
/// stopped when it returns (or at `timeout`). Returns the run and what `drive` returned;
/// panics, with the serial log's last lines, when the run or `drive` failed.
pub fn boot_and_drive<T: Send + 'static>(
    scenario: &str,
    log_name: &str,
    extra_args: Vec<String>,
    guest_port: u16,
    ready: &'static [&'static str],
    timeout: Duration,
    drive: impl FnOnce(u16, &Path) -> Result<T, String> + Send + 'static,
) -> (crate::RunOutcome, T) {
    boot_and_drive_on(false, scenario, log_name, extra_args, guest_port, ready, timeout, drive)
}

/// [`boot_and_drive`] on a machine that counts guest instructions when `icount` is set
/// ([`crate::Machine::icount`]): the guest's time-stamp counter then advances one tick per
/// instruction, so latencies the guest measures do not depend on the host's load (the
/// host's side still waits in wall-clock time).
#[allow(clippy::too_many_arguments)]
pub fn boot_and_drive_on<T: Send + 'static>(
    icount: bool,
    scenario: &str,
    log_name: &str,
    extra_args: Vec<String>,
    guest_port: u16,
    ready: &'static [&'static str],
    timeout: Duration,
    drive: impl FnOnce(u16, &Path) -> Result<T, String> + Send + 'static,
) -> (crate::RunOutcome, T) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (tcp_port, udp_port) = free_ports();
    let (host_port, _) = free_ports_besides(&[tcp_port, udp_port]);
    let mut network =
        crate::forwarded_network_with(tcp_port, udp_port, &[crate::Forward { udp: false, host: host_port, guest: guest_port }]);
    network.extend(extra_args);
    let images = crate::images::test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(crate::images::scenario_archive(scenario));
    let machine = crate::Machine { icount, extra_args: network, ..crate::Machine::default() };
    let log = images.logs.join(log_name);
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    let (sender, results) = std::sync::mpsc::channel();
    let watched = log.clone();
    let done = Arc::new(AtomicBool::new(false));
    let host_done = done.clone();
    let host = std::thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        let result = match ready.iter().find(|line| !wait_for(&watched, line, deadline)) {
            None => drive(host_port, &watched),
            Some(line) => Err(format!("the serial log never showed {line:?}")),
        };
        let _ = sender.send(result);
        host_done.store(true, Ordering::SeqCst);
    });
    let outcome = crate::run_until_host_done(&machine, &boot, &log, timeout, ready, &done).unwrap_or_else(|error| panic!("{error}"));
    host.join().expect("the host side does not panic");
    let result = results.try_recv().unwrap_or_else(|_| Err("the host side did not finish".into()));
    match result {
        Ok(value) => (outcome, value),
        Err(error) => panic!("{error}; last serial lines:\n{}", outcome.tail(60)),
    }
}

/// Runs one tilectl command (the `tileos_tilectl` library, DEV operator key) against the
/// update agent forwarded to loopback `port`, waiting at most `timeout` for its answers:
/// tilectl's output, or its failure in words.
pub fn tilectl(port: u16, command: tileos_tilectl::Command, timeout: Duration) -> Result<String, String> {
    let options = tileos_tilectl::Options { tile: format!("127.0.0.1:{port}"), key: None, dev_key: true, json: false, timeout };
    let mut out = Vec::new();
    tileos_tilectl::run(&options, &command, &mut out).map_err(|failure| failure.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Polls `tilectl status` (every `poll`) until `done` holds for it: that status; or, past
/// `seconds`, an error naming `what` with the last status seen.
pub fn wait_status(port: u16, what: &str, seconds: u64, poll: Duration, done: impl Fn(&str) -> bool) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let status = tilectl(port, tileos_tilectl::Command::Status, Duration::from_secs(30))?;
        if done(&status) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not seen within {seconds} s; last status:\n{status}"));
        }
        std::thread::sleep(poll);
    }
}

/// The calls domain `name` reported, from `tilectl telemetry`'s table (`None`: no row, or
/// "-": it reports no latencies).
pub fn reported_calls(telemetry: &str, name: &str) -> Option<u64> {
    telemetry.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next() == Some(name)).then(|| fields.next().and_then(|calls| calls.parse().ok())).flatten()
    })
}

/// `tilectl install` of `build/bundles/<name>.bundle` (see [`bundles_dir`]) into `slot`.
pub fn install_bundle(port: u16, slot: &str, name: &str) -> Result<String, String> {
    let file = bundles_dir().join(format!("{name}.bundle"));
    tilectl(port, tileos_tilectl::Command::Install { file, slot: slot.into() }, Duration::from_secs(60))
}

/// The directory `make bundles` writes the demo slot's signed bundles to.
pub fn bundles_dir() -> std::path::PathBuf {
    crate::images::workspace_root().join("build/bundles")
}

/// The module number in tilectl's "installed as module N" line.
pub fn installed_module(output: &str) -> Result<u32, String> {
    output
        .split("installed as module ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|number| number.trim().parse().ok())
        .ok_or_else(|| format!("no module number in {output:?}"))
}

/// tilectl's wire client connected to the update agent forwarded to loopback `port`, signing
/// privileged commands with the Ed25519 key of `seed` if one is given; retried while QEMU's
/// user network closes connections the guest has not accepted yet.
pub fn agent_client(port: u16, seed: Option<[u8; 32]>) -> Result<tileos_tilectl_wire::host::Client, String> {
    let key = seed.map(|seed| ed25519_dalek::SigningKey::from_bytes(&seed));
    let mut last = String::new();
    for _ in 0..20 {
        match tileos_tilectl_wire::host::Client::connect(&format!("127.0.0.1:{port}"), key.clone(), Duration::from_secs(20)) {
            Ok(client) => return Ok(client),
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("cannot connect to the agent: {last}"))
}

/// Boots slot test scenario `scenario` (serial log `tile-<scenario>.log`) with a fresh
/// 16 MiB NVMe disk (`<scenario>-disk.img` in the test logs: the slot's update log on the
/// store) and, once the update agent and the slot `checksum` serve, runs `drive` as
/// [`boot_and_drive`] does; panics, with the serial log's last lines, if that log shows a
/// kernel exception, a panic or a failed check.
pub fn boot_slot_on_fresh_disk<T: Send + 'static>(
    scenario: &str,
    timeout: Duration,
    drive: impl FnOnce(u16, &Path) -> Result<T, String> + Send + 'static,
) -> (crate::RunOutcome, T) {
    let disk = slot_disk(scenario);
    std::fs::File::create(&disk).and_then(|file| file.set_len(16 << 20)).expect("a fresh disk image");
    boot_slot_on_disk(scenario, &format!("tile-{scenario}.log"), &disk, timeout, drive)
}

/// The NVMe disk image [`boot_slot_on_fresh_disk`] gives scenario `scenario`
/// (`<scenario>-disk.img` in the test logs), for a later boot on the same disk.
pub fn slot_disk(scenario: &str) -> std::path::PathBuf {
    assert!(bundles_dir().join("checksum-fast.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let images = crate::images::test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    images.logs.join(format!("{scenario}-disk.img"))
}

/// [`boot_slot_on_fresh_disk`] on the disk image `disk` as it is (a reboot), the serial log
/// named `log`.
pub fn boot_slot_on_disk<T: Send + 'static>(
    scenario: &str,
    log: &str,
    disk: &Path,
    timeout: Duration,
    drive: impl FnOnce(u16, &Path) -> Result<T, String> + Send + 'static,
) -> (crate::RunOutcome, T) {
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, value) = boot_and_drive(scenario, log, crate::nvme_disk_args(disk), tileos_tilectl_wire::PORT, ready, timeout, drive);
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked", "FAIL:"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    (outcome, value)
}

/// `tilectl promote --force` of `module` in `slot`, tried again every 5 ms while the module
/// is not shadowing yet (`NotShadowing(Installed)`, for at most 30 s): the serial log's
/// length (of [`serial_text`]) before the last try, and tilectl's answer.
pub fn promote_by_force_once_shadowing(port: u16, serial: &Path, slot: &str, module: u32) -> (usize, Result<String, String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = serial_text(serial).len();
        let command = tileos_tilectl::Command::Promote { slot: slot.into(), module, force: true };
        match tilectl(port, command, Duration::from_secs(30)) {
            Err(failure) if failure.contains("NotShadowing(Installed)") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return (sent, other),
        }
    }
}

/// The checksum client's round line (`checksum_client.rs`).
const CLIENT_ROUND: &str = "@event checksum.round ";

/// Waits until `serial` from byte `from` on has `count` whole rounds of the checksum
/// client; an error saying its rounds stopped after `seconds`.
pub fn wait_client_rounds(serial: &Path, from: usize, count: usize, seconds: u64) -> Result<(), String> {
    wait_for_lines(serial, from, CLIENT_ROUND, count, seconds).map_err(|e| format!("the client's rounds stopped ({e})"))
}

/// What the checksum client's rounds say over a whole run ([`check_client_rounds`]).
pub struct ClientRounds {
    /// Its round lines.
    pub rounds: usize,
    /// Requests it made (the last round's `n`).
    pub requests: u64,
    /// Its calls that failed (the last round's `errors`: the count is cumulative).
    pub errors: u64,
}

/// Checks the checksum client's rounds in `serial`: a round after byte `end` (its load went
/// on to the end), every round `wrong=0` and no `checksum.wrong` line (the client checks each
/// answer against its own model, so a request lost from or applied twice to a module's state
/// makes its stream's later answers wrong), and at most `max_errors` failed calls. Panics
/// naming the first that does not hold.
pub fn check_client_rounds(serial: &str, end: usize, max_errors: u64) -> ClientRounds {
    let rounds = whole_lines_with(serial, CLIENT_ROUND);
    assert!(!whole_lines_with(serial.get(end..).unwrap_or(""), CLIENT_ROUND).is_empty(), "the client's rounds stopped");
    for round in &rounds {
        assert_eq!(event_field(round, "wrong"), Some("0"), "the client saw a wrong answer: {round}");
    }
    assert!(!serial.contains("@event checksum.wrong "), "a wrong answer");
    let last = |key| rounds.last().and_then(|r| event_field(r, key)).and_then(|value| value.parse().ok()).unwrap_or(u64::MAX);
    let (requests, errors) = (last("n"), last("errors"));
    assert!(errors <= max_errors, "{errors} failed client calls (at most {max_errors} expected)");
    ClientRounds { rounds: rounds.len(), requests, errors }
}

/// Checks the slot manager's stack high-water mark (`tileos_sys::stack`) in `serial`: the
/// `@event slot.manager-stack slot=<slot> phase=serving` lines (one after each status
/// request) must exist and the largest `used` must be above 0 and within half the stack's
/// `size`. Panics naming what does not hold (with the tail of `serial`); returns (used,
/// size).
pub fn assert_manager_stack_within_half(serial: &str, slot: &str) -> (u64, u64) {
    let prefix = format!("@event slot.manager-stack slot={slot} phase=serving ");
    let stack: Vec<(u64, u64)> = serial
        .lines()
        .filter(|line| line.contains(&prefix))
        .filter_map(|line| Some((event_field(line, "used")?.parse().ok()?, event_field(line, "size")?.parse().ok()?)))
        .collect();
    let tail: Vec<&str> = serial.lines().rev().take(40).collect();
    assert!(!stack.is_empty(), "no {prefix:?} line (one follows each status request); the log ends:\n{}", tail.join("\n"));
    let (used, size) = stack.iter().copied().max().unwrap_or_default();
    assert!(used > 0 && used <= size / 2, "the manager's stack: {used} of {size} bytes used serving (at most half allowed)");
    (used, size)
}

/// `tilectl log --verify` of `slot`, its consistency state in a fresh file beside the
/// serial log `serial` (`<log>.heads.json`): tilectl's output, or its failure in words.
pub fn verify_slot_log(port: u16, serial: &Path, slot: &str) -> Result<String, String> {
    let state = serial.with_extension("heads.json");
    let _ = std::fs::remove_file(&state);
    let command = tileos_tilectl::Command::Log { slot: slot.into(), verify: true, log_key: None, state: Some(state) };
    tilectl(port, command, Duration::from_secs(60)).map_err(|failure| format!("tilectl log --verify: {failure}"))
}

/// Checks `tilectl log --verify`'s output `log` ([`verify_slot_log`]): its tree head's
/// signature verified, exactly `entries.len()` entries, and entry `i` holding every
/// fragment of `entries[i]`. Panics naming the first entry that does not, with the log.
pub fn assert_verified_log(log: &str, entries: &[&[&str]]) {
    let count = format!("update log of {} entries", entries.len());
    assert!(log.contains(&count) && log.contains("(signature verified)"), "not a verified log of {} entries:\n{log}", entries.len());
    let lines: Vec<&str> = log.lines().skip(1).collect();
    for (index, fragments) in entries.iter().enumerate() {
        let line = lines.get(index).copied().unwrap_or_default();
        assert!(fragments.iter().all(|fragment| line.contains(fragment)), "entry {index} lacks one of {fragments:?}:\n{log}");
    }
}
