//! What the lab reads from a tile: the bundles delivered to it and its replicated state.
//!
//! [`StateReader`] hides where that comes from. [`SpoolReader`] reads a host node's
//! `delivered/` directory (one JSON file per delivered bundle, written durably by
//! `tileos-dtn-node node`); its replicated state is the set of the lab's update bundles it
//! received (see `lab.rs`: an update is a bundle to every tile, so the state is a grow-only
//! set carried by store-and-forward). [`SerialLogReader`] reads a QEMU tile's serial log:
//! the federation domain's event lines, in the format this module defines (docs/federation.md,
//! "The tile lab"):
//!
//! ```text
//! @event fed.delivered id=3 source=ipn:101.1 time=786000000123 seq=4 previous=ipn:100.0 service=1 held=0 bytes=14 fnv=… hex=… payload=lab-send:101:4
//! @event fed.state node=101 digest=0x5e1c0a2b00000000 modules=0 counters=8 registers=2
//! ```
//!
//! `fed.delivered`: one per bundle delivered at the tile (`previous` is the previous-node
//! block's node, `-` without one; `payload` the payload if it is short printable text
//! without spaces, else `-`). `fed.state`: when the replicated state changed (checked every
//! 250 ms), a digest of its canonical encoding; tiles with equal digests hold equal states.
//! A QEMU tile's state items are its registers (the lab's updates write one per key).
//! `fed.replication node= messages= bytes= full_bytes= received=`: when they changed (checked
//! every 250 ms), the replication messages and payload bytes the tile sent since it booted,
//! and what full-state synchronisation would have sent in the same rounds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The identity of a bundle: source, creation time, sequence number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleKey {
    /// Source endpoint ID.
    pub source: String,
    /// Creation time (DTN ms).
    pub time_ms: u64,
    /// Creation sequence number.
    pub sequence: u64,
}

/// A bundle delivered at a tile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Which bundle.
    pub key: BundleKey,
    /// The previous node (the last hop), if the bundle named one.
    pub previous_node: Option<String>,
    /// The payload, if text.
    pub payload: Option<String>,
    /// When it was delivered (file time) or first seen by the lab.
    pub at: Option<SystemTime>,
}

/// A QEMU tile's replication counters (`fed.replication`), summed over its boots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicationReading {
    /// When the lab first saw the line.
    pub at: Option<SystemTime>,
    /// Replication messages sent.
    pub messages: u64,
    /// Their payload bytes (delta-intervals and acknowledgements).
    pub bytes: u64,
    /// What full-state synchronisation would have sent in the same rounds.
    pub full_bytes: u64,
}

/// What a tile holds, as read now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TileState {
    /// Every delivery (a bundle delivered twice appears twice).
    pub delivered: Vec<Delivered>,
    /// Its replicated state in a comparable form (`None`: not known yet).
    pub state: Option<String>,
    /// How many items the replicated state holds, if known.
    pub state_items: Option<usize>,
    /// Replication counters as logged, oldest first (QEMU tiles only).
    pub replication: Vec<ReplicationReading>,
}

impl TileState {
    /// The last replication reading the lab had seen by `at` (zero if none).
    pub fn replication_at(&self, at: SystemTime) -> ReplicationReading {
        self.replication.iter().rev().find(|r| r.at.is_some_and(|seen| seen <= at)).copied().unwrap_or_default()
    }
}

/// Reads a tile's state. Implementations cache what they parsed: the lab reads often.
pub trait StateReader: Send + Sync {
    /// The state now.
    fn read(&self) -> Result<TileState, String>;
}

/// Payload prefix of the lab's update bundles: `lab-update:ORIGIN:KEY=VALUE`.
pub const UPDATE_PREFIX: &str = "lab-update:";

/// A host node's `SPOOL/delivered/` directory.
pub struct SpoolReader {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Delivered>>,
}

impl SpoolReader {
    /// Reads the deliveries of the node whose spool is `spool`.
    pub fn new(spool: &Path) -> SpoolReader {
        SpoolReader { dir: spool.join("delivered"), cache: Mutex::new(HashMap::new()) }
    }
}

/// Parses one delivered-bundle JSON object (tileos_dtn_node::bundle_json's form).
pub fn parse_delivered_json(text: &str, at: Option<SystemTime>) -> Result<Delivered, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let source = v["source"].as_str().ok_or("no source")?.to_string();
    let time_ms = v["creation_timestamp"]["time_ms"].as_u64().ok_or("no creation_timestamp.time_ms")?;
    let sequence = v["creation_timestamp"]["sequence"].as_u64().ok_or("no creation_timestamp.sequence")?;
    Ok(Delivered {
        key: BundleKey { source, time_ms, sequence },
        previous_node: v["previous_node"].as_str().map(str::to_string),
        payload: v["payload_utf8"].as_str().map(str::to_string),
        at,
    })
}

/// The replicated state carried by update bundles: the sorted set of their payloads, as one
/// string, and its size.
pub fn update_set(delivered: &[Delivered]) -> (String, usize) {
    let set: BTreeSet<&str> = delivered.iter().filter_map(|d| d.payload.as_deref()).filter(|p| p.starts_with(UPDATE_PREFIX)).collect();
    (set.iter().copied().collect::<Vec<_>>().join(" "), set.len())
}

impl StateReader for SpoolReader {
    fn read(&self) -> Result<TileState, String> {
        let mut cache = self.cache.lock().map_err(|_| "state cache poisoned".to_string())?;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TileState { state: Some(String::new()), state_items: Some(0), ..TileState::default() });
            }
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") || cache.contains_key(&name) {
                continue;
            }
            let at = entry.metadata().and_then(|m| m.modified()).ok();
            let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
            let delivered = parse_delivered_json(&text, at).map_err(|e| format!("{}: {e}", entry.path().display()))?;
            cache.insert(name, delivered);
        }
        let delivered: Vec<Delivered> = cache.values().cloned().collect();
        let (state, items) = update_set(&delivered);
        Ok(TileState { delivered, state: Some(state), state_items: Some(items), ..TileState::default() })
    }
}

/// A QEMU tile's serial log: the federation domain's `fed.delivered` and `fed.state` lines.
pub struct SerialLogReader {
    logs: Vec<PathBuf>,
    /// Deliveries seen so far and when the lab first saw each line (by line number).
    seen: Mutex<BTreeMap<usize, SystemTime>>,
}

impl SerialLogReader {
    /// Reads the files `logs` one after the other (the serial log of earlier boots, then
    /// the running boot's).
    pub fn new(logs: &[PathBuf]) -> SerialLogReader {
        SerialLogReader { logs: logs.to_vec(), seen: Mutex::new(BTreeMap::new()) }
    }
}

/// The fields of an `@event NAME k=v …` line, if it is event `name`.
pub fn event_fields<'a>(line: &'a str, name: &str) -> Option<BTreeMap<&'a str, &'a str>> {
    let rest = line.split("@event ").nth(1)?;
    let mut words = rest.split_whitespace();
    if words.next()? != name {
        return None;
    }
    Some(words.filter_map(|w| w.split_once('=')).collect())
}

/// Parses serial log `text` into a tile state; `when(line_number)` gives each delivery's and
/// replication reading's time. The replication counters start at zero on every boot: a
/// reading lower than the one before starts a new boot, whose counts are added to the last
/// reading of the boots before (what a boot sent after its last line is not counted).
pub fn parse_serial_log(text: &str, mut when: impl FnMut(usize) -> Option<SystemTime>) -> TileState {
    let mut state = TileState::default();
    let (mut base, mut last) = (ReplicationReading::default(), ReplicationReading::default());
    for (number, line) in text.lines().enumerate() {
        if let Some(f) = event_fields(line, "fed.delivered") {
            let (Some(source), Some(time), Some(seq)) = (f.get("source"), f.get("time"), f.get("seq")) else { continue };
            let (Ok(time_ms), Ok(sequence)) = (time.parse(), seq.parse()) else { continue };
            let text_field = |k: &str| f.get(k).filter(|v| **v != "-").map(|v| v.to_string());
            state.delivered.push(Delivered {
                key: BundleKey { source: source.to_string(), time_ms, sequence },
                previous_node: text_field("previous"),
                payload: text_field("payload"),
                at: when(number),
            });
        } else if let Some(f) = event_fields(line, "fed.state") {
            if let Some(digest) = f.get("digest") {
                state.state = Some(digest.to_string());
                state.state_items = f.get("registers").and_then(|v| v.parse::<usize>().ok());
            }
        } else if let Some(f) = event_fields(line, "fed.replication") {
            let number_of = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
            let (Some(messages), Some(bytes), Some(full_bytes)) = (number_of("messages"), number_of("bytes"), number_of("full_bytes"))
            else {
                continue;
            };
            if bytes < last.bytes || full_bytes < last.full_bytes || messages < last.messages {
                base = ReplicationReading {
                    at: None,
                    messages: base.messages + last.messages,
                    bytes: base.bytes + last.bytes,
                    full_bytes: base.full_bytes + last.full_bytes,
                };
            }
            last = ReplicationReading { at: None, messages, bytes, full_bytes };
            state.replication.push(ReplicationReading {
                at: when(number),
                messages: base.messages + messages,
                bytes: base.bytes + bytes,
                full_bytes: base.full_bytes + full_bytes,
            });
        }
    }
    state
}

impl StateReader for SerialLogReader {
    fn read(&self) -> Result<TileState, String> {
        let mut text = String::new();
        for log in &self.logs {
            match std::fs::read(log) {
                Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", log.display())),
            }
        }
        let mut seen = self.seen.lock().map_err(|_| "serial cache poisoned".to_string())?;
        let now = SystemTime::now();
        Ok(parse_serial_log(&text, |n| Some(*seen.entry(n).or_insert(now))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_event_lines_give_deliveries_and_the_state_digest() {
        let log = "boot\n\
            federation: delivered a bundle\n\
            @event fed.delivered source=ipn:101.1 time=5 seq=4 previous=ipn:100.0 payload=lab-send:101:4\n\
            @event fed.state node=101 digest=0x11 modules=3 counters=8 registers=1\n\
            @event fed.delivered source=ipn:1.7 time=6 seq=0 previous=- payload=-\n\
            @event fed.state node=101 digest=0x22 modules=3 counters=8 registers=2\n\
            @event fed.delivered source=broken\n\
            @event fed.replication node=101 messages=2 bytes=100 full_bytes=300 received=1\n\
            @event fed.replication node=101 messages=5 bytes=250 full_bytes=900 received=3\n\
            @event fed.replication node=101 messages=1 bytes=40 full_bytes=200 received=0\n\
            @event fed.replication node=101 messages=x\n";
        let state = parse_serial_log(log, |n| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(n as u64)));
        assert_eq!(state.delivered.len(), 2);
        assert_eq!(state.delivered[0].key, BundleKey { source: "ipn:101.1".into(), time_ms: 5, sequence: 4 });
        assert_eq!(state.delivered[0].previous_node.as_deref(), Some("ipn:100.0"));
        assert_eq!(state.delivered[0].payload.as_deref(), Some("lab-send:101:4"));
        assert_eq!(state.delivered[1].previous_node, None);
        assert_eq!(state.delivered[1].at, Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(4)));
        assert_eq!(state.state.as_deref(), Some("0x22"));
        assert_eq!(state.state_items, Some(2));
        assert_eq!(event_fields("x @event fed.state a=1", "fed.stat"), None);
        // The third reading is a new boot: its counts add to the last of the boot before.
        let totals: Vec<(u64, u64, u64)> = state.replication.iter().map(|r| (r.messages, r.bytes, r.full_bytes)).collect();
        assert_eq!(totals, [(2, 100, 300), (5, 250, 900), (6, 290, 1100)]);
        let at = |line: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(line);
        assert_eq!(state.replication_at(at(6)).bytes, 0, "nothing seen before line 7");
        assert_eq!(state.replication_at(at(7)).bytes, 100);
        assert_eq!(state.replication_at(at(8)).bytes, 250);
        assert_eq!(state.replication_at(at(100)).full_bytes, 1100);
    }

    #[test]
    fn the_serial_reader_reads_a_log_file_and_remembers_first_sight() {
        let dir = std::env::temp_dir().join(format!("tile-lab-serial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("serial.log");
        let reader = SerialLogReader::new(&[log.clone(), dir.join("serial.part")]);
        assert_eq!(reader.read().unwrap(), TileState::default());
        std::fs::write(&log, "@event fed.delivered source=ipn:2.1 time=1 seq=0 previous=ipn:3.0 payload=x\n").unwrap();
        let first = reader.read().unwrap();
        let again = reader.read().unwrap();
        assert_eq!(first.delivered[0].at, again.delivered[0].at);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_spool_reader_parses_delivered_json_files() {
        let dir = std::env::temp_dir().join(format!("tile-lab-spool-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("delivered")).unwrap();
        let reader = SpoolReader::new(&dir);
        let one = r#"{"source":"ipn:101.7","creation_timestamp":{"time_ms":9,"sequence":2},"previous_node":"ipn:100.0","payload_utf8":"lab-update:101:k=v"}"#;
        let two = r#"{"source":"ipn:1.7","creation_timestamp":{"time_ms":9,"sequence":3},"payload_utf8":"lab-update:1:a=b"}"#;
        let three = r#"{"source":"ipn:1.1","creation_timestamp":{"time_ms":9,"sequence":4},"payload_base64":"AAE="}"#;
        for (i, text) in [one, two, three].iter().enumerate() {
            std::fs::write(dir.join("delivered").join(format!("{i}.json")), text).unwrap();
        }
        let state = reader.read().unwrap();
        assert_eq!(state.delivered.len(), 3);
        assert_eq!(state.state.as_deref(), Some("lab-update:101:k=v lab-update:1:a=b"));
        assert_eq!(state.state_items, Some(2));
        std::fs::write(dir.join("delivered").join("bad.json"), "{").unwrap();
        assert!(reader.read().unwrap_err().contains("bad.json: not JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
