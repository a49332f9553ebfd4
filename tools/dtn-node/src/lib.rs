//! Shared parts of the `tileos-dtn-node` tool: driving a sans-IO TCPCLv4 session over a
//! `std::net::TcpStream`, DTN time, and the JSON form of a received bundle.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tileos_bpv7::{Bundle, CrcType};
use tileos_tcpcl::{Event, Session, SessionError};

/// Seconds from the Unix epoch to the DTN epoch, 2000-01-01T00:00:00Z (RFC 9171 §4.2.6).
const DTN_EPOCH_UNIX_S: u64 = 946_684_800;

/// The current DTN time in milliseconds, or `None` if the system clock is before 2000.
pub fn dtn_now_ms() -> Option<u64> {
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let ms = u64::try_from(unix.as_millis()).ok()?;
    ms.checked_sub(DTN_EPOCH_UNIX_S * 1000).filter(|&t| t > 0)
}

/// Runs `session` over `stream` until the session closes, handing every event to `on_event`
/// (which may queue bundles or terminate the session). Fails with `TimedOut` if `deadline`
/// passes first. Returns the session's closing error, if any.
pub fn run_session(
    mut stream: TcpStream,
    mut session: Session,
    deadline: Option<Instant>,
    mut on_event: impl FnMut(&mut Session, Event) -> io::Result<()>,
) -> io::Result<Option<SessionError>> {
    let start = Instant::now();
    let now = |start: Instant| u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    stream.set_read_timeout(Some(Duration::from_millis(5)))?;
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut closing = None;
    loop {
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(io::Error::new(ErrorKind::TimedOut, "session did not finish in time"));
        }
        // A bounded number of writes per round, so reading is never starved.
        for _ in 0..8 {
            let Some(bytes) = session.poll_transmit() else {
                break;
            };
            stream.write_all(&bytes)?;
        }
        while let Some(event) = session.poll_event() {
            if let Event::Closed { error } = &event {
                closing = Some(error.clone());
            }
            on_event(&mut session, event)?;
        }
        if let Some(error) = closing {
            while let Some(bytes) = session.poll_transmit() {
                stream.write_all(&bytes)?;
            }
            return Ok(error);
        }
        match stream.read(&mut buf) {
            Ok(0) => session.receive_eof(),
            Ok(n) => session.receive(&buf[..n], now(start)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => session.receive_eof(),
            Err(e) => return Err(e),
        }
        session.tick(now(start));
    }
}

/// Name of a CRC type as printed in JSON.
pub fn crc_name(crc: CrcType) -> &'static str {
    match crc {
        CrcType::None => "none",
        CrcType::Crc16X25 => "crc16-x25",
        CrcType::Crc32C => "crc32c",
    }
}

/// One JSON object with the primary block fields and the payload of `bundle`: the payload as
/// `payload_utf8` when it is valid UTF-8, otherwise as `payload_base64`.
pub fn bundle_json(bundle: &Bundle) -> Value {
    let mut value = json!({
        "version": 7,
        "flags": bundle.flags,
        "destination": bundle.destination.to_string(),
        "source": bundle.source.to_string(),
        "report_to": bundle.report_to.to_string(),
        "creation_timestamp": {
            "time_ms": bundle.creation.time_ms,
            "sequence": bundle.creation.sequence,
        },
        "lifetime_ms": bundle.lifetime_ms,
        "crc_type": crc_name(bundle.crc_type),
        "payload_length": bundle.payload().len(),
    });
    let payload = match std::str::from_utf8(bundle.payload()) {
        Ok(text) => ("payload_utf8", Value::from(text)),
        Err(_) => ("payload_base64", Value::from(base64::engine::general_purpose::STANDARD.encode(bundle.payload()))),
    };
    value[payload.0] = payload.1;
    value
}
