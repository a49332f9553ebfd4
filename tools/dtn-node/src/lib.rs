//! The `tileos-dtn-node` tool as a library: driving sans-IO TCPCLv4 sessions over
//! `std::net` ([`session_io`]), sending bundles over one session ([`transfer`]), a listener
//! with a thread per session ([`serve`]), the store-and-forward node ([`node`]), the loopback
//! benchmark ([`bench`](mod@bench)), DTN time and the JSON form of a received bundle.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod node;
pub mod serve;
pub mod session_io;
pub mod transfer;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tileos_bpv7::{Bundle, CrcType, Eid};

/// Seconds from the Unix epoch to the DTN epoch, 2000-01-01T00:00:00Z (RFC 9171 §4.2.6).
const DTN_EPOCH_UNIX_S: u64 = 946_684_800;

/// The current DTN time in milliseconds, or `None` if the system clock is before 2000.
pub fn dtn_now_ms() -> Option<u64> {
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let ms = u64::try_from(unix.as_millis()).ok()?;
    ms.checked_sub(DTN_EPOCH_UNIX_S * 1000).filter(|&t| t > 0)
}

/// The node ID of endpoint `eid`: `ipn:N.0` for `ipn:N.S`, `dtn://node/` for
/// `dtn://node/service` (RFC 9171 §4.2.5.2). `None` for endpoints without a node (`dtn:none`).
pub fn node_id_of(eid: &Eid) -> Option<Eid> {
    eid.to_node_id().ok().map(Eid::from)
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
/// `payload_utf8` when it is valid UTF-8, otherwise as `payload_base64`; `previous_node` and
/// `hop_count` {`limit`, `count`} when the bundle has those blocks.
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
    if let Ok(Some(node)) = bundle.previous_node() {
        value["previous_node"] = Value::from(node.to_string());
    }
    if let Ok(Some(hops)) = bundle.hop_count() {
        value["hop_count"] = json!({ "limit": hops.limit, "count": hops.count });
    }
    let payload = match std::str::from_utf8(bundle.payload()) {
        Ok(text) => ("payload_utf8", Value::from(text)),
        Err(_) => ("payload_base64", Value::from(base64::engine::general_purpose::STANDARD.encode(bundle.payload()))),
    };
    value[payload.0] = payload.1;
    value
}
