//! `tilectl` against a fake tile: the real agent session logic (`tileos_tilectl_wire`)
//! served over TCP on localhost, with a fake slot backend that keeps a real update log
//! signed with the development log key. No QEMU.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use heapless::Vec as HVec;
use tileos_protocol::slots::{self, RefusalKind, Refused, Request, Response};
use tileos_protocol::twin::{self, Alarm, Bearing, Feature, MinuteAggregate, Summary, Thermal, ThermalLevel, WearAlarm};
use tileos_protocol::{supervisor, telemetry};
use tileos_tilectl_wire::session::{Agent, Backend, BackendError};
use tileos_tilectl_wire::{MAX_SLOTS, SlotName, dev_keys};
use tileos_update_log::{EventKind, ModuleRef, SigningKey, UpdateEvent, UpdateLog};

/// The fake tile's state, shared with the test.
#[derive(Default)]
struct Tile {
    log: UpdateLog,
    staged: Vec<u8>,
    staging_length: u32,
    installed: Vec<Vec<u8>>,
    promoted: Option<u32>,
    serving: u32,
    /// Whether the agent has a twin capability.
    twin: bool,
}

struct Fake(Arc<Mutex<Tile>>);

fn event(kind: EventKind, module: &str) -> UpdateEvent {
    UpdateEvent {
        kind,
        timestamp_ms: 1_000,
        slot: "checksum".into(),
        module: module.into(),
        version: "1.0.0".into(),
        content_hash: [7; 32],
        note: String::new(),
    }
}

fn refused(kind: RefusalKind, reason: &str) -> Response {
    Response::Refused(Refused { kind, reason: reason.try_into().unwrap() })
}

impl Backend for Fake {
    fn slot_names(&self) -> HVec<SlotName, MAX_SLOTS> {
        HVec::from_slice(&["checksum".try_into().unwrap()]).unwrap()
    }

    fn slot(&mut self, slot: &str, request: &Request) -> Result<Response, BackendError> {
        assert_eq!(slot, "checksum");
        let mut tile = self.0.lock().unwrap();
        let log_key = SigningKey::from_bytes(&dev_keys::LOG_SEED);
        Ok(match request {
            Request::Status => Response::Status(slots::SlotStatus {
                name: "checksum".try_into().unwrap(),
                serving: tile.serving,
                modules: HVec::from_slice(&[slots::ModuleStatus {
                    module: 0,
                    name: "checksum-v1".try_into().unwrap(),
                    state: "settled".try_into().unwrap(),
                    seat: 0,
                    agreeing: 0,
                    disagreeing: 0,
                    timeouts: 0,
                    faults: 0,
                    mean_latency: 0,
                }])
                .unwrap(),
                installed: tile.installed.len() as u64,
                rejected: 0,
                promoted: 0,
                rolled_back: 0,
                requests: 42,
                timeouts: 0,
                log_size: tile.log.size(),
                replayed: 0,
                replay_disagreed: 0,
            }),
            Request::InstallBegin { length } => {
                tile.staged.clear();
                tile.staging_length = *length;
                Response::Staged { received: 0 }
            }
            Request::InstallChunk { offset, bytes } => {
                if *offset as usize != tile.staged.len() {
                    return Ok(refused(RefusalKind::Staging, "chunk out of order"));
                }
                tile.staged.extend_from_slice(bytes);
                Response::Staged { received: tile.staged.len() as u32 }
            }
            Request::InstallCommit => {
                if tile.staged.len() != tile.staging_length as usize {
                    return Ok(refused(RefusalKind::Staging, "commit before the last chunk"));
                }
                if tile.staged.starts_with(b"BAD") {
                    return Ok(refused(RefusalKind::Bundle, "bundle signature does not verify"));
                }
                let bundle = std::mem::take(&mut tile.staged);
                tile.installed.push(bundle);
                tile.log.append(&event(EventKind::Install, "checksum-fast")).unwrap();
                Response::Installed { module: tile.installed.len() as u32 }
            }
            Request::Promote { module, .. } => {
                if *module as usize > tile.installed.len() || *module == 0 {
                    return Ok(refused(RefusalKind::NotFound, "no such module"));
                }
                tile.promoted = Some(*module);
                tile.serving = *module;
                tile.log.append(&event(EventKind::Promote, "checksum-fast")).unwrap();
                Response::Promoted { module: *module }
            }
            Request::Rollback => match tile.promoted.take() {
                None => refused(RefusalKind::Policy, "nothing to roll back"),
                Some(_) => {
                    tile.serving = 0;
                    tile.log.append(&event(EventKind::Rollback, "checksum-fast")).unwrap();
                    Response::RolledBack { module: 0 }
                }
            },
            Request::LogHead => {
                let head = tile.log.signed_tree_head(5_000, &log_key);
                Response::Head(slots::SignedHead {
                    tree_size: head.head.tree_size,
                    timestamp_ms: head.head.timestamp_ms,
                    root: head.head.root_hash,
                    signature: HVec::from_slice(&head.signature).unwrap(),
                })
            }
            Request::LogEntry { index } => match tile.log.entry(*index) {
                Some(bytes) => Response::Entry { bytes: HVec::from_slice(bytes).unwrap() },
                None => refused(RefusalKind::NotFound, "no such entry"),
            },
            Request::LogInclusion { index, tree_size } => {
                assert_eq!(*tree_size, tile.log.size(), "the fake proves against its current size only");
                let proof = tile.log.prove_inclusion(*index).unwrap();
                Response::Proof { hashes: HVec::from_slice(&proof.path).unwrap() }
            }
            Request::LogConsistency { old_size, new_size } => {
                assert_eq!(*new_size, tile.log.size());
                let proof = tile.log.prove_consistency(*old_size).unwrap();
                Response::Proof { hashes: HVec::from_slice(&proof.path).unwrap() }
            }
        })
    }

    fn domains(&mut self, first: u16) -> Result<supervisor::Response, BackendError> {
        // Ten domains: two pages.
        let names = ["console", "pci", "nvme", "net", "netstack", "store", "checksum", "checksum.manager", "update-agent", "echo"];
        let domains = names
            .iter()
            .enumerate()
            .skip(usize::from(first))
            .take(supervisor::MAX_STATUS)
            .map(|(index, name)| supervisor::DomainStatus {
                name: (*name).try_into().unwrap(),
                state: if index == 9 { supervisor::State::GivenUp } else { supervisor::State::Running },
                generation: index as u64,
                restarts: 0,
            })
            .collect();
        Ok(supervisor::Response::Status { total: names.len() as u16, domains })
    }

    fn telemetry(&mut self, first: u16) -> Result<telemetry::Response, BackendError> {
        // Six domains: two pages; "console" reports no latencies.
        let names = ["console", "telemetry", "spin", "drifter", "steady", "hostile"];
        let domains = names
            .iter()
            .enumerate()
            .skip(usize::from(first))
            .take(telemetry::MAX_FIGURES)
            .map(|(index, name)| telemetry::DomainFigures {
                name: (*name).try_into().unwrap(),
                reporter: index != 0,
                calls: 100 * index as u64,
                p50_ticks: 2047,
                p99_ticks: 131_071,
                max_ticks: 262_143,
                faults: 0,
                restarts: u64::from(index == 3),
                cpu_ticks: 40,
                cpu_cycles: 200_000_000,
                power_mw: 900,
                alarms: supervisor::RaisedAlarms::default(),
            })
            .collect();
        let units = telemetry::Units { tsc_per_ms: 1_000_000, tick_us: 5000, uptime_ms: 2000 };
        Ok(telemetry::Response::Figures { total: names.len() as u16, units, domains })
    }

    fn twin(&mut self, request: &twin::Request) -> Result<twin::Response, BackendError> {
        if !self.0.lock().unwrap().twin {
            return Err(BackendError::NoTwin);
        }
        let wear = WearAlarm {
            trigger: Feature::FaultBand,
            raised_ms: 90_000,
            onset_ms: 60_000,
            cusum: [1.0, 2.0, 0.0, 12.5],
            z: [0.5, 1.0, 0.0, 4.0],
        };
        let thermal = Thermal { level: ThermalLevel::Throttle, trend_c_per_s: Some(0.25), time_to_limit_s: Some(40.0) };
        Ok(match request {
            twin::Request::State => {
                let summary = |mean: f64| Summary { count: 240, mean, min: mean - 0.5, max: mean + 0.5 };
                twin::Response::State(twin::State {
                    readings: 5000,
                    windows: 90,
                    stale: false,
                    last_minute: Some(MinuteAggregate {
                        minute: 7,
                        temperature_c: summary(81.0),
                        power_w: summary(140.0),
                        flow_l_min: summary(1.2),
                        vibration_rms_g: summary(0.3),
                        fault_band_g: summary(0.1),
                        presence_share: 0.25,
                    }),
                    history_minutes: 7,
                    thermal,
                    bearing: Bearing::Worn(wear),
                    exports_open: true,
                    compute: Some(twin::Compute {
                        uptime_ms: 60_000,
                        domains: 12,
                        reporters: 3,
                        calls: 4200,
                        faults: 1,
                        restarts: 0,
                        load_permille: 350,
                        power_mw: 9150,
                        slowest: Some(twin::Slowest { domain: "store".try_into().unwrap(), p99_us: 2048 }),
                        drifting_domains: 1,
                        drifting: HVec::from_slice(&[twin::Drifting {
                            domain: "checksum-client".try_into().unwrap(),
                            metrics: HVec::from_slice(&[supervisor::ImmuneMetric::SlotDisagreement]).unwrap(),
                        }])
                        .unwrap(),
                    }),
                })
            }
            twin::Request::Alarms => {
                twin::Response::Alarms(HVec::from_slice(&[Alarm::BearingWear(wear), Alarm::Thermal(thermal)]).unwrap())
            }
            _ => twin::Response::Refused(twin::Error::Internal),
        })
    }
}

/// A fake tile on a free localhost port.
fn fake_tile() -> (String, Arc<Mutex<Tile>>) {
    let tile = Arc::new(Mutex::new(Tile::default()));
    let agent = Arc::new(Mutex::new(Agent::new(Fake(tile.clone()), dev_keys::operator_public())));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || tileos_tilectl_wire::host::serve(listener, agent));
    (address, tile)
}

fn tilectl(tile: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tilectl")).arg("--tile").arg(tile).arg("--timeout").arg("10").args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn ok(output: Output) -> String {
    assert!(output.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", output.status.code(), stdout(&output), stderr(&output));
    stdout(&output)
}

#[track_caller]
fn fails(output: Output, code: i32, words: &str) {
    assert_eq!(output.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", stdout(&output), stderr(&output));
    assert!(stderr(&output).contains(words), "stderr lacks {words:?}:\n{}", stderr(&output));
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tilectl-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bundle(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn status_lists_every_domain_and_slot_in_text_and_json() {
    let (tile, _) = fake_tile();
    let text = ok(tilectl(&tile, &["status"]));
    assert!(text.starts_with("domains (10):\n"), "{text}");
    assert!(text.contains("  echo                     givenup    generation 9    restarts 0\n"), "{text}");
    assert!(
        text.contains(
            "slot checksum: module 0 serving; installed 0, rejected 0, promoted 0, rolled back 0; 42 requests, 0 timeouts; log of 0 entries"
        ),
        "{text}"
    );
    assert!(text.contains("  module 0   checksum-v1              settled     seat 0"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(tilectl(&tile, &["--json", "status"]))).unwrap();
    assert_eq!(json["domains"].as_array().unwrap().len(), 10);
    assert_eq!(json["domains"][9]["state"], "GivenUp");
    assert_eq!(json["slots"][0]["name"], "checksum");
    assert_eq!(json["slots"][0]["requests"], 42);
}

#[test]
fn telemetry_lists_every_domains_figures_in_text_and_json() {
    let (tile, _) = fake_tile();
    let text = ok(tilectl(&tile, &["telemetry"]));
    assert!(text.starts_with("telemetry of 6 domains (uptime 2000 ms;"), "{text}");
    assert!(text.contains("  console                           -          -          -       0        0        200      900\n"), "{text}");
    assert!(text.contains("  drifter                         300        2.0      131.1       0        1        200      900\n"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(tilectl(&tile, &["--json", "telemetry"]))).unwrap();
    assert_eq!(json["domains"].as_array().unwrap().len(), 6);
    assert_eq!(json["domains"][3]["name"], "drifter");
    assert_eq!(json["domains"][3]["p99_ticks"], 131_071);
    assert_eq!(json["domains"][0]["reporter"], false);
    assert_eq!(json["units"]["tsc_per_ms"], 1_000_000);
}

#[test]
fn twin_shows_the_state_and_alarms_in_text_and_json_and_names_a_missing_capability() {
    let (tile, state) = fake_tile();
    fails(tilectl(&tile, &["twin"]), 1, "the agent has no twin capability (client endpoint \"twin\")");
    state.lock().unwrap().twin = true;
    let text = ok(tilectl(&tile, &["twin"]));
    assert_eq!(
        text,
        "bearing: WORN (fault-band raised the alarm at 90000 ms; onset estimated at 60000 ms)\n\
         thermal: THROTTLE, trend +0.2500 °C/s, limit in 40 s\n\
         minute 7: 81.0 °C (80.5–81.5), 140 W, 1.20 L/min, vibration 0.300 g RMS, presence 25 %\n\
         readings 5000, vibration windows 90, sensors fresh, history 7 min, exports open\n\
         compute: load 35.0 %, 12 domains (3 reporting), 4200 calls, 1 faults, 0 restarts, ~9150 mW (model); slowest p99 store 2048 µs\n\
         drift alarms: 1 domain(s): checksum-client (SlotDisagreement)\n\
         alarm: bearing wear (fault-band), CUSUM [1.0, 2.0, 0.0, 12.5], z [0.5, 1.0, 0.0, 4.0]\n\
         alarm: thermal THROTTLE\n"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(tilectl(&tile, &["--json", "twin"]))).unwrap();
    assert_eq!(json["state"]["windows"], 90);
    assert_eq!(json["state"]["thermal"]["level"], "Throttle");
    assert_eq!(json["state"]["bearing"]["Worn"]["trigger"], "FaultBand");
    assert_eq!(json["alarms"].as_array().unwrap().len(), 2);
    assert_eq!(json["state"]["compute"]["load_permille"], 350);
    assert_eq!(json["state"]["compute"]["drifting"][0]["domain"], "checksum-client");
    assert_eq!(json["state"]["compute"]["drifting"][0]["metrics"][0], "SlotDisagreement");
}

#[test]
fn install_promote_rollback_with_the_operator_key() {
    let (tile, state) = fake_tile();
    let dir = temp("install");
    // Three chunks and a bit.
    let bytes: Vec<u8> = (0..(3 * slots::MAX_CHUNK + 100)).map(|index| index as u8).collect();
    let file = bundle(&dir, "fast.bundle", &bytes);
    let text = ok(tilectl(&tile, &["--dev-key", "install", &file, "--slot", "checksum"]));
    assert!(text.contains(&format!("slot checksum: {file} ({} bytes) installed as module 1, shadowing", bytes.len())), "{text}");
    assert_eq!(state.lock().unwrap().installed, [bytes]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(tilectl(&tile, &["--dev-key", "--json", "promote", "--slot", "checksum", "1"]))).unwrap();
    assert_eq!(json, serde_json::json!({ "slot": "checksum", "promoted": 1 }));
    let text = ok(tilectl(&tile, &["--dev-key", "rollback", "--slot", "checksum"]));
    assert_eq!(text, "slot checksum: rolled back, module 0 serves again\n");
    // The slot's refusals come back in its words, exit code 1.
    fails(
        tilectl(&tile, &["--dev-key", "rollback", "--slot", "checksum"]),
        1,
        "slot checksum refused the rollback: Policy: nothing to roll back",
    );
    fails(tilectl(&tile, &["--dev-key", "promote", "--slot", "checksum", "7"]), 1, "NotFound: no such module");
    let bad = bundle(&dir, "bad.bundle", b"BAD bundle");
    fails(
        tilectl(&tile, &["--dev-key", "install", &bad, "--slot", "checksum"]),
        1,
        "refused the install's commit: Bundle: bundle signature does not verify",
    );
    fails(tilectl(&tile, &["--dev-key", "rollback", "--slot", "nope"]), 1, "the agent refused: no such slot");
}

#[test]
fn changes_need_the_operator_key_and_a_wrong_key_is_refused_by_the_tile() {
    let (tile, state) = fake_tile();
    let dir = temp("keys");
    let file = bundle(&dir, "fast.bundle", b"bundle bytes");
    fails(tilectl(&tile, &["install", &file, "--slot", "checksum"]), 2, "give the operator key");
    // Another key, as hex.
    let stranger = dir.join("stranger.key");
    std::fs::write(&stranger, "11".repeat(32) + "\n").unwrap();
    fails(tilectl(&tile, &["--key", stranger.to_str().unwrap(), "install", &file, "--slot", "checksum"]), 1, "bad signature");
    fails(tilectl(&tile, &["--key", stranger.to_str().unwrap(), "promote", "--slot", "checksum", "1"]), 1, "bad signature");
    assert!(state.lock().unwrap().installed.is_empty());
    // The operator key as a raw seed file works.
    let operator = dir.join("operator.key");
    std::fs::write(&operator, dev_keys::OPERATOR_SEED).unwrap();
    ok(tilectl(&tile, &["--key", operator.to_str().unwrap(), "install", &file, "--slot", "checksum"]));
    // A key file of the wrong shape is a usage error.
    let junk = dir.join("junk.key");
    std::fs::write(&junk, "not a key").unwrap();
    fails(tilectl(&tile, &["--key", junk.to_str().unwrap(), "status"]), 2, "neither 32 raw bytes nor 64 hex digits");
    // Reads need no key.
    ok(tilectl(&tile, &["status"]));
}

#[test]
fn log_verify_checks_signature_inclusion_and_consistency() {
    let (tile, state) = fake_tile();
    let dir = temp("log");
    let heads = dir.join("heads.json");
    let heads = heads.to_str().unwrap();
    let file = bundle(&dir, "fast.bundle", b"bundle bytes");
    // An empty log verifies.
    let text = ok(tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]));
    assert!(text.contains("update log of 0 entries"), "{text}");
    ok(tilectl(&tile, &["--dev-key", "install", &file, "--slot", "checksum"]));
    ok(tilectl(&tile, &["--dev-key", "promote", "--slot", "checksum", "1"]));
    ok(tilectl(&tile, &["--dev-key", "install", &file, "--slot", "checksum"]));
    let text = ok(tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]));
    assert!(text.contains("update log of 3 entries"), "{text}");
    assert!(text.contains("(signature verified)"), "{text}");
    assert!(text.contains("     0 install  checksum checksum-fast 1.0.0 at 1000 ms, content 0707"), "{text}");
    assert!(text.contains("     1 promote  checksum checksum-fast"), "{text}");
    assert!(text.contains("consistency: extends the head of 0 entries verified before"), "{text}");
    // Once more at the same size, then grown by one.
    ok(tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]));
    ok(tilectl(&tile, &["--dev-key", "rollback", "--slot", "checksum"]));
    let json: serde_json::Value =
        serde_json::from_str(&ok(tilectl(&tile, &["--dev-key", "--json", "log", "--slot", "checksum", "--verify", "--state", heads])))
            .unwrap();
    assert_eq!(json["tree_size"], 4);
    assert_eq!(json["verified"], true);
    assert_eq!(json["consistency"], serde_json::json!({ "previous_size": 3 }));
    assert_eq!(json["entries"][3]["kind"], "Rollback");
    // Without --verify nothing is checked, and the state file is not needed.
    let text = ok(tilectl(&tile, &["log", "--slot", "checksum"]));
    assert!(text.contains("(not verified: --verify)"), "{text}");
    // --verify without a log key is a usage error.
    fails(tilectl(&tile, &["log", "--slot", "checksum", "--verify", "--state", heads]), 2, "--log-key");
    // Another log key: the signature fails.
    let other = dir.join("other.pub");
    std::fs::write(&other, SigningKey::from_bytes(&[3; 32]).verifying_key().as_bytes()).unwrap();
    fails(
        tilectl(&tile, &["log", "--slot", "checksum", "--verify", "--log-key", other.to_str().unwrap(), "--state", heads]),
        4,
        "is not the log key's",
    );
    // The right log key as a file verifies.
    let right = dir.join("log.pub");
    std::fs::write(&right, dev_keys::log_public().as_bytes()).unwrap();
    ok(tilectl(&tile, &["log", "--slot", "checksum", "--verify", "--log-key", right.to_str().unwrap(), "--state", heads]));
    // The tile rewrites its history (same signing key, different entries): the consistency
    // check with the head verified before fails.
    {
        let mut tile = state.lock().unwrap();
        tile.log = UpdateLog::new();
        for module in ["evil-1", "evil-2", "evil-3", "evil-4", "evil-5"] {
            tile.log.append(&event(EventKind::Install, module)).unwrap();
        }
    }
    fails(
        tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]),
        4,
        "is not consistent with the head of 4 entries",
    );
    // And a log that shrank.
    state.lock().unwrap().log = UpdateLog::new();
    fails(tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]), 4, "the log shrank");
    // A fresh state file accepts it (trust on first use), which the output says.
    let fresh = dir.join("fresh.json");
    let text = ok(tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", fresh.to_str().unwrap()]));
    assert!(text.contains("first head verified for this log"), "{text}");
}

fn lineage_entry(lineage: u8, dissents: u32, replaced: &str, at: u64) -> UpdateEvent {
    UpdateEvent {
        kind: EventKind::LineageReplaced {
            lineage,
            dissents,
            replaced: ModuleRef { module: replaced.into(), version: String::new(), content_hash: [0; 32] },
        },
        timestamp_ms: at,
        content_hash: [0; 32],
        version: String::new(),
        note: format!("lineage {lineage} dissented {dissents} times"),
        ..event(EventKind::Install, "checksum-fast")
    }
}

fn restart_entry(generation: u64, reloaded: u64, at: u64) -> UpdateEvent {
    UpdateEvent {
        kind: EventKind::ManagerStarted { generation, reloaded, seats: 4 },
        timestamp_ms: at,
        ..event(EventKind::Install, "checksum-v1")
    }
}

/// Replaces the fake tile's log with `events` (and raw entries appended after them).
fn set_log(state: &Arc<Mutex<Tile>>, events: &[UpdateEvent], raw: &[Vec<u8>]) {
    let mut tile = state.lock().unwrap();
    tile.log = UpdateLog::new();
    for event in events {
        tile.log.append(event).unwrap();
    }
    for entry in raw {
        tile.log.append_entry(entry.clone()).unwrap();
    }
}

#[test]
fn log_prints_and_verifies_lineage_replacements_and_manager_restarts() {
    let (tile, state) = fake_tile();
    let dir = temp("lineage");
    let heads = dir.join("heads.json");
    let heads = heads.to_str().unwrap();
    set_log(
        &state,
        &[event(EventKind::Install, "checksum-fast"), lineage_entry(2, 501, "checksum-wrong", 2_000), restart_entry(1, 2, 3_000)],
        &[],
    );
    let text = ok(tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]));
    assert!(
        text.contains(&format!(
            "     1 lineage-replaced checksum checksum-fast  at 2000 ms, content {zero}, lineage 2 after 501 dissents, replaced checksum-wrong  content {zero}: lineage 2 dissented 501 times",
            zero = "00".repeat(32)
        )),
        "{text}"
    );
    assert!(text.contains("     2 manager-started checksum checksum-v1 1.0.0 at 3000 ms"), "{text}");
    assert!(text.contains(", generation 1, 2 entries reloaded, 4 seats"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(tilectl(&tile, &["--dev-key", "--json", "log", "--slot", "checksum", "--verify", "--state", heads])))
            .unwrap();
    assert_eq!(json["entries"][1]["kind"], "LineageReplaced");
    assert_eq!(json["entries"][1]["lineage"], 2);
    assert_eq!(json["entries"][1]["dissents"], 501);
    assert_eq!(json["entries"][1]["replaced"]["module"], "checksum-wrong");
    assert_eq!(json["entries"][2]["kind"], "ManagerStarted");
    assert_eq!(json["entries"][2]["reloaded"], 2);
    // The lineage entry forged after its head was verified (501 dissents made 5): the tile
    // re-signs, but the head is not consistent with the one verified before.
    set_log(
        &state,
        &[event(EventKind::Install, "checksum-fast"), lineage_entry(2, 5, "checksum-wrong", 2_000), restart_entry(1, 2, 3_000)],
        &[],
    );
    fails(
        tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]),
        4,
        "the head of 3 entries is not consistent with the head of 3 entries verified before",
    );
}

#[test]
fn log_verify_refuses_replayed_and_impossible_entries_naming_the_entry() {
    let (tile, state) = fake_tile();
    let dir = temp("replayed");
    let verify = |state_file: &str| {
        let path = dir.join(state_file);
        tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", path.to_str().unwrap()])
    };
    let replacement = lineage_entry(2, 501, "checksum-wrong", 2_000);
    // A copy appended after a later entry: the log clock goes back.
    set_log(&state, &[replacement.clone(), restart_entry(1, 1, 3_000), replacement.clone()], &[]);
    fails(
        verify("a.json"),
        4,
        "entry 2 (lineage-replaced) is stamped 2000 ms, before entry 1's 3000 ms: the log clock never goes back (a replayed or reordered entry)",
    );
    // A copy next to its original.
    set_log(&state, &[replacement.clone(), replacement.clone()], &[]);
    fails(
        verify("b.json"),
        4,
        "entry 1 (lineage-replaced) repeats entry 0: lineage 2's checksum-wrong replaced at 2000 ms twice (a replayed entry)",
    );
    // A lineage that does not exist, no dissents, a nameless module.
    set_log(&state, &[lineage_entry(7, 501, "checksum-wrong", 2_000)], &[]);
    fails(verify("c.json"), 4, "entry 0 (lineage-replaced): lineage 7 does not exist (a slot has lineages 0 to 2)");
    set_log(&state, &[lineage_entry(1, 0, "checksum-wrong", 2_000)], &[]);
    fails(verify("d.json"), 4, "entry 0 (lineage-replaced): 0 dissents");
    set_log(&state, &[lineage_entry(1, 3, "", 2_000)], &[]);
    fails(verify("e.json"), 4, "entry 0 (lineage-replaced): the replaced module or the fallback has no name");
    // A restart entry replayed (it says it reloaded 1 entry, but is entry 2), or of generation 0.
    set_log(&state, &[event(EventKind::Install, "checksum-fast"), restart_entry(1, 1, 3_000), restart_entry(1, 1, 3_000)], &[]);
    fails(verify("f.json"), 4, "entry 2 (manager-started) says 1 entries were reloaded before it, but it is entry 2");
    set_log(&state, &[restart_entry(0, 0, 3_000)], &[]);
    fails(verify("g.json"), 4, "entry 0 (manager-started): generation 0 with no promotion before it");
    // A boot's entry (generation 0) after a promotion verifies.
    set_log(
        &state,
        &[event(EventKind::Install, "checksum-fast"), event(EventKind::Promote, "checksum-fast"), restart_entry(0, 2, 3_000)],
        &[],
    );
    let text = ok(verify("g2.json"));
    assert!(text.contains(", generation 0, 2 entries reloaded, 4 seats"), "{text}");
    // An entry of another slot.
    set_log(&state, &[UpdateEvent { slot: "other".into(), ..replacement.clone() }], &[]);
    fails(verify("h.json"), 4, "entry 0 names slot \"other\", not \"checksum\"");
    // The same log without --verify is printed, not judged.
    ok(tilectl(&tile, &["log", "--slot", "checksum"]));
}

#[test]
fn tilectl_reports_malformed_entries_and_verify_refuses_them() {
    let (tile, state) = fake_tile();
    let dir = temp("malformed");
    let heads = dir.join("heads.json");
    let heads = heads.to_str().unwrap();
    let good = lineage_entry(2, 501, "checksum-wrong", 2_000).encode().unwrap();
    let mut old_format = good.clone();
    old_format[0] = 1;
    let mut unknown = good.clone();
    unknown[0] = 9;
    let mut variant = good.clone();
    variant[1] = 0x7f;
    let mut cut = good.clone();
    cut.truncate(good.len() / 2);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("a new kind under format byte 1", old_format, "entry is not canonically encoded"),
        ("an unknown format", unknown, "unknown entry format 9"),
        ("an unknown kind", variant, "malformed entry"),
        ("a cut entry", cut, "malformed entry"),
        ("an empty entry", Vec::new(), "empty entry"),
    ];
    for (what, bytes, error) in cases {
        set_log(&state, &[event(EventKind::Install, "checksum-fast")], std::slice::from_ref(&bytes));
        let text = ok(tilectl(&tile, &["log", "--slot", "checksum"]));
        assert!(text.contains(&format!("     1 undecodable entry of {} bytes: {error}", bytes.len())), "{what}: {text}");
        let json: serde_json::Value = serde_json::from_str(&ok(tilectl(&tile, &["--json", "log", "--slot", "checksum"]))).unwrap();
        assert_eq!(json["entries"][1]["error"], error, "{what}");
        let _ = std::fs::remove_file(heads);
        fails(
            tilectl(&tile, &["--dev-key", "log", "--slot", "checksum", "--verify", "--state", heads]),
            4,
            &format!("entry 1 does not decode: {error}"),
        );
    }
}

#[test]
fn an_unreachable_tile_is_a_connection_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    fails(tilectl(&address, &["status"]), 3, &address);
}

#[test]
fn hostile_bytes_on_one_connection_leave_the_agent_serving_others() {
    use tileos_tilectl_wire::host::Client;
    use tileos_tilectl_wire::{ServerFrame, WireError};
    let (tile, _) = fake_tile();
    let timeout = std::time::Duration::from_secs(10);
    let mut hostile = Client::connect(&tile, None, timeout).unwrap();
    hostile.write_raw(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(hostile.read_server_frame().unwrap(), ServerFrame::Error(WireError::Malformed));
    hostile.write_raw(&[0x80, 0, 0, 0]).unwrap();
    assert_eq!(
        hostile.read_server_frame().unwrap(),
        ServerFrame::Error(WireError::BadLength { length: 0x8000_0000, max: tileos_tilectl_wire::MAX_FRAME as u32 })
    );
    assert!(hostile.read_server_frame().is_err(), "closed after a bad length");
    ok(tilectl(&tile, &["status"]));
}
