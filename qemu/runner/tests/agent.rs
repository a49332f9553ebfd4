//! Boot test of the update agent (scenario `tests/scenarios/agent.toml`): the agent listens
//! for tilectl's wire protocol on TCP port 7700 through the netstack's socket protocol. From
//! the host, through QEMU's `hostfwd`, the test reads every domain's state (the supervisor's
//! status, in pages, through the agent), checks that an unsigned change, an unknown slot, a
//! change signed by another key and hostile frames get precise errors, and that the agent
//! serves a new connection after a connection it closed for a bad length prefix. The
//! scenario has no slot: the slot managers are another step.
//!
//! The slot test (scenario `agent-slot.toml`) adds a test stand-in for a slot manager
//! (program `agent-fake-slot`: the slot control protocol with a real signed update log,
//! nothing running) and runs tilectl's own commands (the `tileos_tilectl` library) against
//! the booted tile: status, install in chunks, a connection dropped mid-install (the agent
//! discards the partial bundle), promote, rollback, and `log --verify` twice (signature,
//! inclusion proofs, consistency with the state file).
//!
//! The install-session test (scenario `agent-slot.toml`) attacks install sessions (begun
//! with a signed `Command::Install`, chunks and commit unsigned): a chunk or commit without
//! a session, a chunk or begin from another connection, a begin replayed on its own and on
//! another connection, a chunk altered in flight (refused at the commit, `BundleDiffers`,
//! the staging discarded), and a session whose connection falls silent, which blocks the
//! next install until the agent's idle limit (60 s) expires the connection.

use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tileos_protocol::slots::{Request, Response};
use tileos_protocol::supervisor::State;
use tileos_qemu::host::{agent_client, boot_and_drive};
use tileos_qemu::images::test_images;
use tileos_tilectl_wire::host::{Client, ClientError};
use tileos_tilectl_wire::{Answer, ClientFrame, Command, MAX_FRAME, PORT, ServerFrame, WireError, auth, dev_keys, frame};

const TIMEOUT: Duration = Duration::from_secs(120);

/// The host's side: what the agent answered, checked.
fn talk_to_the_agent(port: u16) -> Result<Vec<String>, String> {
    let mut client = agent_client(port, None)?;
    // The supervisor's status, page by page.
    let mut names = Vec::new();
    loop {
        match client.call(Command::Domains { first: names.len() as u16 }).map_err(|error| error.to_string())? {
            Answer::Domains { total, domains } => {
                for domain in &domains {
                    if domain.state != State::Running {
                        return Err(format!("domain {} is {:?}", domain.name, domain.state));
                    }
                }
                let empty = domains.is_empty();
                names.extend(domains.iter().map(|domain| domain.name.to_string()));
                if empty || names.len() >= usize::from(total) {
                    break;
                }
            }
            other => return Err(format!("domains answered {other:?}")),
        }
    }
    match client.call(Command::Slots).map_err(|error| error.to_string())? {
        Answer::Slots(slots) if slots.is_empty() => {}
        other => return Err(format!("slots answered {other:?}")),
    }
    let slot = |request| Command::Slot { slot: "checksum".try_into().unwrap(), request };
    // Unsigned change, then an unknown slot.
    let answer = client.call(slot(Request::Rollback)).map_err(|error| error.to_string())?;
    if answer != Answer::Error(WireError::SignatureRequired) {
        return Err(format!("an unsigned rollback answered {answer:?}"));
    }
    let answer = client.call(slot(Request::Status)).map_err(|error| error.to_string())?;
    if answer != Answer::Error(WireError::UnknownSlot) {
        return Err(format!("status of an unknown slot answered {answer:?}"));
    }
    // A change signed by another key (a fresh connection).
    let mut stranger = agent_client(port, Some([7; 32]))?;
    let answer = stranger.call(slot(Request::Rollback)).map_err(|error| error.to_string())?;
    if answer != Answer::Error(WireError::BadSignature) {
        return Err(format!("a rollback signed by another key answered {answer:?}"));
    }
    drop(stranger);
    // The operator's signature gets through to the (missing) slot.
    let mut operator = agent_client(port, Some(dev_keys::OPERATOR_SEED))?;
    let answer = operator.call(slot(Request::Rollback)).map_err(|error| error.to_string())?;
    if answer != Answer::Error(WireError::UnknownSlot) {
        return Err(format!("the operator's rollback answered {answer:?}"));
    }
    drop(operator);
    // Hostile frames: garbage, then an oversized length, which closes the connection.
    client.write_raw(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).map_err(|error| error.to_string())?;
    match client.read_server_frame() {
        Ok(ServerFrame::Error(WireError::Malformed)) => {}
        other => return Err(format!("a malformed frame answered {other:?}")),
    }
    client.write_raw(&[0xff, 0xff, 0xff, 0xff]).map_err(|error| error.to_string())?;
    match client.read_server_frame() {
        Ok(ServerFrame::Error(WireError::BadLength { length: u32::MAX, max })) if max == MAX_FRAME as u32 => {}
        other => return Err(format!("a length of 2^32 - 1 answered {other:?}")),
    }
    match client.read_server_frame() {
        Err(ClientError::Io(_)) => {}
        other => return Err(format!("after a bad length the connection stayed open: {other:?}")),
    }
    drop(client);
    // And the agent still serves.
    let mut again = agent_client(port, None)?;
    match again.call(Command::Domains { first: 0 }).map_err(|error| error.to_string())? {
        Answer::Domains { .. } => {}
        other => return Err(format!("domains after the hostile connection answered {other:?}")),
    }
    Ok(names)
}

#[test]
fn the_update_agent_serves_status_and_refuses_unsigned_changes_and_hostile_frames() {
    let (outcome, names) =
        boot_and_drive("agent", "tile-agent.log", Vec::new(), PORT, &["netstack: ready", "update-agent: ready"], TIMEOUT, |port, _| {
            talk_to_the_agent(port)
        });
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "faults so far", "stopping"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    assert_eq!(names, ["console", "pci", "net", "netstack", "update-agent"], "{}", outcome.tail(40));
    outcome.assert_event("domain.started", &[("domain", "update-agent")]);
    outcome.assert_serial_contains("update-agent: 0 slot(s) [], supervisor status yes, rdrand no (challenges from timing jitter only)");
    outcome.assert_serial_contains("update-agent: ready: tilectl on TCP port 7700");
    outcome.assert_serial_contains("closed by the protocol");
}

/// Runs one tilectl command against the tile; its output, or the failure in words.
fn tilectl(port: u16, command: tileos_tilectl::Command, json: bool) -> Result<String, String> {
    let options =
        tileos_tilectl::Options { tile: format!("127.0.0.1:{port}"), key: None, dev_key: true, json, timeout: Duration::from_secs(20) };
    let mut out = Vec::new();
    tileos_tilectl::run(&options, &command, &mut out).map_err(|failure| failure.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The host's side of the slot test.
fn manage_the_slot(port: u16, scratch: &std::path::Path) -> Result<Vec<String>, String> {
    use tileos_tilectl::Command as Tilectl;
    // The agent may not be listening yet when QEMU accepts: wait for a hello.
    drop(agent_client(port, None)?);
    let mut outputs = Vec::new();
    outputs.push(tilectl(port, Tilectl::Status, false)?);
    let bundle = scratch.join("fake.bundle");
    let bytes: Vec<u8> = (0..3000u32).map(|index| (index * 7) as u8).collect();
    std::fs::write(&bundle, &bytes).map_err(|error| error.to_string())?;
    outputs.push(tilectl(port, Tilectl::Install { file: bundle.clone(), slot: "checksum".into() }, false)?);
    // A connection that begins an install and goes: the agent discards the staging.
    {
        let mut dropped = agent_client(port, Some(dev_keys::OPERATOR_SEED))?;
        let slot = |request| Command::Slot { slot: "checksum".try_into().unwrap(), request };
        dropped.call(slot(Request::InstallBegin { length: 100 })).map_err(|error| error.to_string())?;
        let chunk = Request::InstallChunk { offset: 0, bytes: heapless::Vec::from_slice(&[1; 50]).unwrap() };
        match dropped.call(slot(chunk)).map_err(|error| error.to_string())? {
            Answer::Slot(tileos_protocol::slots::Response::Staged { received: 50 }) => {}
            other => return Err(format!("a chunk answered {other:?}")),
        }
    }
    outputs.push(tilectl(port, Tilectl::Promote { slot: "checksum".into(), module: 1, force: false }, false)?);
    outputs.push(tilectl(port, Tilectl::Rollback { slot: "checksum".into() }, false)?);
    match tilectl(port, Tilectl::Rollback { slot: "checksum".into() }, false) {
        Err(failure) if failure.contains("Policy: nothing to roll back") => {}
        other => return Err(format!("a second rollback gave {other:?}")),
    }
    let state = scratch.join("heads.json");
    let log = |json| tilectl(port, Tilectl::Log { slot: "checksum".into(), verify: true, log_key: None, state: Some(state.clone()) }, json);
    outputs.push(log(false)?);
    outputs.push(tilectl(port, Tilectl::Install { file: bundle, slot: "checksum".into() }, false)?);
    outputs.push(log(true)?);
    Ok(outputs)
}

#[test]
fn tilectl_installs_promotes_rolls_back_and_verifies_the_log_through_the_agent() {
    let scratch = test_images().unwrap_or_else(|error| panic!("{error}")).logs.join("agent-slot-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let (outcome, outputs) = boot_and_drive(
        "agent-slot",
        "tile-agent-slot.log",
        Vec::new(),
        PORT,
        &["netstack: ready", "update-agent: ready"],
        TIMEOUT,
        move |port, _| manage_the_slot(port, &scratch),
    );
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "faults so far", "stopping"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    let [status, installed, promoted, rolled_back, verified, installed_again, verified_json] = outputs.as_slice() else {
        panic!("outputs: {outputs:?}")
    };
    assert!(status.contains("  fake-slot                running    generation 0"), "{status}");
    assert!(status.contains("slot checksum: module 0 serving; installed 0"), "{status}");
    assert!(installed.ends_with("(3000 bytes) installed as module 1, shadowing\n"), "{installed}");
    assert_eq!(promoted, "slot checksum: module 1 promoted\n");
    assert_eq!(rolled_back, "slot checksum: rolled back, module 0 serves again\n");
    assert!(verified.contains("slot checksum: update log of 3 entries"), "{verified}");
    assert!(verified.contains("(signature verified)"), "{verified}");
    assert!(verified.contains("     2 rollback checksum fake-module-1 0.0.1"), "{verified}");
    assert!(verified.contains("consistency: first head verified for this log"), "{verified}");
    assert!(installed_again.contains("installed as module 2"), "{installed_again}");
    let json: serde_json::Value = serde_json::from_str(verified_json).expect("JSON");
    assert_eq!(json["tree_size"], 4, "{json}");
    assert_eq!(json["consistency"], serde_json::json!({ "previous_size": 3 }), "{json}");
    outcome.assert_serial_contains("update-agent: 1 slot(s) [checksum], supervisor status yes");
    outcome.assert_serial_contains("agent-fake-slot: staging discarded (50 bytes were staged)");
    outcome.assert_serial_contains("agent-fake-slot: module 2 installed (3000 bytes)");
}

/// Sends `command` with `counter` on `client` as raw bytes (signed with the operator key if
/// `signed`), returning the frame it sent and the agent's answer.
fn raw(client: &mut Client, counter: u64, command: Command, signed: bool) -> Result<(Vec<u8>, Answer), String> {
    let key = ed25519_dalek::SigningKey::from_bytes(&dev_keys::OPERATOR_SEED);
    let signature = if signed { auth::sign(&key, &client.challenge(), counter, &command) } else { None };
    let bytes = frame::encode(&ClientFrame { counter, command, signature }).ok_or("a frame too large")?.to_vec();
    Ok((bytes.clone(), answer_to(client, &bytes)?))
}

/// Writes `bytes` on `client` and reads the agent's answer.
fn answer_to(client: &mut Client, bytes: &[u8]) -> Result<Answer, String> {
    client.write_raw(bytes).map_err(|error| error.to_string())?;
    match client.read_server_frame().map_err(|error| error.to_string())? {
        ServerFrame::Answer { answer, .. } => Ok(answer),
        ServerFrame::Error(error) => Ok(Answer::Error(error)),
        other => Err(format!("unexpected {other:?}")),
    }
}

/// Checks one answer against the one expected.
fn expect(what: &str, answer: Answer, expected: Answer) -> Result<(), String> {
    if answer == expected { Ok(()) } else { Err(format!("{what}: expected {expected:?}, got {answer:?}")) }
}

/// How much slower the tile's clock runs than the host's: the kernel's time-stamp-counter
/// rate (its `timer: TSC N kHz` boot line, calibrated against the PIT) over the host's
/// own, measured here. Under TCG the guest reads the host's TSC, but a calibration window
/// that the host preempts comes out too high (6.4 GHz for a 2.6 GHz TSC was seen with four
/// busy processes on two cores, when the kernel measured one window; it now keeps the
/// lowest of several), and every millisecond the tile counts from it is then that much
/// longer in real time. At least 1.
fn tile_clock_stretch(serial_log: &Path) -> Result<f64, String> {
    let serial = std::fs::read_to_string(serial_log).map_err(|error| format!("{}: {error}", serial_log.display()))?;
    let guest_khz: f64 = serial
        .lines()
        .find_map(|line| line.strip_prefix("timer: TSC ")?.split(' ').next()?.parse().ok())
        .ok_or("the serial log has no `timer: TSC N kHz` line")?;
    let (started, tsc_start) = (Instant::now(), host_tsc());
    std::thread::sleep(Duration::from_millis(200));
    let host_khz = (host_tsc() - tsc_start) as f64 / started.elapsed().as_secs_f64() / 1000.0;
    eprintln!("the tile's TSC calibration: {guest_khz} kHz; the host's TSC: {host_khz:.0} kHz");
    Ok((guest_khz / host_khz).max(1.0))
}

/// The host's time-stamp counter.
fn host_tsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64 (the only host the runner supports).
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// The host's side of the install-session test; returns how long the silent session held
/// the slot after its connection's last frame, and how much the tile's clock is stretched
/// ([`tile_clock_stretch`]).
fn attack_install_sessions(port: u16, serial_log: &Path) -> Result<(Duration, f64), String> {
    let stretch = tile_clock_stretch(serial_log)?;
    let give_up = Duration::from_secs_f64(120.0 * stretch);
    drop(agent_client(port, None)?);
    let slot = |request| Command::Slot { slot: "checksum".try_into().unwrap(), request };
    let bundle: Vec<u8> = (0..1000u32).map(|index| (index * 13) as u8).collect();
    let begin = || Command::Install { slot: "checksum".try_into().unwrap(), length: 1000, sha256: Sha256::digest(&bundle).into() };
    let chunk = |offset: usize, bytes: &[u8]| {
        slot(Request::InstallChunk { offset: offset as u32, bytes: heapless::Vec::from_slice(bytes).unwrap() })
    };
    let staged = |received| Answer::Slot(Response::Staged { received });
    let mut first = agent_client(port, Some(dev_keys::OPERATOR_SEED))?;
    let mut second = agent_client(port, Some(dev_keys::OPERATOR_SEED))?;
    // No session: an unsigned chunk and commit are refused.
    expect(
        "a chunk without a session",
        raw(&mut first, 0, chunk(0, &bundle[..500]), false)?.1,
        Answer::Error(WireError::SignatureRequired),
    )?;
    expect(
        "a commit without a session",
        raw(&mut first, 1, slot(Request::InstallCommit), false)?.1,
        Answer::Error(WireError::SignatureRequired),
    )?;
    // The first connection begins a session; its begin replayed there and on the second.
    let (begun, answer) = raw(&mut first, 2, begin(), true)?;
    expect("the signed begin", answer, staged(0))?;
    expect("the begin replayed", answer_to(&mut first, &begun)?, Answer::Error(WireError::Replay { expected: 3, got: 2 }))?;
    // On the second connection the replayed frame carries the first's counter 2: give the
    // second connection counters 0 and 1 first, so that only the challenge differs.
    expect(
        "second: status",
        raw(&mut second, 0, Command::Slots, false)?.1,
        Answer::Slots(heapless::Vec::from_slice(&["checksum".try_into().unwrap()]).unwrap()),
    )?;
    expect(
        "second: status",
        raw(&mut second, 1, Command::Slots, false)?.1,
        Answer::Slots(heapless::Vec::from_slice(&["checksum".try_into().unwrap()]).unwrap()),
    )?;
    expect("the begin replayed on another connection", answer_to(&mut second, &begun)?, Answer::Error(WireError::BadSignature))?;
    // The second connection may not add to the first's session, nor begin its own.
    expect(
        "another connection's unsigned chunk",
        raw(&mut second, 3, chunk(0, &bundle[..500]), false)?.1,
        Answer::Error(WireError::SignatureRequired),
    )?;
    expect(
        "another connection's signed chunk",
        raw(&mut second, 4, chunk(0, &bundle[..500]), true)?.1,
        Answer::Error(WireError::NotStaging),
    )?;
    expect("another connection's begin", raw(&mut second, 5, begin(), true)?.1, Answer::Error(WireError::StagingBusy))?;
    // A chunk altered in flight: staged, but the commit is refused and the staging discarded.
    let mut altered = bundle[500..].to_vec();
    altered[17] ^= 0x40;
    expect("the first chunk", raw(&mut first, 3, chunk(0, &bundle[..500]), false)?.1, staged(500))?;
    expect("an altered chunk", raw(&mut first, 4, chunk(500, &altered), false)?.1, staged(1000))?;
    expect(
        "the commit of altered bytes",
        raw(&mut first, 5, slot(Request::InstallCommit), false)?.1,
        Answer::Error(WireError::BundleDiffers),
    )?;
    // A session begun again, half sent, then silent with its connection open.
    expect("the begin again", raw(&mut first, 6, begin(), true)?.1, staged(0))?;
    expect("half the bundle", raw(&mut first, 7, chunk(0, &bundle[..500]), false)?.1, staged(500))?;
    let silent = Instant::now();
    let mut counter = 6;
    let held = loop {
        let answer = raw(&mut second, counter, begin(), true)?.1;
        counter += 1;
        match answer {
            Answer::Error(WireError::StagingBusy) if silent.elapsed() < give_up => std::thread::sleep(Duration::from_secs(2)),
            Answer::Slot(Response::Staged { received: 0 }) => break silent.elapsed(),
            other => return Err(format!("a begin while the silent session held the slot answered {other:?} after {:?}", silent.elapsed())),
        }
    };
    match first.read_server_frame() {
        Ok(ServerFrame::Error(WireError::IdleTimeout)) => {}
        other => return Err(format!("the silent connection was sent {other:?}")),
    }
    expect("the whole bundle", raw(&mut second, counter, chunk(0, &bundle[..768]), false)?.1, staged(768))?;
    expect("the rest", raw(&mut second, counter + 1, chunk(768, &bundle[768..]), false)?.1, staged(1000))?;
    expect(
        "the commit",
        raw(&mut second, counter + 2, slot(Request::InstallCommit), false)?.1,
        Answer::Slot(Response::Installed { module: 1 }),
    )?;
    Ok((held, stretch))
}

#[test]
fn install_sessions_refuse_hostile_chunks_and_replays_and_a_silent_one_expires() {
    let (outcome, (held, stretch)) = boot_and_drive(
        "agent-slot",
        "tile-agent-sessions.log",
        Vec::new(),
        PORT,
        &["netstack: ready", "update-agent: ready"],
        Duration::from_secs(900),
        attack_install_sessions,
    );
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "faults so far", "stopping"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    // The agent's idle limit is 60 s of the tile's clock; the next begin after it is served.
    let most = Duration::from_secs_f64(75.0 * stretch);
    assert!(held >= Duration::from_secs(55) && held <= most, "the silent session held the slot {held:?} (at most {most:?})");
    eprintln!("the silent session held the slot for {held:?} (the tile's clock stretched {stretch:.2}×)");
    outcome.assert_serial_contains("agent-fake-slot: staging discarded (1000 bytes were staged)");
    outcome.assert_serial_contains("agent-fake-slot: staging discarded (500 bytes were staged)");
    outcome.assert_serial_contains("idle for 60000 ms: closed");
    outcome.assert_serial_contains("agent-fake-slot: module 1 installed (1000 bytes)");
}
