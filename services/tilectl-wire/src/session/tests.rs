//! The agent's session logic against hostile clients, with a fake slot backend.

use super::*;
use crate::dev_keys::OPERATOR_SEED;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use std::string::ToString;
use std::vec::Vec as StdVec;

/// A slot "checksum" that records what it was asked.
#[derive(Default)]
struct Fake {
    requests: StdVec<(std::string::String, Request)>,
    staged: u32,
    twin_requests: StdVec<twin::Request>,
    /// Operator signatures the agent checked.
    signatures: u32,
}

impl Backend for Fake {
    fn slot_names(&self) -> Vec<SlotName, MAX_SLOTS> {
        Vec::from_slice(&["checksum".try_into().unwrap()]).unwrap()
    }

    fn slot(&mut self, slot: &str, request: &Request) -> Result<slots::Response, BackendError> {
        self.requests.push((slot.to_string(), request.clone()));
        Ok(match request {
            Request::InstallBegin { .. } => {
                self.staged = 0;
                slots::Response::Staged { received: 0 }
            }
            Request::InstallChunk { bytes, .. } => {
                self.staged += bytes.len() as u32;
                slots::Response::Staged { received: self.staged }
            }
            Request::InstallCommit => slots::Response::Installed { module: 1 },
            Request::Promote { module, .. } => slots::Response::Promoted { module: *module },
            Request::Rollback => slots::Response::RolledBack { module: 0 },
            _ => slots::Response::Refused(slots::Refused { kind: slots::RefusalKind::NotFound, reason: "fake".try_into().unwrap() }),
        })
    }

    fn domains(&mut self, first: u16) -> Result<supervisor::Response, BackendError> {
        let _ = first;
        Ok(supervisor::Response::Status { total: 0, domains: Vec::new() })
    }

    fn twin(&mut self, request: &twin::Request) -> Result<twin::Response, BackendError> {
        self.twin_requests.push(request.clone());
        match request {
            twin::Request::Alarms => Ok(twin::Response::Alarms(Vec::new())),
            _ => Err(BackendError::Unavailable),
        }
    }

    fn signature_checked(&mut self, _: u64) {
        self.signatures += 1;
    }
}

/// A client's view of one connection.
struct Client {
    id: ConnectionId,
    challenge: [u8; 32],
    counter: u64,
}

fn operator() -> SigningKey {
    SigningKey::from_bytes(&OPERATOR_SEED)
}

fn agent() -> Agent<Fake> {
    Agent::new(Fake::default(), operator().verifying_key())
}

fn connect(agent: &mut Agent<Fake>, challenge: [u8; 32]) -> Client {
    let Connect::Open(id, hello) = agent.connect(challenge) else { panic!("busy") };
    let hello: ServerFrame = frame::decode(&hello[4..]).unwrap();
    assert_eq!(hello, ServerFrame::Hello(Hello { version: VERSION, challenge }));
    Client { id, challenge, counter: 0 }
}

/// Sends raw bytes; returns the frames answered and whether the connection stays open.
fn send_bytes(agent: &mut Agent<Fake>, id: ConnectionId, bytes: &[u8]) -> (StdVec<ServerFrame>, Flow) {
    let mut out = StdVec::new();
    let flow = agent.receive(id, bytes, &mut |frame: &[u8]| out.push(frame.to_vec()));
    let mut frames = StdVec::new();
    for bytes in out {
        let length = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(length + 4, bytes.len());
        frames.push(frame::decode(&bytes[4..]).unwrap());
    }
    (frames, flow)
}

fn slot(request: Request) -> Command {
    Command::Slot { slot: "checksum".try_into().unwrap(), request }
}

impl Client {
    /// Sends `command` (signed with `key` if given) with the next counter: the one answer.
    fn send(&mut self, agent: &mut Agent<Fake>, command: Command, key: Option<&SigningKey>) -> (Answer, Flow) {
        let signature = key.map(|key| auth::sign(key, &self.challenge, self.counter, &command).unwrap());
        let frame = ClientFrame { counter: self.counter, command, signature };
        self.counter += 1;
        let (mut frames, flow) = send_bytes(agent, self.id, &frame::encode(&frame).unwrap());
        assert_eq!(frames.len(), 1);
        match frames.pop().unwrap() {
            ServerFrame::Answer { counter, answer } => {
                assert_eq!(counter, self.counter - 1);
                (answer, flow)
            }
            ServerFrame::Error(error) => (Answer::Error(error), flow),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn reads_need_no_key_and_changes_need_the_operators() {
    let mut agent = agent();
    let mut client = connect(&mut agent, [1; 32]);
    assert_eq!(client.send(&mut agent, Command::Slots, None).0, Answer::Slots(Vec::from_slice(&["checksum".try_into().unwrap()]).unwrap()));
    assert_eq!(client.send(&mut agent, Command::Domains { first: 0 }, None).0, Answer::Domains { total: 0, domains: Vec::new() });
    assert!(matches!(client.send(&mut agent, slot(Request::LogHead), None).0, Answer::Slot(_)));
    assert_eq!(client.send(&mut agent, slot(Request::Rollback), None).0, Answer::Error(WireError::SignatureRequired));
    let stranger = SigningKey::from_bytes(&[7; 32]);
    assert_eq!(client.send(&mut agent, slot(Request::Rollback), Some(&stranger)).0, Answer::Error(WireError::BadSignature));
    assert_eq!(
        client.send(&mut agent, slot(Request::Rollback), Some(&operator())).0,
        Answer::Slot(slots::Response::RolledBack { module: 0 })
    );
    // A read with a bad signature is refused too.
    assert_eq!(client.send(&mut agent, Command::Slots, Some(&stranger)).0, Answer::Error(WireError::BadSignature));
    assert_eq!(agent.backend().requests.iter().filter(|(_, request)| *request == Request::Rollback).count(), 1);
}

#[test]
fn too_many_bad_signatures_close_the_connection() {
    let mut agent = agent();
    let mut client = connect(&mut agent, [1; 32]);
    let stranger = SigningKey::from_bytes(&[7; 32]);
    for _ in 1..MAX_FAILURES {
        assert_eq!(client.send(&mut agent, slot(Request::Rollback), Some(&stranger)), (Answer::Error(WireError::BadSignature), Flow::Open));
    }
    assert_eq!(client.send(&mut agent, slot(Request::Rollback), Some(&stranger)), (Answer::Error(WireError::TooManyFailures), Flow::Close));
    assert_eq!(agent.connections(), 0);
    assert!(agent.backend().requests.is_empty());
}

#[test]
fn replays_fail_on_the_same_and_on_another_connection() {
    let mut agent = agent();
    let mut first = connect(&mut agent, [1; 32]);
    let command = slot(Request::Promote { module: 1, force: false });
    let signature = auth::sign(&operator(), &first.challenge, 0, &command).unwrap();
    let captured = frame::encode(&ClientFrame { counter: 0, command, signature: Some(signature) }).unwrap();
    let (frames, _) = send_bytes(&mut agent, first.id, &captured);
    assert_eq!(frames, [ServerFrame::Answer { counter: 0, answer: Answer::Slot(slots::Response::Promoted { module: 1 }) }]);
    first.counter = 1;
    // Twice on the same connection: the counter moved on.
    let (frames, flow) = send_bytes(&mut agent, first.id, &captured);
    assert_eq!(frames, [ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::Replay { expected: 1, got: 0 }) }]);
    assert_eq!(flow, Flow::Open);
    // On another connection: same counter, another challenge.
    let second = connect(&mut agent, [2; 32]);
    let (frames, _) = send_bytes(&mut agent, second.id, &captured);
    assert_eq!(frames, [ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::BadSignature) }]);
    // Still exactly one promotion, and the first connection still works.
    assert_eq!(agent.backend().requests.len(), 1);
    assert_eq!(first.send(&mut agent, Command::Slots, None).1, Flow::Open);
}

#[test]
fn malformed_unknown_and_oversized_frames_get_precise_errors() {
    let mut agent = agent();
    let client = connect(&mut agent, [1; 32]);
    // Not a ClientFrame: one byte, a counter and nothing more.
    assert_eq!(send_bytes(&mut agent, client.id, &[0, 0, 0, 1, 5]), (std::vec![ServerFrame::Error(WireError::Malformed)], Flow::Open));
    // Command variant 9 does not exist.
    assert_eq!(
        send_bytes(&mut agent, client.id, &[0, 0, 0, 2, 0, 9]),
        (std::vec![ServerFrame::Error(WireError::UnknownCommand)], Flow::Open)
    );
    // A frame with trailing bytes.
    let mut trailing = frame::encode(&ClientFrame { counter: 0, command: Command::Slots, signature: None }).unwrap().to_vec();
    trailing.push(0);
    trailing[3] += 1;
    assert_eq!(send_bytes(&mut agent, client.id, &trailing), (std::vec![ServerFrame::Error(WireError::Malformed)], Flow::Open));
    // An unknown slot.
    let frame =
        ClientFrame { counter: 0, command: Command::Slot { slot: "nope".try_into().unwrap(), request: Request::Status }, signature: None };
    assert_eq!(
        send_bytes(&mut agent, client.id, &frame::encode(&frame).unwrap()).0,
        [ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::UnknownSlot) }]
    );
    // A "negative" length closes.
    let (frames, flow) = send_bytes(&mut agent, client.id, &[0xff, 0xff, 0xff, 0xfe, 1, 2, 3]);
    assert_eq!(frames, [ServerFrame::Error(WireError::BadLength { length: 0xffff_fffe, max: MAX_FRAME as u32 })]);
    assert_eq!(flow, Flow::Close);
    assert_eq!(agent.connections(), 0);
}

#[test]
fn twin_reads_reach_the_twin_and_no_frame_carries_an_export() {
    let mut agent = agent();
    let mut client = connect(&mut agent, [1; 32]);
    assert_eq!(client.send(&mut agent, Command::Twin(crate::TwinRead::Alarms), None).0, Answer::Twin(twin::Response::Alarms(Vec::new())));
    // The twin gone: the precise error, and the connection stays open.
    assert_eq!(
        client.send(&mut agent, Command::Twin(crate::TwinRead::State), None),
        (Answer::Error(WireError::ServerUnavailable), Flow::Open)
    );
    assert_eq!(agent.backend().twin_requests, [twin::Request::Alarms, twin::Request::State]);
    // Read tag 2 would be the twin protocol's Export: no such read.
    let counter = client.counter as u8;
    assert_eq!(send_bytes(&mut agent, client.id, &[0, 0, 0, 3, counter, 5, 2]).0, [ServerFrame::Error(WireError::UnknownCommand)]);
    // A read tag with a trailing byte, and a frame cut after the command tag.
    assert_eq!(send_bytes(&mut agent, client.id, &[0, 0, 0, 5, counter, 5, 0, 0, 0]).0, [ServerFrame::Error(WireError::Malformed)]);
    assert_eq!(send_bytes(&mut agent, client.id, &[0, 0, 0, 2, counter, 5]).0, [ServerFrame::Error(WireError::Malformed)]);
    assert_eq!(agent.backend().twin_requests.len(), 2);
    // A backend without a twin capability says so.
    struct NoTwin;
    impl Backend for NoTwin {
        fn slot_names(&self) -> Vec<SlotName, MAX_SLOTS> {
            Vec::new()
        }
        fn slot(&mut self, _: &str, _: &Request) -> Result<slots::Response, BackendError> {
            Err(BackendError::NoSuchSlot)
        }
        fn domains(&mut self, _: u16) -> Result<supervisor::Response, BackendError> {
            Err(BackendError::NoSupervisor)
        }
    }
    let mut bare = Agent::new(NoTwin, operator().verifying_key());
    let Connect::Open(id, _) = bare.connect([2; 32]) else { panic!("busy") };
    let frame = ClientFrame { counter: 0, command: Command::Twin(crate::TwinRead::State), signature: None };
    let mut out = StdVec::new();
    let _ = bare.receive(id, &frame::encode(&frame).unwrap(), &mut |bytes: &[u8]| out.push(bytes.to_vec()));
    let answer: ServerFrame = frame::decode(&out[0][4..]).unwrap();
    assert_eq!(answer, ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::NoTwin) });
}

#[test]
fn a_third_connection_is_told_busy_and_a_closed_one_frees_its_place() {
    let mut agent = agent();
    let first = connect(&mut agent, [1; 32]);
    let _second = connect(&mut agent, [2; 32]);
    let Connect::Busy(busy) = agent.connect([3; 32]) else { panic!("not busy") };
    assert_eq!(frame::decode::<ServerFrame>(&busy[4..]), Ok(ServerFrame::Error(WireError::Busy)));
    agent.disconnect(first.id);
    connect(&mut agent, [3; 32]);
}

#[test]
fn installs_belong_to_their_connection_and_a_dropped_one_is_discarded() {
    let mut agent = agent();
    let key = operator();
    let mut first = connect(&mut agent, [1; 32]);
    let mut second = connect(&mut agent, [2; 32]);
    assert_eq!(
        first.send(&mut agent, slot(Request::InstallBegin { length: 4 }), Some(&key)).0,
        Answer::Slot(slots::Response::Staged { received: 0 })
    );
    let chunk = slot(Request::InstallChunk { offset: 0, bytes: Vec::from_slice(&[1, 2]).unwrap() });
    // Another connection may neither add chunks, commit nor begin its own install there.
    assert_eq!(second.send(&mut agent, chunk.clone(), Some(&key)).0, Answer::Error(WireError::NotStaging));
    assert_eq!(second.send(&mut agent, slot(Request::InstallCommit), Some(&key)).0, Answer::Error(WireError::NotStaging));
    assert_eq!(second.send(&mut agent, slot(Request::InstallBegin { length: 1 }), Some(&key)).0, Answer::Error(WireError::StagingBusy));
    assert_eq!(first.send(&mut agent, chunk, Some(&key)).0, Answer::Slot(slots::Response::Staged { received: 2 }));
    // The first connection drops mid-install: the agent discards the staging.
    agent.disconnect(first.id);
    assert_eq!(agent.backend().requests.last().unwrap().1, Request::InstallBegin { length: 0 });
    assert_eq!(second.send(&mut agent, slot(Request::InstallCommit), Some(&key)).0, Answer::Error(WireError::NotStaging));
    // Now the second may install, to the end.
    assert_eq!(
        second.send(&mut agent, slot(Request::InstallBegin { length: 1 }), Some(&key)).0,
        Answer::Slot(slots::Response::Staged { received: 0 })
    );
    assert_eq!(
        second.send(&mut agent, slot(Request::InstallChunk { offset: 0, bytes: Vec::from_slice(&[9]).unwrap() }), Some(&key)).0,
        Answer::Slot(slots::Response::Staged { received: 1 })
    );
    assert_eq!(second.send(&mut agent, slot(Request::InstallCommit), Some(&key)).0, Answer::Slot(slots::Response::Installed { module: 1 }));
    // Committed: no staging left to discard when it goes.
    let before = agent.backend().requests.len();
    agent.disconnect(second.id);
    assert_eq!(agent.backend().requests.len(), before);
}

fn install(length: u32, bundle: &[u8]) -> Command {
    Command::Install { slot: "checksum".try_into().unwrap(), length, sha256: Sha256::digest(bundle).into() }
}

fn chunk(offset: u32, bytes: &[u8]) -> Command {
    slot(Request::InstallChunk { offset, bytes: Vec::from_slice(bytes).unwrap() })
}

#[test]
fn an_install_session_is_signed_once_and_its_chunks_and_commit_need_no_signature() {
    let mut agent = agent();
    let mut client = connect(&mut agent, [1; 32]);
    let bundle = [1, 2, 3, 4, 5];
    assert_eq!(client.send(&mut agent, install(5, &bundle), Some(&operator())).0, Answer::Slot(slots::Response::Staged { received: 0 }));
    assert_eq!(client.send(&mut agent, chunk(0, &bundle[..2]), None).0, Answer::Slot(slots::Response::Staged { received: 2 }));
    assert_eq!(client.send(&mut agent, chunk(2, &bundle[2..]), None).0, Answer::Slot(slots::Response::Staged { received: 5 }));
    assert_eq!(client.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Slot(slots::Response::Installed { module: 1 }));
    assert_eq!(agent.backend().signatures, 1, "one signature checked for the whole install");
    let requests: StdVec<Request> = agent.backend().requests.iter().map(|(_, request)| request.clone()).collect();
    assert_eq!(requests[0], Request::InstallBegin { length: 5 });
    assert_eq!(requests.last(), Some(&Request::InstallCommit));
    // The session ended with its commit: a chunk or commit now needs a signature again.
    assert_eq!(client.send(&mut agent, chunk(0, &bundle), None).0, Answer::Error(WireError::SignatureRequired));
    assert_eq!(client.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Error(WireError::SignatureRequired));
}

#[test]
fn a_chunk_altered_in_flight_or_missing_is_refused_at_the_commit_and_the_staging_discarded() {
    let bundle = [1, 2, 3, 4];
    for (chunks, what) in [
        (&[(0u32, &[1u8, 2][..]), (2, &[3, 5][..])][..], "a byte altered"),
        (&[(0, &[1, 2][..])][..], "the last chunk missing"),
        (&[(0, &[1, 2][..]), (1, &[3, 4][..])][..], "a chunk at the wrong offset"),
    ] {
        let mut agent = agent();
        let mut client = connect(&mut agent, [1; 32]);
        assert!(matches!(client.send(&mut agent, install(4, &bundle), Some(&operator())).0, Answer::Slot(_)));
        for (offset, bytes) in chunks {
            assert!(matches!(client.send(&mut agent, chunk(*offset, bytes), None).0, Answer::Slot(_)), "{what}");
        }
        assert_eq!(
            client.send(&mut agent, slot(Request::InstallCommit), None),
            (Answer::Error(WireError::BundleDiffers), Flow::Open),
            "{what}"
        );
        let requests = &agent.backend().requests;
        assert_eq!(requests.last().unwrap().1, Request::InstallBegin { length: 0 }, "{what}: discarded");
        assert!(!requests.iter().any(|(_, request)| *request == Request::InstallCommit), "{what}: never committed");
        // The slot is free again: the same connection may install the right bytes.
        assert!(matches!(client.send(&mut agent, install(4, &bundle), Some(&operator())).0, Answer::Slot(_)));
        assert!(matches!(client.send(&mut agent, chunk(0, &bundle), None).0, Answer::Slot(_)));
        assert_eq!(client.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Slot(slots::Response::Installed { module: 1 }));
    }
}

#[test]
fn a_session_authorises_only_its_own_connection_and_slot() {
    let mut agent = agent();
    let key = operator();
    let mut first = connect(&mut agent, [1; 32]);
    let mut second = connect(&mut agent, [2; 32]);
    // No session yet: an unsigned chunk or commit, and an unsigned begin, are refused.
    assert_eq!(first.send(&mut agent, chunk(0, &[1]), None).0, Answer::Error(WireError::SignatureRequired));
    assert_eq!(first.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Error(WireError::SignatureRequired));
    assert_eq!(first.send(&mut agent, install(1, &[1]), None).0, Answer::Error(WireError::SignatureRequired));
    let stranger = SigningKey::from_bytes(&[7; 32]);
    assert_eq!(first.send(&mut agent, install(1, &[1]), Some(&stranger)).0, Answer::Error(WireError::BadSignature));
    assert_eq!(first.send(&mut agent, install(1, &[1]), Some(&key)).0, Answer::Slot(slots::Response::Staged { received: 0 }));
    // The other connection: unsigned, its chunks and commit need a signature; signed, the
    // slot is not its to stage; its own session there is refused.
    assert_eq!(second.send(&mut agent, chunk(0, &[1]), None).0, Answer::Error(WireError::SignatureRequired));
    assert_eq!(second.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Error(WireError::SignatureRequired));
    assert_eq!(second.send(&mut agent, chunk(0, &[1]), Some(&key)).0, Answer::Error(WireError::NotStaging));
    assert_eq!(second.send(&mut agent, install(1, &[2]), Some(&key)).0, Answer::Error(WireError::StagingBusy));
    // A chunk for a slot the session is not for.
    let other = Command::Slot { slot: "other".try_into().unwrap(), request: Request::InstallChunk { offset: 0, bytes: Vec::new() } };
    assert_eq!(first.send(&mut agent, other, None).0, Answer::Error(WireError::SignatureRequired));
    // A chunk carrying a bad signature is refused even inside the session.
    assert_eq!(first.send(&mut agent, chunk(0, &[1]), Some(&stranger)).0, Answer::Error(WireError::BadSignature));
    assert_eq!(first.send(&mut agent, chunk(0, &[1]), None).0, Answer::Slot(slots::Response::Staged { received: 1 }));
    assert_eq!(first.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Slot(slots::Response::Installed { module: 1 }));
    let chunks = agent.backend().requests.iter().filter(|(_, request)| matches!(request, Request::InstallChunk { .. })).count();
    assert_eq!(chunks, 1, "only the session's own chunk reached the slot");
}

#[test]
fn a_replayed_install_begin_is_refused_on_the_same_and_on_another_connection() {
    let mut agent = agent();
    let mut first = connect(&mut agent, [1; 32]);
    let command = install(1, &[1]);
    let signature = auth::sign(&operator(), &first.challenge, 0, &command).unwrap();
    let captured = frame::encode(&ClientFrame { counter: 0, command, signature: Some(signature) }).unwrap();
    let (frames, _) = send_bytes(&mut agent, first.id, &captured);
    assert_eq!(frames, [ServerFrame::Answer { counter: 0, answer: Answer::Slot(slots::Response::Staged { received: 0 }) }]);
    first.counter = 1;
    let (frames, _) = send_bytes(&mut agent, first.id, &captured);
    assert_eq!(frames, [ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::Replay { expected: 1, got: 0 }) }]);
    // The first connection goes; its begin replayed on a new connection is not the
    // operator's for that connection, and opens no session there.
    agent.disconnect(first.id);
    let mut second = connect(&mut agent, [2; 32]);
    let (frames, _) = send_bytes(&mut agent, second.id, &captured);
    assert_eq!(frames, [ServerFrame::Answer { counter: 0, answer: Answer::Error(WireError::BadSignature) }]);
    second.counter = 1;
    assert_eq!(second.send(&mut agent, chunk(0, &[1]), None).0, Answer::Error(WireError::SignatureRequired));
    let begins = agent.backend().requests.iter().filter(|(_, request)| matches!(request, Request::InstallBegin { length: 1 })).count();
    assert_eq!(begins, 1);
}

#[test]
fn a_session_whose_connection_goes_or_falls_silent_frees_the_slot() {
    for expire in [false, true] {
        let mut agent = agent();
        let mut first = connect(&mut agent, [1; 32]);
        let mut second = connect(&mut agent, [2; 32]);
        assert!(matches!(first.send(&mut agent, install(2, &[1, 2]), Some(&operator())).0, Answer::Slot(_)));
        assert!(matches!(first.send(&mut agent, chunk(0, &[1]), None).0, Answer::Slot(_)));
        assert_eq!(second.send(&mut agent, install(2, &[1, 2]), Some(&operator())).0, Answer::Error(WireError::StagingBusy));
        if expire {
            // The agent's idle timer (the domain: 60 s of silence) expires the connection.
            let frame: ServerFrame = frame::decode(&agent.expire(first.id)[4..]).unwrap();
            assert_eq!(frame, ServerFrame::Error(WireError::IdleTimeout));
        } else {
            agent.disconnect(first.id);
        }
        assert_eq!(agent.backend().requests.last().unwrap().1, Request::InstallBegin { length: 0 });
        assert!(matches!(second.send(&mut agent, install(2, &[1, 2]), Some(&operator())).0, Answer::Slot(_)));
        assert!(matches!(second.send(&mut agent, chunk(0, &[1, 2]), None).0, Answer::Slot(_)));
        assert_eq!(second.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Slot(slots::Response::Installed { module: 1 }));
    }
}

#[test]
fn an_install_begun_by_a_slot_request_still_needs_every_chunk_signed() {
    let mut agent = agent();
    let mut client = connect(&mut agent, [1; 32]);
    assert!(matches!(client.send(&mut agent, slot(Request::InstallBegin { length: 1 }), Some(&operator())).0, Answer::Slot(_)));
    assert_eq!(client.send(&mut agent, chunk(0, &[1]), None).0, Answer::Error(WireError::SignatureRequired));
    assert!(matches!(client.send(&mut agent, chunk(0, &[1]), Some(&operator())).0, Answer::Slot(_)));
    assert_eq!(client.send(&mut agent, slot(Request::InstallCommit), None).0, Answer::Error(WireError::SignatureRequired));
    assert_eq!(
        client.send(&mut agent, slot(Request::InstallCommit), Some(&operator())).0,
        Answer::Slot(slots::Response::Installed { module: 1 })
    );
}

#[test]
fn frames_split_into_single_bytes_are_served() {
    let mut agent = agent();
    let client = connect(&mut agent, [1; 32]);
    let bytes = frame::encode(&ClientFrame { counter: 0, command: Command::Slots, signature: None }).unwrap();
    let mut answers = 0;
    for byte in bytes.iter() {
        let (frames, flow) = send_bytes(&mut agent, client.id, core::slice::from_ref(byte));
        assert_eq!(flow, Flow::Open);
        answers += frames.len();
        assert_eq!(agent.in_frame(client.id), answers == 0);
    }
    assert_eq!(answers, 1);
}

proptest! {
    /// Any bytes on two connections: no panic, every answer decodes, nothing privileged
    /// reaches the backend without the operator key, and a connection closes only after a
    /// closing error.
    #[test]
    fn hostile_bytes_never_change_the_tile(
        streams in proptest::collection::vec((0usize..2, proptest::collection::vec(any::<u8>(), 0..64)), 0..24),
        framed in proptest::collection::vec((any::<u64>(), any::<u8>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..80)), 0..8),
    ) {
        let mut agent = agent();
        let mut ids = [Some(connect(&mut agent, [1; 32]).id), Some(connect(&mut agent, [2; 32]).id)];
        let mut inputs: StdVec<(usize, StdVec<u8>)> = streams;
        // Well-framed but forged commands (signed by the wrong key, or with junk signatures).
        let stranger = SigningKey::from_bytes(&[7; 32]);
        for (counter, which, number, junk) in framed {
            let request = match which % 5 {
                0 => Request::InstallBegin { length: number },
                1 => Request::InstallChunk { offset: number, bytes: junk.iter().copied().take(64).collect() },
                2 => Request::InstallCommit,
                3 => Request::Promote { module: number, force: which & 1 == 1 },
                _ => Request::Rollback,
            };
            let command = if which % 7 == 6 {
                Command::Install { slot: "checksum".try_into().unwrap(), length: number, sha256: [which; 32] }
            } else {
                slot(request)
            };
            let signature = if which & 8 == 0 {
                auth::sign(&stranger, &[1; 32], counter, &command)
            } else {
                Some(junk.iter().copied().take(64).collect())
            };
            let frame = ClientFrame { counter: counter % 4, command, signature };
            inputs.push(((which as usize) % 2, frame::encode(&frame).unwrap().to_vec()));
        }
        for (which, bytes) in inputs {
            let Some(id) = ids[which] else { continue };
            let mut out = StdVec::new();
            let flow = agent.receive(id, &bytes, &mut |frame: &[u8]| out.push(frame.to_vec()));
            let mut closing = false;
            for frame in &out {
                let decoded: ServerFrame = frame::decode(&frame[4..]).unwrap();
                if let ServerFrame::Error(error) = decoded {
                    closing |= error.closes();
                }
            }
            prop_assert_eq!(flow == Flow::Close, closing);
            if flow == Flow::Close {
                ids[which] = None;
            }
        }
        // InstallBegin { length: 0 } is the agent's own discard, and only follows a begin
        // that got through: none did.
        prop_assert!(agent.backend().requests.is_empty(), "{:?}", agent.backend().requests);
    }
}
