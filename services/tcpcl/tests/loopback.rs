//! Two TCPCLv4 sessions over real loopback TCP (std::net) transfer bundles of 0 B, 1 KiB and
//! 10 MiB, segmented to the receiver's segment MRU.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tileos_tcpcl::{Config, Event, Role, Session, TermReason};

/// Everything one side saw.
#[derive(Default)]
struct Outcome {
    established_with: Option<String>,
    received: Vec<Vec<u8>>,
    acks: Vec<(u64, u64, bool)>,
    closed_error: Option<Option<String>>,
}

/// Drives `session` over `stream` until it closes. When established, sends `bundles`, and
/// when they are all acknowledged ends the session.
fn drive(mut stream: TcpStream, mut session: Session, bundles: Vec<Vec<u8>>) -> Outcome {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    stream.set_read_timeout(Some(Duration::from_millis(5))).expect("timeout");
    let mut out = Outcome::default();
    let mut to_send = Some(bundles);
    let mut buf = vec![0u8; 256 * 1024];
    while !session.is_closed() {
        assert!(start.elapsed() < Duration::from_secs(60), "session took too long");
        // Write a bounded amount, then read, so neither side blocks forever on writes.
        for _ in 0..8 {
            let Some(bytes) = session.poll_transmit() else {
                break;
            };
            stream.write_all(&bytes).expect("write");
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Established(peer) => {
                    out.established_with = Some(peer.node_id);
                    for bundle in to_send.take().unwrap_or_default() {
                        session.send_bundle(bundle).expect("queue bundle");
                    }
                }
                Event::BundleReceived { data, .. } => out.received.push(data),
                Event::TransferAcked { transfer_id, acked, complete } => {
                    out.acks.push((transfer_id, acked, complete));
                    if complete && session.is_idle() {
                        session.terminate(TermReason::Unknown);
                    }
                }
                Event::Closed { error } => out.closed_error = Some(error.map(|e| e.to_string())),
                Event::Terminated { reason, .. } => assert_eq!(reason, TermReason::Unknown),
                other => panic!("unexpected event {other:?}"),
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => session.receive_eof(),
            Ok(n) => session.receive(&buf[..n], now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        session.tick(now());
    }
    while let Some(bytes) = session.poll_transmit() {
        stream.write_all(&bytes).expect("final write");
    }
    while let Some(event) = session.poll_event() {
        if let Event::Closed { error } = event {
            out.closed_error = Some(error.map(|e| e.to_string()));
        }
    }
    out
}

#[test]
fn bundles_of_0_b_1_kib_and_10_mib_cross_loopback_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let passive = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut config = Config::new("ipn:2.0");
        config.segment_mru = 16 * 1024;
        config.transfer_mru = 16 * 1024 * 1024;
        drive(stream, Session::new(Role::Passive, config, 0), Vec::new())
    });

    let bundles: Vec<Vec<u8>> = vec![
        Vec::new(),
        (0..1024u32).map(|i| (i * 7) as u8).collect(),
        (0..10 * 1024 * 1024u32).map(|i| (i ^ (i >> 8) ^ (i >> 16)) as u8).collect(),
    ];
    let stream = TcpStream::connect(addr).expect("connect");
    let mut config = Config::new("ipn:1.0");
    config.max_send_segment = 1024 * 1024; // the peer's 16 KiB MRU must be the limit
    let active = drive(stream, Session::new(Role::Active, config, 0), bundles.clone());
    let passive = passive.join().expect("passive side");

    assert_eq!(active.established_with.as_deref(), Some("ipn:2.0"));
    assert_eq!(passive.established_with.as_deref(), Some("ipn:1.0"));
    assert_eq!(passive.received.len(), 3);
    for (got, want) in passive.received.iter().zip(&bundles) {
        assert!(got == want, "bundle of {} bytes corrupted", want.len());
    }
    // One cumulative acknowledgement per segment: 1 + 1 + 10 MiB / 16 KiB.
    let acks_for = |id: u64| active.acks.iter().filter(|a| a.0 == id).collect::<Vec<_>>();
    assert_eq!(acks_for(0), vec![&(0, 0, true)]);
    assert_eq!(acks_for(1), vec![&(1, 1024, true)]);
    let big = acks_for(2);
    assert_eq!(big.len(), 640);
    for (i, ack) in big.iter().enumerate() {
        assert_eq!(ack.1, (i as u64 + 1) * 16 * 1024);
        assert_eq!(ack.2, i == 639);
    }
    assert_eq!(active.closed_error, Some(None), "active side closes cleanly");
    assert_eq!(passive.closed_error, Some(None), "passive side closes cleanly");
}
