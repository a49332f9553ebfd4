//! Hostile clients of the update agent on a booted tile (scenario
//! `tests/scenarios/slot-demo.toml`: the agent on TCP port 7700 in front of the real slot
//! manager of the demo slot, `checksum-client` checking every answer; docs/fuzzing.md,
//! "Hostile clients of the update agent").
//!
//! A seeded, deterministic campaign from the host over QEMU's port forward:
//!
//! - **frames** on fresh connections: random bytes, random bodies behind a valid length,
//!   lengths 0, [`MAX_FRAME`], `MAX_FRAME + 1` and `u32::MAX`, encoded commands of every
//!   kind with wrong counters, missing, random, short, foreign-key and (for reads) good
//!   signatures, some with a few bytes mutated, written in random pieces, often followed by
//!   a truncated frame and a close mid-frame. Every answer is predicted by the agent's own
//!   session logic run on the host (`tileos_tilectl_wire::session::Agent` with a stand-in
//!   backend, the connection's real challenge): each frame the tile sends must be the one
//!   predicted, except that the real answers of read commands (which reach the slot manager
//!   or the supervisor) are only required to be answers to the right counter;
//! - **replayed signatures**: a command signed for one connection, sent again on it, with
//!   the next counter, and on a new connection;
//! - **signed hostile changes**: installs begun with random lengths, chunks at wrong
//!   offsets, early commits, promotions of random modules, rollbacks, signed with the
//!   operator's key so that they reach the slot manager: each answered with the manager's
//!   own words or a precise wire error for its counter;
//! - **competing installs**: a second connection's install while one stages (`StagingBusy`,
//!   `NotStaging`), the first dropped mid-install, the second then served;
//! - **mutated bundles**, installed with the operator's key: bit flips in the header, the
//!   signatures, the manifest and the ELF, truncations, appended bytes, header lengths made
//!   huge or zero, and declared lengths that disagree with the bytes sent. Each must be
//!   refused with the precise reason: `tileos_module_bundle::verify` on the host says which
//!   (`Bundle: bundle refused: …`), the staging rules the others;
//! - **abandoned connections**: bursts of connections opened and dropped unread, and
//!   connections dropped inside a frame.
//!
//! Afterwards the tile still serves: tilectl status answers with every domain running and
//! none restarted, the client's later rounds read `wrong=0 errors=0`, the serial log has no
//! panic and no `domain.stopped`, and `checksum-fast` installs.
//!
//! `TILEOS_AGENT_FUZZ_CASES` (default [`DEFAULT_CASES`]) sets the number of cases (a
//! mutated bundle every eighth, signed hostile changes every eighth),
//! `TILEOS_AGENT_FUZZ_SEED` (default 1) the seed; a failing case names both.
//!
//! A second test signs bundles around mutated ELFs with the DEV ONLY bundle key, so that
//! they reach the root server's loader (`TILEOS_AGENT_FUZZ_PROGRAMS`, default 40); a third
//! runs the campaign's frames against the session logic served on the host, without QEMU.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use heapless::Vec as HVec;
use tileos_protocol::slots::{self, MAX_CHUNK, RefusalKind, Request, Response};
use tileos_protocol::supervisor;
use tileos_qemu::host::boot_and_drive;
use tileos_qemu::images::workspace_root;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::host::Client;
use tileos_tilectl_wire::session::{Agent, Backend, BackendError, Connect, Flow};
use tileos_tilectl_wire::{
    Answer, CHALLENGE_BYTES, ClientFrame, Command, LENGTH_BYTES, MAX_FRAME, MAX_SLOTS, PORT, ServerFrame, SlotName, WireError, auth,
    dev_keys, frame,
};

const TIMEOUT: Duration = Duration::from_secs(600);
/// Frame cases when `TILEOS_AGENT_FUZZ_CASES` is not set.
const DEFAULT_CASES: usize = 200;
/// The slot manager's largest bundle (`userland/services/slot-manager`, `MAX_BUNDLE`).
const MAX_BUNDLE: usize = 384 * 1024;
/// How long the host waits for one frame.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// `below(n)` random bytes.
    fn some_bytes(&mut self, n: u64) -> Vec<u8> {
        let length = self.below(n) as usize;
        self.bytes(length)
    }
}

/// The model's backend: the tile's one slot name; every call "fails", which marks the
/// answers that came from the real backend on the tile.
struct Stand;

impl Backend for Stand {
    fn slot_names(&self) -> HVec<SlotName, MAX_SLOTS> {
        HVec::from_slice(&["checksum".try_into().unwrap()]).unwrap()
    }
    fn slot(&mut self, _: &str, _: &slots::Request) -> Result<slots::Response, BackendError> {
        Err(BackendError::Failed)
    }
    fn domains(&mut self, _: u16) -> Result<supervisor::Response, BackendError> {
        Err(BackendError::Failed)
    }
}

fn operator() -> SigningKey {
    SigningKey::from_bytes(&dev_keys::OPERATOR_SEED)
}

/// Outcome counts, by name.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn count(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }
}

/// A frame's name for the tally: the variant and, for errors, the error's variant.
fn label(frame: &ServerFrame) -> String {
    let variant = |debug: String| debug.split([' ', '(', '{']).next().unwrap_or("").to_string();
    match frame {
        ServerFrame::Hello(_) => "hello".into(),
        ServerFrame::Error(error) => format!("error {}", variant(format!("{error:?}"))),
        ServerFrame::Answer { answer: Answer::Error(error), .. } => format!("answer error {}", variant(format!("{error:?}"))),
        ServerFrame::Answer { answer: Answer::Slot(Response::Refused(refused)), .. } => format!("answer slot refused {:?}", refused.kind),
        ServerFrame::Answer { answer: Answer::Slot(response), .. } => format!("answer slot {}", variant(format!("{response:?}"))),
        ServerFrame::Answer { answer, .. } => format!("answer {}", variant(format!("{answer:?}"))),
    }
}

/// One connection to the agent: the stream and its challenge.
struct Raw {
    stream: TcpStream,
    challenge: [u8; CHALLENGE_BYTES],
}

/// Reads one frame; `None` at the end of the stream (or a reset).
fn read_frame(stream: &mut TcpStream) -> Result<Option<ServerFrame>, String> {
    let mut prefix = [0u8; LENGTH_BYTES];
    match stream.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(error) if matches!(error.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset) => return Ok(None),
        Err(error) => return Err(format!("reading a frame: {error}")),
    }
    let length = u32::from_be_bytes(prefix) as usize;
    if length == 0 || length > MAX_FRAME {
        return Err(format!("the agent sent a frame length of {length}"));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).map_err(|error| format!("reading a frame body: {error}"))?;
    frame::decode(&body).map(Some).map_err(|error| format!("the agent sent a frame that does not decode: {error}"))
}

/// Connects and reads the hello; a `Busy` agent (its connections are still closing) and
/// connections QEMU closes before the guest accepts them are retried for a while.
fn open(port: u16, tally: &mut Tally) -> Result<Raw, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut stream) => {
                stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|error| error.to_string())?;
                stream.set_write_timeout(Some(READ_TIMEOUT)).map_err(|error| error.to_string())?;
                match read_frame(&mut stream) {
                    Ok(Some(ServerFrame::Hello(hello))) => return Ok(Raw { stream, challenge: hello.challenge }),
                    Ok(Some(ServerFrame::Error(WireError::Busy))) => {
                        tally.count("connect: busy (retried)");
                        last = "busy".into();
                    }
                    Ok(other) => last = format!("{other:?}"),
                    Err(error) => last = error,
                }
            }
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no hello from the agent within 60 s: {last}"))
}

/// What one frame case sends and what the model expects back.
struct Case {
    /// The bytes, in the order sent.
    bytes: Vec<u8>,
    /// The frames the model sent.
    expected: Vec<ServerFrame>,
    /// Whether the model closed the connection.
    closes: bool,
    /// What the case was made of, for messages.
    what: Vec<String>,
}

/// A random command of any kind (some for another slot).
fn random_command(rng: &mut Rng) -> Command {
    let slot: SlotName = if rng.chance(6) {
        let length = rng.below(17) as usize;
        (0..length).map(|_| char::from(b'a' + rng.below(26) as u8)).collect()
    } else {
        "checksum".try_into().unwrap()
    };
    let request = match rng.below(10) {
        0 => Request::Status,
        1 => Request::InstallBegin { length: rng.next() as u32 },
        2 => {
            let length = rng.below(MAX_CHUNK as u64 + 1) as usize;
            Request::InstallChunk { offset: rng.next() as u32, bytes: HVec::from_slice(&rng.bytes(length)).unwrap() }
        }
        3 => Request::InstallCommit,
        4 => Request::Promote { module: rng.below(8) as u32, force: rng.chance(2) },
        5 => Request::Rollback,
        6 => Request::LogHead,
        7 => Request::LogEntry { index: if rng.chance(2) { rng.below(4) } else { rng.next() } },
        8 => Request::LogInclusion { index: rng.below(6), tree_size: if rng.chance(2) { rng.below(6) } else { rng.next() } },
        _ => Request::LogConsistency { old_size: rng.below(6), new_size: if rng.chance(2) { rng.below(6) } else { rng.next() } },
    };
    match rng.below(9) {
        0 => Command::Slots,
        1 => Command::Domains { first: if rng.chance(2) { rng.below(40) as u16 } else { rng.next() as u16 } },
        // An install session's begin (the model never signs it with the operator's key).
        2 => Command::Install { slot, length: rng.next() as u32, sha256: rng.bytes(32).try_into().unwrap() },
        _ => Command::Slot { slot, request },
    }
}

/// One frame of a case: `(bytes, description)`. `next` is the counter the model expects.
fn random_item(rng: &mut Rng, challenge: &[u8; CHALLENGE_BYTES], next: u64) -> (Vec<u8>, String) {
    let with_prefix = |body: &[u8]| {
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        bytes
    };
    match rng.below(12) {
        0 => {
            let length = 1 + rng.below(1500) as usize;
            (rng.bytes(length), format!("{length} random bytes"))
        }
        1 | 2 => {
            let length = 1 + rng.below(MAX_FRAME as u64) as usize;
            (with_prefix(&rng.bytes(length)), format!("a random body of {length} bytes"))
        }
        3 => {
            let length = [0, MAX_FRAME as u32 + 1, u32::MAX, MAX_FRAME as u32 + 1 + rng.below(1 << 20) as u32][rng.below(4) as usize];
            let mut bytes = length.to_be_bytes().to_vec();
            bytes.extend(rng.some_bytes(64));
            (bytes, format!("length {length}"))
        }
        4 => (with_prefix(&rng.bytes(MAX_FRAME)), format!("a random body of {MAX_FRAME} bytes (the largest)")),
        _ => {
            let command = random_command(rng);
            let counter = match rng.below(8) {
                0 => rng.next(),
                1 => next.wrapping_sub(1),
                2 => next + 1,
                _ => next,
            };
            let (signature, signed) = match rng.below(6) {
                0 | 1 => (None, "unsigned"),
                2 => (Some(HVec::from_slice(&rng.bytes(64)).unwrap()), "random signature"),
                3 => (Some(HVec::from_slice(&rng.some_bytes(64)).unwrap()), "short signature"),
                4 => (auth::sign(&SigningKey::from_bytes(&[7; 32]), challenge, counter, &command), "foreign key"),
                // The operator's good signature, on read commands only: a good signature
                // on a change would change the tile, which the model cannot follow.
                _ if !command.is_privileged() => (auth::sign(&operator(), challenge, counter, &command), "operator-signed read"),
                _ => (None, "unsigned"),
            };
            let what = format!("{command:?} counter {counter} ({signed})");
            let encoded = frame::encode(&ClientFrame { counter, command, signature }).expect("every command fits a frame");
            let mut body = encoded[LENGTH_BYTES..].to_vec();
            let mutated = rng.chance(4);
            if mutated {
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(body.len() as u64) as usize;
                    body[at] ^= 1 << rng.below(8);
                }
            }
            (with_prefix(&body), if mutated { format!("{what}, mutated") } else { what })
        }
    }
}

/// Builds a case for a connection with `challenge`: one to four frames, each run through
/// the model as it is made, sometimes a truncated frame after them.
fn random_case(rng: &mut Rng, challenge: &[u8; CHALLENGE_BYTES]) -> Case {
    let mut model = Agent::new(Stand, operator().verifying_key());
    let Connect::Open(id, _) = model.connect(*challenge) else { unreachable!("a fresh model has room") };
    let mut case = Case { bytes: Vec::new(), expected: Vec::new(), closes: false, what: Vec::new() };
    let mut next = 0u64;
    for _ in 0..1 + rng.below(4) {
        let (bytes, what) = random_item(rng, challenge, next);
        let mut out = Vec::new();
        let flow = model.receive(id, &bytes, &mut |frame: &[u8]| out.push(frame.to_vec()));
        case.bytes.extend_from_slice(&bytes);
        case.what.push(what);
        for frame in out {
            let decoded: ServerFrame = frame::decode(&frame[LENGTH_BYTES..]).expect("the model's frames decode");
            if let ServerFrame::Answer { counter, answer } = &decoded
                && !matches!(answer, Answer::Error(WireError::Replay { .. }))
            {
                next = counter + 1;
            }
            case.expected.push(decoded);
        }
        if flow == Flow::Close {
            case.closes = true;
            return case;
        }
        if model.in_frame(id) {
            // A frame the model still waits for: the case ends inside it.
            case.what.push("(ends inside a frame)".into());
            return case;
        }
    }
    if rng.chance(3) {
        let mut bytes = (1 + rng.below(MAX_FRAME as u64) as u32).to_be_bytes().to_vec();
        bytes.truncate(1 + rng.below(4) as usize);
        if bytes.len() == LENGTH_BYTES {
            bytes.extend(rng.some_bytes(20));
        }
        let mut out = Vec::new();
        let flow = model.receive(id, &bytes, &mut |frame: &[u8]| out.push(frame.to_vec()));
        case.bytes.extend_from_slice(&bytes);
        case.what.push(format!("a truncated frame of {} bytes, then close", bytes.len()));
        for frame in out {
            case.expected.push(frame::decode(&frame[LENGTH_BYTES..]).expect("the model's frames decode"));
        }
        case.closes |= flow == Flow::Close;
    }
    case
}

/// Whether the tile's frame `got` is the model's `expected`: equal, or, where the model's
/// backend was asked (`ServerFailed`), any answer to the same counter but an unavailable or
/// failing server.
fn matches(expected: &ServerFrame, got: &ServerFrame) -> bool {
    match expected {
        ServerFrame::Answer { counter, answer: Answer::Error(WireError::ServerFailed) } => matches!(
            got,
            ServerFrame::Answer { counter: c, answer } if c == counter
                && !matches!(answer, Answer::Error(WireError::ServerFailed | WireError::ServerUnavailable | WireError::NoSupervisor))
        ),
        _ => expected == got,
    }
}

/// Sends `case` on `raw` in random pieces and checks every frame that comes back, then that
/// the agent closes the connection: at once when the model closed it, else after the host
/// closes its side (mid-frame when the case ends inside one).
fn run_case(raw: &mut Raw, case: &Case, rng: &mut Rng, tally: &mut Tally) -> Result<(), String> {
    let mut sent = 0;
    while sent < case.bytes.len() {
        let piece = (1 + rng.below(700) as usize).min(case.bytes.len() - sent);
        if raw.stream.write_all(&case.bytes[sent..sent + piece]).is_err() {
            // The agent may close (bad length, too many bad signatures) before all is sent.
            if case.closes {
                break;
            }
            return Err(format!("the agent stopped reading after {sent} bytes"));
        }
        sent += piece;
        if rng.chance(4) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for expected in &case.expected {
        match read_frame(&mut raw.stream)? {
            Some(got) if matches(expected, &got) => tally.count(label(&got)),
            Some(got) => return Err(format!("expected {expected:?}, the agent sent {got:?}")),
            None => return Err(format!("the connection ended; expected {expected:?}")),
        }
    }
    if !case.closes {
        let _ = raw.stream.shutdown(Shutdown::Write);
    }
    match read_frame(&mut raw.stream)? {
        None => {
            tally.count(if case.closes { "closed by the agent" } else { "closed after the host's close" });
            Ok(())
        }
        Some(extra) => Err(format!("a frame beyond the predicted ones: {extra:?}")),
    }
}

/// Replays: a signed change answered on its connection, then the same frame again (the
/// counter moved on), with the next counter (the signature covers the old one), and on a new
/// connection (another challenge); after three bad signatures the connection closes.
fn replays(port: u16, tally: &mut Tally) -> Result<(), String> {
    let command = Command::Slot { slot: "checksum".try_into().unwrap(), request: Request::Promote { module: 4000, force: false } };
    let mut first = open(port, tally)?;
    let signature = auth::sign(&operator(), &first.challenge, 0, &command);
    let signed = frame::encode(&ClientFrame { counter: 0, command: command.clone(), signature: signature.clone() }).unwrap();
    let bumped = frame::encode(&ClientFrame { counter: 1, command: command.clone(), signature: signature.clone() }).unwrap();
    let expect = |raw: &mut Raw, bytes: &[u8], check: &dyn Fn(&ServerFrame) -> bool, tally: &mut Tally| -> Result<(), String> {
        raw.stream.write_all(bytes).map_err(|error| error.to_string())?;
        match read_frame(&mut raw.stream)? {
            Some(frame) if check(&frame) => {
                tally.count(format!("replay: {}", label(&frame)));
                Ok(())
            }
            other => Err(format!("replay case answered {other:?}")),
        }
    };
    expect(
        &mut first,
        &signed,
        &|frame| {
            matches!(frame, ServerFrame::Answer { counter: 0, answer: Answer::Slot(Response::Refused(refused)) }
                if refused.kind == RefusalKind::NotFound && refused.reason == "no module 4000 in the slot")
        },
        tally,
    )?;
    expect(
        &mut first,
        &signed,
        &|frame| *frame == ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::Replay { expected: 1, got: 0 }) },
        tally,
    )?;
    expect(
        &mut first,
        &bumped,
        &|frame| *frame == ServerFrame::Answer { counter: 1, answer: Answer::Error(WireError::BadSignature) },
        tally,
    )?;
    drop(first);
    let mut second = open(port, tally)?;
    expect(
        &mut second,
        &signed,
        &|frame| *frame == ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::BadSignature) },
        tally,
    )?;
    expect(
        &mut second,
        &bumped,
        &|frame| *frame == ServerFrame::Answer { counter: 1, answer: Answer::Error(WireError::BadSignature) },
        tally,
    )?;
    let third = frame::encode(&ClientFrame { counter: 2, command, signature }).unwrap();
    expect(&mut second, &third, &|frame| *frame == ServerFrame::Error(WireError::TooManyFailures), tally)?;
    match read_frame(&mut second.stream)? {
        None => Ok(()),
        Some(frame) => Err(format!("after too many failures the agent sent {frame:?}")),
    }
}

/// Changes signed with the operator's key (so they reach the slot manager) with hostile
/// contents: installs begun with random lengths, chunks at random or nearly right offsets
/// with random bytes, early commits, promotions of random modules (forced or not),
/// rollbacks. The model cannot follow the manager's state, so each answer must only answer
/// its command's counter with the manager's own words or a precise wire error, never
/// `ServerFailed`/`ServerUnavailable`.
fn signed_changes(port: u16, rng: &mut Rng, tally: &mut Tally) -> Result<Vec<String>, String> {
    let mut client = operator_client(port)?;
    let mut done = Vec::new();
    let mut offset = 0u32;
    for _ in 0..1 + rng.below(8) {
        let request = match rng.below(6) {
            0 => {
                offset = 0;
                let length = [rng.below(4096) as u32, rng.below(MAX_BUNDLE as u64 + 2) as u32, rng.next() as u32][rng.below(3) as usize];
                Request::InstallBegin { length }
            }
            1 | 2 => {
                let length = rng.below(MAX_CHUNK as u64 + 1) as usize;
                let at = match rng.below(4) {
                    0 => rng.next() as u32,
                    1 => offset.wrapping_add(1),
                    _ => offset,
                };
                offset = offset.wrapping_add(length as u32);
                Request::InstallChunk { offset: at, bytes: HVec::from_slice(&rng.bytes(length)).unwrap() }
            }
            3 => Request::InstallCommit,
            4 => Request::Promote { module: rng.below(6) as u32, force: rng.chance(2) },
            _ => Request::Rollback,
        };
        done.push(format!("{request:?}").chars().take(60).collect());
        match client.call(Command::Slot { slot: "checksum".try_into().unwrap(), request }) {
            Ok(answer @ (Answer::Slot(_) | Answer::Error(WireError::NotStaging | WireError::StagingBusy))) => {
                tally.count(format!("signed change: {}", label(&ServerFrame::Answer { counter: 0, answer })));
            }
            other => return Err(format!("after {done:?}: {other:?}")),
        }
    }
    Ok(done)
}

/// Connects with the operator's key, retrying while the agent is busy with connections
/// still closing.
fn operator_client(port: u16) -> Result<Client, String> {
    let mut last = String::new();
    for _ in 0..100 {
        match Client::connect(&format!("127.0.0.1:{port}"), Some(operator()), READ_TIMEOUT) {
            Ok(client) => return Ok(client),
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("cannot connect with the operator's key: {last}"))
}

/// One install at a time per slot: while one connection stages, another's `InstallBegin` is
/// `StagingBusy` and its chunks and commit `NotStaging`; when the first goes mid-install the
/// agent discards its staging, and the second may begin (and its early commit is refused).
fn staging(port: u16, tally: &mut Tally) -> Result<(), String> {
    let slot = |request| Command::Slot { slot: "checksum".try_into().unwrap(), request };
    let chunk = || Request::InstallChunk { offset: 0, bytes: HVec::from_slice(&[0x42; 100]).unwrap() };
    let mut first = operator_client(port)?;
    let mut second = operator_client(port)?;
    let call = |client: &mut Client, request, expected: Answer, tally: &mut Tally| match client.call(slot(request)) {
        Ok(answer) if answer == expected => {
            tally.count(format!("staging: {}", label(&ServerFrame::Answer { counter: 0, answer })));
            Ok(())
        }
        other => Err(format!("expected {expected:?}, got {other:?}")),
    };
    call(&mut first, Request::InstallBegin { length: 1000 }, Answer::Slot(Response::Staged { received: 0 }), tally)?;
    call(&mut first, chunk(), Answer::Slot(Response::Staged { received: 100 }), tally)?;
    call(&mut second, Request::InstallBegin { length: 1000 }, Answer::Error(WireError::StagingBusy), tally)?;
    call(&mut second, chunk(), Answer::Error(WireError::NotStaging), tally)?;
    call(&mut second, Request::InstallCommit, Answer::Error(WireError::NotStaging), tally)?;
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match second.call(slot(Request::InstallBegin { length: 1000 })) {
            Ok(Answer::Slot(Response::Staged { received: 0 })) => break,
            Ok(Answer::Error(WireError::StagingBusy)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => return Err(format!("after the first connection went, InstallBegin answered {other:?}")),
        }
    }
    let refused = slots::Refused { kind: RefusalKind::Staging, reason: "a commit after 0 of 1000 bytes".try_into().unwrap() };
    call(&mut second, Request::InstallCommit, Answer::Slot(Response::Refused(refused)), tally)
}

/// What the slot manager must answer to an install of `bytes` announced as `declared`
/// bytes: the kind of refusal, its reason, and a name for the tally.
fn expected_refusal(bytes: &[u8], declared: usize) -> (RefusalKind, String, String) {
    if declared == 0 || declared > MAX_BUNDLE {
        let reason = format!("a bundle of {declared} bytes: the slot takes 1 to {MAX_BUNDLE} bytes");
        return (RefusalKind::Staging, reason, "announced length out of range".into());
    }
    if bytes.len() > declared {
        let at = declared / MAX_CHUNK * MAX_CHUNK;
        let length = (bytes.len() - at).min(MAX_CHUNK);
        let reason = format!("a chunk of {length} bytes at {at} runs past the bundle's {declared} bytes");
        return (RefusalKind::Staging, reason, "chunk past the announced length".into());
    }
    if bytes.len() < declared {
        return (RefusalKind::Staging, format!("a commit after {} of {declared} bytes", bytes.len()), "commit before the last byte".into());
    }
    let trusted = tileos_module_bundle::dev_keys::trusted_bundle_keys().expect("the dev keys decode");
    match tileos_module_bundle::verify(bytes, &trusted) {
        Err(error) => {
            let name = format!("{error:?}").split([' ', '(', '{']).next().unwrap_or("").to_string();
            (RefusalKind::Bundle, format!("bundle refused: {error}"), name)
        }
        Ok(_) => panic!("a mutated bundle verifies: the mutation left it intact"),
    }
}

/// Installs `bytes` announced as `declared` bytes with the operator's key: the manager's
/// final answer.
fn install(port: u16, bytes: &[u8], declared: usize) -> Result<Response, String> {
    let mut client = operator_client(port)?;
    let slot: SlotName = "checksum".try_into().unwrap();
    let mut call = |request| match client.call(Command::Slot { slot: slot.clone(), request }) {
        Ok(Answer::Slot(response)) => Ok(response),
        other => Err(format!("the agent answered {other:?}")),
    };
    let begun = call(Request::InstallBegin { length: declared as u32 })?;
    if begun != (Response::Staged { received: 0 }) {
        return Ok(begun);
    }
    for (index, chunk) in bytes.chunks(MAX_CHUNK).enumerate() {
        let staged = call(Request::InstallChunk { offset: (index * MAX_CHUNK) as u32, bytes: HVec::from_slice(chunk).unwrap() })?;
        if !matches!(staged, Response::Staged { .. }) {
            return Ok(staged);
        }
    }
    call(Request::InstallCommit)
}

/// A mutation of `bundle`: the bytes and the length announced, and what was done.
fn mutate(rng: &mut Rng, bundle: &[u8]) -> (Vec<u8>, usize, String) {
    const MANIFEST_AT: usize = 54 + 64 + 3309;
    let manifest_len = u32::from_be_bytes(bundle[46..50].try_into().unwrap()) as usize;
    let payload_at = MANIFEST_AT + manifest_len;
    let mut bytes = bundle.to_vec();
    let flip = |bytes: &mut Vec<u8>, rng: &mut Rng, from: usize, to: usize, region: &str| {
        let at = from + rng.below((to - from) as u64) as usize;
        let bit = rng.below(8);
        bytes[at] ^= 1 << bit;
        format!("bit {bit} of byte {at} flipped ({region})")
    };
    let what = match rng.below(11) {
        0 => flip(&mut bytes, rng, 0, 54, "header"),
        1 => flip(&mut bytes, rng, 54, 118, "Ed25519 signature"),
        2 => flip(&mut bytes, rng, 118, MANIFEST_AT, "ML-DSA-65 signature"),
        3 => flip(&mut bytes, rng, MANIFEST_AT, payload_at, "manifest"),
        4 | 5 => flip(&mut bytes, rng, payload_at, bundle.len(), "ELF"),
        6 => {
            // Mostly short (cheap to send), sometimes anywhere.
            let length = if rng.chance(3) { 1 + rng.below(bundle.len() as u64 - 1) } else { 1 + rng.below(4096) } as usize;
            bytes.truncate(length);
            format!("truncated to {length} bytes")
        }
        7 => {
            let extra = 1 + rng.below(100) as usize;
            bytes.extend(rng.bytes(extra));
            format!("{extra} bytes appended")
        }
        8 => {
            let (field, at) = if rng.chance(2) { ("manifest", 46) } else { ("payload", 50) };
            let value = [0, u32::MAX, 1 << 24, rng.next() as u32][rng.below(4) as usize];
            bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            format!("declared {field} length {value}")
        }
        9 => {
            let declared = [0, MAX_BUNDLE + 1, u32::MAX as usize][rng.below(3) as usize];
            return (bytes, declared, format!("announced as {declared} bytes"));
        }
        _ => {
            let declared =
                if rng.chance(2) { bundle.len() + 1 + rng.below(1000) as usize } else { bundle.len() - 1 - rng.below(1000) as usize };
            return (bytes, declared, format!("{} bytes announced as {declared}", bundle.len()));
        }
    };
    let declared = bytes.len();
    (bytes, declared, what)
}

/// Connections opened and dropped unread, some inside a frame.
fn abandon(port: u16, rng: &mut Rng, tally: &mut Tally) {
    let mut streams = Vec::new();
    for _ in 0..2 + rng.below(5) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            if rng.chance(2) {
                let _ = stream.write_all(&rng.some_bytes(7));
            }
            streams.push(stream);
            tally.count("abandoned connection");
        }
    }
    drop(streams);
}

/// Runs one tilectl command against the tile (DEV operator key).
fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    let options = tileos_tilectl::Options {
        tile: format!("127.0.0.1:{port}"),
        key: None,
        dev_key: true,
        json: false,
        timeout: Duration::from_secs(30),
    };
    let mut out = Vec::new();
    tileos_tilectl::run(&options, &command, &mut out).map_err(|failure| failure.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// What the campaign found.
struct Report {
    tally: Tally,
    cases: usize,
    installs: usize,
    rounds_before: usize,
    status: String,
    installed: String,
}

fn serial_rounds(serial: &Path) -> usize {
    std::fs::read(serial).map(|bytes| String::from_utf8_lossy(&bytes).matches("@event checksum.round").count()).unwrap_or(0)
}

/// The attacks: the fixed cases (every edge length, the replays), then `cases` random ones;
/// with `bundle`, every eighth case installs a mutation of it. Returns the installs made.
fn attack(port: u16, seed: u64, cases: usize, bundle: Option<&[u8]>, tally: &mut Tally) -> Result<usize, String> {
    let mut rng = Rng::new(seed);
    for length in [0u32, MAX_FRAME as u32, MAX_FRAME as u32 + 1, u32::MAX] {
        let mut raw = open(port, tally)?;
        let mut bytes = length.to_be_bytes().to_vec();
        if length as usize == MAX_FRAME {
            bytes.extend(rng.bytes(MAX_FRAME));
        }
        let mut model = Agent::new(Stand, operator().verifying_key());
        let Connect::Open(id, _) = model.connect(raw.challenge) else { unreachable!("a fresh model has room") };
        let mut expected = Vec::new();
        let flow = model.receive(id, &bytes, &mut |frame: &[u8]| expected.push(frame::decode(&frame[LENGTH_BYTES..]).unwrap()));
        let case = Case { bytes, expected, closes: flow == Flow::Close, what: vec![format!("length {length}")] };
        run_case(&mut raw, &case, &mut rng, tally).map_err(|error| format!("seed {seed}, length {length}: {error}"))?;
    }
    replays(port, tally).map_err(|error| format!("seed {seed}, replays: {error}"))?;
    if bundle.is_some() {
        staging(port, tally).map_err(|error| format!("seed {seed}, staging: {error}"))?;
    }
    let mut installs = 0;
    for index in 0..cases {
        if let Some(bundle) = bundle
            && index % 8 == 7
        {
            let (bytes, declared, what) = mutate(&mut rng, bundle);
            let (kind, reason, name) = expected_refusal(&bytes, declared);
            let reason = slots::Refused::new(kind, &reason).reason;
            let answer = install(port, &bytes, declared).map_err(|error| format!("seed {seed}, case {index} ({what}): {error}"))?;
            match &answer {
                Response::Refused(refused) if refused.kind == kind && refused.reason == reason => {
                    tally.count(format!("install refused {kind:?}: {name}"));
                }
                other => return Err(format!("seed {seed}, case {index} ({what}): expected {kind:?} {reason:?}, got {other:?}")),
            }
            installs += 1;
            continue;
        }
        if index % 16 == 3 {
            abandon(port, &mut rng, tally);
        }
        if index % 8 == 5 {
            signed_changes(port, &mut rng, tally).map_err(|error| format!("seed {seed}, case {index} (signed changes): {error}"))?;
            continue;
        }
        let mut raw = open(port, tally)?;
        let case = random_case(&mut rng, &raw.challenge);
        run_case(&mut raw, &case, &mut rng, tally)
            .map_err(|error| format!("seed {seed}, case {index} ({}): {error}", case.what.join("; ")))?;
    }
    Ok(installs)
}

/// The campaign, then the checks that the tile still serves.
fn campaign(port: u16, serial: &Path, bundles: &Path, seed: u64, cases: usize) -> Result<Report, String> {
    let mut tally = Tally::default();
    let bundle = std::fs::read(bundles.join("checksum-lineage-b.bundle")).map_err(|error| error.to_string())?;
    let installs = attack(port, seed, cases, Some(&bundle), &mut tally)?;
    // The tile still serves.
    let rounds_before = serial_rounds(serial);
    let status = tilectl(port, Tilectl::Status)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while serial_rounds(serial) < rounds_before + 1 {
        if Instant::now() > deadline {
            return Err("the client logged no round after the campaign within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let installed = tilectl(port, Tilectl::Install { file: bundles.join("checksum-fast.bundle"), slot: "checksum".into() })?;
    Ok(Report { tally, cases, installs, rounds_before, status, installed })
}

fn bundles_dir() -> PathBuf {
    let dir = workspace_root().join("build/bundles");
    assert!(dir.join("checksum-fast.bundle").is_file(), "{} has no bundles: run `make bundles` (make test does)", dir.display());
    dir
}

#[test]
fn hostile_clients_of_the_update_agent_get_precise_errors_and_the_tile_keeps_serving() {
    let bundles = bundles_dir();
    let seed = env_number("TILEOS_AGENT_FUZZ_SEED", 1);
    let cases = env_number("TILEOS_AGENT_FUZZ_CASES", DEFAULT_CASES as u64) as usize;
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let started = Instant::now();
    let (outcome, report) = boot_and_drive("slot-demo", "tile-agent-fuzz.log", Vec::new(), PORT, ready, TIMEOUT, move |port, serial| {
        campaign(port, serial, &bundles, seed, cases)
    });
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    let stopped = outcome.events("domain.stopped");
    assert!(stopped.is_empty(), "domains stopped: {:?}", stopped.iter().map(|event| &event.line).collect::<Vec<_>>());
    // Every domain running and never restarted (the slot's empty seats are stopped).
    let domains: Vec<&str> = report.status.lines().filter(|line| line.starts_with("  ") && line.contains(" generation ")).collect();
    assert!(domains.len() >= 8, "{}", report.status);
    for line in &domains {
        let words: Vec<&str> = line.split_whitespace().collect();
        let seat = words[0].contains(".seat");
        assert!(words[1] == "running" || (seat && words[1] == "stopped"), "{line}");
        assert_eq!(words.last(), Some(&"0"), "restarted: {line}");
    }
    // The client: rounds after the campaign, every one without a wrong answer or an error.
    // Whole lines only: the host side stops QEMU whenever it is done, maybe mid-line.
    let rounds = outcome.events("checksum.round");
    assert!(rounds.len() > report.rounds_before, "no client round after the campaign");
    for round in &rounds {
        assert!(round.has(&[("wrong", "0"), ("errors", "0")]), "the client saw a wrong answer or an error: {}", round.line);
    }
    assert!(report.installed.contains("installed as module"), "{}", report.installed);
    let counts: Vec<String> = report.tally.0.iter().map(|(what, count)| format!("  {count:>5}  {what}")).collect();
    println!(
        "agent_fuzz: seed {seed}, {} cases ({} mutated bundles), {:.1} s; outcomes:\n{}",
        report.cases,
        report.installs,
        started.elapsed().as_secs_f64(),
        counts.join("\n")
    );
}

/// The campaign's frames and predictions against the same session logic served on the host
/// (`tileos_tilectl_wire::host::serve`, a stand-in backend): checks the harness itself, in a
/// second, without QEMU.
#[test]
fn the_campaign_predicts_the_agent_served_on_the_host() {
    struct Fake;
    impl Backend for Fake {
        fn slot_names(&self) -> HVec<SlotName, MAX_SLOTS> {
            Stand.slot_names()
        }
        fn slot(&mut self, _: &str, _: &slots::Request) -> Result<slots::Response, BackendError> {
            let reason = "no module 4000 in the slot".try_into().unwrap();
            Ok(Response::Refused(slots::Refused { kind: RefusalKind::NotFound, reason }))
        }
        fn domains(&mut self, _: u16) -> Result<supervisor::Response, BackendError> {
            Ok(supervisor::Response::Status { total: 0, domains: HVec::new() })
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("bound").port();
    let agent = std::sync::Arc::new(std::sync::Mutex::new(Agent::new(Fake, operator().verifying_key())));
    std::thread::spawn(move || tileos_tilectl_wire::host::serve(listener, agent));
    let mut tally = Tally::default();
    let cases = env_number("TILEOS_AGENT_FUZZ_CASES", 200) as usize;
    attack(port, env_number("TILEOS_AGENT_FUZZ_SEED", 1), cases, None, &mut tally).unwrap_or_else(|error| panic!("{error}"));
    assert!(tally.0.len() >= 8, "{:?}", tally.0);
    let counts: Vec<String> = tally.0.iter().map(|(what, count)| format!("  {count:>5}  {what}")).collect();
    println!("agent_fuzz on the host: {cases} cases; outcomes:\n{}", counts.join("\n"));
}

/// Program headers' offsets in an ELF64 header.
const E_PHOFF: usize = 0x20;
const E_PHNUM: usize = 0x38;
/// Bytes of one ELF64 program header.
const PHDR: usize = 56;

/// A mutation of the ELF `elf`: the bytes and what was done. Mostly in the ELF header and
/// the program headers (what the root server's loader parses), sometimes anywhere, or a
/// truncation.
fn mutate_elf(rng: &mut Rng, elf: &[u8]) -> (Vec<u8>, String) {
    let mut bytes = elf.to_vec();
    let phoff = u64::from_le_bytes(elf[E_PHOFF..E_PHOFF + 8].try_into().unwrap()) as usize;
    let phnum = usize::from(u16::from_le_bytes(elf[E_PHNUM..E_PHNUM + 2].try_into().unwrap()));
    let headers = phoff..phoff + phnum * PHDR;
    let field = |bytes: &mut Vec<u8>, at: usize, width: usize, value: u64| {
        bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
    };
    let what = match rng.below(6) {
        0 => {
            let at = rng.below(64) as usize;
            let bit = rng.below(8);
            bytes[at] ^= 1 << bit;
            format!("bit {bit} of ELF header byte {at:#x} flipped")
        }
        1 => {
            let at = headers.start + rng.below(headers.len() as u64) as usize;
            let bit = rng.below(8);
            bytes[at] ^= 1 << bit;
            format!("bit {bit} of program header byte {at:#x} flipped")
        }
        2 => {
            // A field of a program header set to an extreme: offset, vaddr, filesz, memsz.
            let header = headers.start + rng.below(phnum as u64) as usize * PHDR;
            let (name, offset) = [("p_offset", 8), ("p_vaddr", 16), ("p_filesz", 32), ("p_memsz", 40)][rng.below(4) as usize];
            let value = [u64::MAX, 1 << 40, 0xffff_8000_0000_0000, 0, rng.next()][rng.below(5) as usize];
            field(&mut bytes, header + offset, 8, value);
            format!("{name} of the program header at {header:#x} set to {value:#x}")
        }
        3 => {
            let (name, at, width, value) = match rng.below(4) {
                0 => ("e_entry", 0x18, 8, [0, u64::MAX, 0x1000, rng.next()][rng.below(4) as usize]),
                1 => ("e_phoff", E_PHOFF, 8, [0, u64::MAX, elf.len() as u64 - 8, rng.next()][rng.below(4) as usize]),
                2 => ("e_phnum", E_PHNUM, 2, [0, 0xffff, phnum as u64 + 1][rng.below(3) as usize]),
                _ => ("e_phentsize", 0x36, 2, [0, 1, 0xffff][rng.below(3) as usize]),
            };
            field(&mut bytes, at, width, value);
            format!("{name} set to {value:#x}")
        }
        4 => {
            let length = 1 + rng.below(elf.len() as u64 - 1) as usize;
            bytes.truncate(length);
            format!("truncated to {length} of {} bytes", elf.len())
        }
        _ => {
            let at = rng.below(elf.len() as u64) as usize;
            let bit = rng.below(8);
            bytes[at] ^= 1 << bit;
            format!("bit {bit} of byte {at:#x} flipped (anywhere)")
        }
    };
    (bytes, what)
}

/// The module `module`'s status line, if the slot lists it: its state and agreeing count.
fn module_state(status: &str, module: u32) -> Option<(String, u64)> {
    let prefix = format!("  module {module:<3} ");
    let line = status.lines().find(|line| line.starts_with(&prefix))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let agreeing = words.iter().position(|word| *word == "agreeing").and_then(|index| words.get(index + 1))?.parse().ok()?;
    Some((words.get(3)?.to_string(), agreeing))
}

/// The last line of `serial` from `from` on that contains `needle`.
fn last_line(serial: &Path, from: usize, needle: &str) -> Option<String> {
    let text = std::fs::read(serial).ok()?;
    let text = String::from_utf8_lossy(&text[from.min(text.len())..]).into_owned();
    text.lines().rfind(|line| line.contains(needle)).map(str::to_owned)
}

/// Signed bundles whose ELF is mutated: the signature and manifest are good (signed on the
/// host with the DEV ONLY bundle key), so each reaches the root server's loader. Each must be
/// refused by the root server (`Build`), or start and then be rejected by the slot
/// (faults, disagreement, timeouts), or, when the mutation changed nothing that runs, shadow
/// like the original: such a module is promoted on its evidence and rolled back by hand,
/// which frees its seat.
fn mutated_programs(port: u16, serial: &Path, bundles: &Path, seed: u64, cases: usize) -> Result<(Tally, String), String> {
    let mut rng = Rng::new(seed ^ 0xE1F);
    let mut tally = Tally::default();
    let original = std::fs::read(bundles.join("checksum-lineage-b.bundle")).map_err(|error| error.to_string())?;
    let trusted = tileos_module_bundle::dev_keys::trusted_bundle_keys().expect("the dev keys decode");
    let verified = tileos_module_bundle::verify(&original, &trusted).map_err(|error| format!("the original bundle: {error}"))?;
    let signer = tileos_module_bundle::dev_keys::bundle_signer();
    let slot = |request| Command::Slot { slot: "checksum".try_into().unwrap(), request };
    for index in 0..cases {
        let (elf, what) = mutate_elf(&mut rng, verified.payload);
        let mut manifest = verified.manifest.clone();
        manifest.content_hash = tileos_module_bundle::content_hash(&elf);
        manifest.payload_size = elf.len() as u32;
        let bundle = tileos_module_bundle::build(&manifest, &elf, &signer).map_err(|error| format!("signing: {error}"))?;
        let from = std::fs::metadata(serial).map(|meta| meta.len() as usize).unwrap_or(0);
        let failed = |error: String| format!("seed {seed}, program case {index} ({what}): {error}");
        match install(port, &bundle, bundle.len()).map_err(failed)? {
            Response::Refused(refused) if refused.kind == RefusalKind::Build && refused.reason.contains("BadProgram") => {
                // The root server's words after "supervisor: slot "checksum" seat 1: ".
                let why = last_line(serial, from, "supervisor: slot \"checksum\" seat")
                    .and_then(|line| line.split_once(" seat ").and_then(|(_, rest)| rest.split_once(": ")).map(|(_, why)| why.to_string()))
                    .map(|why| why.split(" (details").next().unwrap_or("").to_string())
                    .unwrap_or_default();
                tally.count(format!("refused by the root server: {why}"));
            }
            Response::Installed { module } => {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let status = tilectl(port, Tilectl::Status).map_err(failed)?;
                    match module_state(&status, module) {
                        None => {
                            let reason = last_line(serial, from, &format!("module={module} from="))
                                .and_then(|line| {
                                    line.split("reason=").nth(1).map(|reason| reason.split(['(', ' ']).next().unwrap_or("").to_string())
                                })
                                .unwrap_or_else(|| "?".into());
                            if last_line(serial, from, "never called READY").is_some() {
                                tally.count(format!("started, never called READY (hung): rejected: {reason}"));
                            } else {
                                tally.count(format!("started, then rejected: {reason}"));
                            }
                            break;
                        }
                        Some((state, _)) if state == "promotable" => {
                            let promoted = client_call(port, slot(Request::Promote { module, force: false })).map_err(failed)?;
                            let breaker =
                                || last_line(serial, from, &format!("module={module} from=promoted to=rolled-back reason=CircuitBreaker"));
                            match promoted {
                                Answer::Slot(Response::Promoted { .. }) => {}
                                // Rejected (e.g. faulted) between the status and the promotion.
                                Answer::Slot(Response::Refused(refused))
                                    if matches!(refused.kind, RefusalKind::Policy | RefusalKind::NotFound) =>
                                {
                                    tally.count("started, agreed, then rejected before its promotion");
                                    break;
                                }
                                other => return Err(failed(format!("promotion: {other:?}"))),
                            }
                            match client_call(port, slot(Request::Rollback)).map_err(failed)? {
                                Answer::Slot(Response::RolledBack { .. }) => {
                                    tally.count("started, agreed: promoted on its evidence, rolled back by hand")
                                }
                                // The breaker was first (a fault, e.g. refusing the promoted
                                // state, or a disagreement with the warm incumbent).
                                Answer::Slot(Response::Refused(refused)) if refused.reason.contains("NothingToRollBack") => {
                                    // Its log line may reach the serial log a moment later.
                                    let deadline = Instant::now() + Duration::from_secs(5);
                                    while breaker().is_none() && Instant::now() < deadline {
                                        std::thread::sleep(Duration::from_millis(100));
                                    }
                                    let line = breaker().ok_or_else(|| failed("nothing to roll back, and no breaker's rollback".into()))?;
                                    let why = line
                                        .split("CircuitBreaker(")
                                        .nth(1)
                                        .and_then(|rest| rest.split([')', ' ', '{']).next())
                                        .unwrap_or("?");
                                    tally.count(format!("started, agreed: promoted on its evidence, rolled back by the breaker: {why}"));
                                }
                                other => return Err(failed(format!("rollback after the promotion: {other:?}"))),
                            }
                            break;
                        }
                        Some((state, agreeing)) if Instant::now() > deadline => {
                            return Err(failed(format!("module {module} still {state} ({agreeing} agreeing) after 60 s")));
                        }
                        Some(_) => std::thread::sleep(Duration::from_millis(300)),
                    }
                }
            }
            other => return Err(failed(format!("expected a Build refusal or an install, got {other:?}"))),
        }
    }
    let installed = tilectl(port, Tilectl::Install { file: bundles.join("checksum-fast.bundle"), slot: "checksum".into() })?;
    Ok((tally, installed))
}

/// One signed command on a connection of its own: the agent's answer.
fn client_call(port: u16, command: Command) -> Result<Answer, String> {
    operator_client(port)?.call(command).map_err(|error| error.to_string())
}

#[test]
fn signed_bundles_with_mutated_programs_never_crash_the_root_server() {
    let bundles = bundles_dir();
    let seed = env_number("TILEOS_AGENT_FUZZ_SEED", 1);
    let cases = env_number("TILEOS_AGENT_FUZZ_PROGRAMS", 40) as usize;
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let started = Instant::now();
    let (outcome, (tally, installed)) =
        boot_and_drive("slot-demo", "tile-agent-fuzz-programs.log", Vec::new(), PORT, ready, TIMEOUT, move |port, serial| {
            mutated_programs(port, serial, &bundles, seed, cases)
        });
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // Only seats stop (a module that faulted); nothing else.
    for stopped in outcome.events("domain.stopped") {
        assert!(stopped.get("domain").is_some_and(|domain| domain.starts_with("checksum.seat")), "{}", stopped.line);
    }
    // Whole lines only: the host side stops QEMU whenever it is done, maybe mid-line.
    let rounds = outcome.events("checksum.round");
    assert!(!rounds.is_empty(), "no client round");
    for round in &rounds {
        assert!(round.has(&[("wrong", "0"), ("errors", "0")]), "the client saw a wrong answer or an error: {}", round.line);
    }
    assert!(installed.contains("installed as module"), "{installed}");
    let counts: Vec<String> = tally.0.iter().map(|(what, count)| format!("  {count:>5}  {what}")).collect();
    println!(
        "agent_fuzz programs: seed {seed}, {cases} signed bundles with mutated ELFs, {:.1} s; outcomes:\n{}",
        started.elapsed().as_secs_f64(),
        counts.join("\n")
    );
}
