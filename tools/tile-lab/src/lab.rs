//! Running a scenario: relays for every link direction, a process per tile, the timeline,
//! the observations and the report.
//!
//! Bundles: a `send` event makes the lab open a TCPCL session (as node `ipn:LAB_NODE.0`) to
//! the source tile's listener and hand it `count` bundles from `ipn:FROM.1` to `ipn:TO.1`;
//! a bundle counts as *sent* once the source tile acknowledged it (it then holds custody). An
//! `update` event on a host node sends `lab-update:NODE:KEY=VALUE` from `ipn:NODE.7` to
//! `ipn:T.7` of every tile `T` (itself included): the replicated state of a host node is the
//! set of update payloads delivered to it, a grow-only set carried by store-and-forward, and
//! the tiles have converged when every tile holds every update. On a QEMU tile an `update`
//! is one bundle `KEY=VALUE` from `ipn:LAB_NODE.9` to the tile's local service 9, which its
//! update agent applies to the federation's replicated state (`FederatedState`: register
//! `KEY`); replication carries it to every tile, and the state is read from the serial log
//! (`state.rs`): converged when every tile's digest is the same and holds a register per
//! key.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tileos_bpv7::{Bundle, CreationTimestamp, Eid};
use tileos_dtn_node::node::Route;

use crate::relay::{LinkState, Relay};
use crate::scenario::{EventKind, Scenario};
use crate::state::{BundleKey, TileState, UPDATE_PREFIX};
use crate::tiles::{HostNode, QemuImages, QemuTile, Tile};
use crate::tiletoml::{HostAddress, TCPCL_PORT, UPDATE_SERVICE, federation_table, node_config, tile_description, with_lab_neighbour};
use crate::topology::Topology;

/// The node number the lab uses in its own TCPCL sessions.
pub const LAB_NODE: u32 = 9_999;

/// How often the lab reads every tile's state.
const OBSERVE_EVERY: Duration = Duration::from_millis(100);

/// What kind of process each tile is.
#[derive(Clone, Debug)]
pub enum TileKind {
    /// `tileos-dtn-node`'s node, run by `program host-node …`.
    Host {
        /// This crate's binary (`tileos-tile-lab`).
        program: PathBuf,
    },
    /// A QEMU tile.
    Qemu(QemuSetup),
}

/// What QEMU tiles need.
#[derive(Clone, Debug)]
pub struct QemuSetup {
    /// Kernel and root server.
    pub images: QemuImages,
    /// The tile.toml template (without `[federation]`).
    pub template: String,
    /// Where imagebuild finds the programs (`build/target-test/release`).
    pub program_dir: PathBuf,
}

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// Host nodes or QEMU tiles.
    pub kind: TileKind,
    /// Total tiles (`None`: as the scenario says).
    pub tiles: Option<u32>,
    /// Working directory (emptied first): a directory per tile with its spool or disk and log.
    pub work_dir: PathBuf,
    /// Print each timeline line to standard output as it happens.
    pub live: bool,
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    /// ms after the start.
    pub at_ms: u64,
    /// What happened.
    pub text: String,
}

/// Per-tile figures.
#[derive(Clone, Debug, PartialEq)]
pub struct TileReport {
    /// Name.
    pub name: String,
    /// Node number.
    pub node: u32,
    /// Role name.
    pub role: String,
    /// Bundles the lab handed it that it acknowledged.
    pub sent: usize,
    /// Bundles handed to it that it did not acknowledge (down, or refused).
    pub unacknowledged: usize,
    /// Distinct bundles delivered to it.
    pub delivered: usize,
    /// Deliveries of a bundle already delivered.
    pub duplicates: usize,
    /// Bundles it acknowledged as source that never reached their destination.
    pub lost: usize,
    /// Times it was killed and started again.
    pub reboots: usize,
    /// Items of its replicated state at the end.
    pub state_items: Option<usize>,
}

/// Per-link figures.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkReport {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Light time at the end.
    pub owlt_ms: u64,
    /// Connections forwarded (both directions).
    pub contacts: u64,
    /// Connections refused while cut.
    pub refused: u64,
    /// Connections broken by loss.
    pub broken_by_loss: u64,
    /// Bytes forwarded a→b (both connection directions of the relay from a, and of b's
    /// back traffic).
    pub bytes: u64,
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckResult {
    /// Which check.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// Figures behind it.
    pub detail: String,
}

/// Convergence after the last heal.
#[derive(Clone, Debug, PartialEq)]
pub struct Convergence {
    /// When the last link was restored (0 if none was).
    pub heal_ms: u64,
    /// When every tile held the same state (and every update), for good.
    pub converged_ms: Option<u64>,
    /// Contacts from the heal to convergence.
    pub contacts_after_heal: Option<u64>,
}

/// Replication on QEMU tiles from the last heal to convergence, summed over the tiles (their
/// `fed.replication` lines): what delta anti-entropy sent, and what full-state
/// synchronisation would have sent in the same rounds.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicationFigures {
    /// The scenario's updates (each converged).
    pub updates: usize,
    /// Replication messages sent (delta-intervals and acknowledgements).
    pub messages: u64,
    /// Their payload bytes.
    pub delta_bytes: u64,
    /// The encoded state, once per neighbour per round.
    pub full_bytes: u64,
}

impl ReplicationFigures {
    /// Delta payload bytes per converged update.
    pub fn delta_per_update(&self) -> f64 {
        self.delta_bytes as f64 / self.updates.max(1) as f64
    }

    /// Full-state bytes per converged update.
    pub fn full_per_update(&self) -> f64 {
        self.full_bytes as f64 / self.updates.max(1) as f64
    }
}

/// Everything a run found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// `host` or `qemu`.
    pub kind: String,
    /// How long the run took from the start of the timeline.
    pub duration_ms: u64,
    /// How long starting the tiles took.
    pub startup_ms: u64,
    /// The timeline.
    pub timeline: Vec<TimelineEntry>,
    /// Per tile.
    pub tiles: Vec<TileReport>,
    /// Per link.
    pub links: Vec<LinkReport>,
    /// Bundles the lab handed to sources and they acknowledged.
    pub bundles_sent: usize,
    /// Of those, delivered at their destination.
    pub bundles_delivered: usize,
    /// Delivery latency (send event to delivery): min, median, max ms.
    pub latency_ms: Option<(u64, u64, u64)>,
    /// Time from the last heal to the last delivery of a bundle sent before it.
    pub heal_to_last_delivery_ms: Option<u64>,
    /// Contacts in all.
    pub contacts: u64,
    /// Convergence, when the scenario has updates or a convergence check.
    pub convergence: Option<Convergence>,
    /// Replication bytes from the last heal to convergence (QEMU tiles that converged).
    pub replication: Option<ReplicationFigures>,
    /// Per `send` event: how fast its bundles arrived.
    pub sends: Vec<SendReport>,
    /// The checks.
    pub checks: Vec<CheckResult>,
}

/// One `send` event's bundles: from the event to the last delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct SendReport {
    /// Source tile.
    pub from: String,
    /// Destination tile.
    pub to: String,
    /// Bundles handed to the source.
    pub count: usize,
    /// Payload bytes of each.
    pub payload_bytes: usize,
    /// When the lab started handing them over (ms after the start).
    pub sent_ms: u64,
    /// When the lab saw the last of them delivered, if all were.
    pub all_delivered_ms: Option<u64>,
}

impl SendReport {
    /// Bundles per second from the send event to the last delivery (lab → source with
    /// custody, then every hop with custody, to the destination), if all arrived.
    pub fn bundles_per_second(&self) -> Option<f64> {
        let ms = self.all_delivered_ms?.saturating_sub(self.sent_ms).max(1);
        Some(self.count as f64 * 1000.0 / ms as f64)
    }
}

impl Report {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// A bundle the lab handed to a source tile.
#[derive(Clone, Debug)]
struct Sent {
    from: usize,
    to: usize,
    key: BundleKey,
    payload_bytes: usize,
    sent_ms: u64,
    acked: bool,
    expect_via: Option<String>,
    update: bool,
}

enum Action {
    Scenario(EventKind),
    LinkWindow { link: usize, up: bool },
    Start(usize),
}

struct Lab<'s> {
    scenario: &'s Scenario,
    topology: Topology,
    links: Vec<Arc<LinkState>>,
    relays: Vec<[Relay; 2]>,
    tiles: Vec<Box<dyn Tile>>,
    start: Instant,
    timeline: Vec<TimelineEntry>,
    live: bool,
    sent: Arc<Mutex<Vec<Sent>>>,
    sends_in_flight: Arc<AtomicUsize>,
    sequence: Arc<AtomicU64>,
    reboots: Vec<usize>,
    updates_issued: usize,
    /// The keys the updates wrote (QEMU tiles hold one register per key).
    update_keys: BTreeSet<String>,
    host_state: bool,
    startup_ms: u64,
}

fn role_name(role: tileos_federation::Role) -> &'static str {
    match role {
        tileos_federation::Role::Tile => "tile",
        tileos_federation::Role::Pod => "pod",
        tileos_federation::Role::Hub => "hub",
        tileos_federation::Role::Regional => "regional",
    }
}

impl Lab<'_> {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn note(&mut self, text: String) {
        let at_ms = self.now_ms();
        if self.live {
            println!("{}", timeline_line(at_ms, &text));
        }
        self.timeline.push(TimelineEntry { at_ms, text });
    }

    fn contacts(&self) -> u64 {
        self.relays.iter().flatten().map(|r| r.stats.contacts.load(Ordering::Relaxed)).sum()
    }

    fn link_name(&self, link: usize) -> String {
        let l = &self.topology.links[link];
        format!("{}–{}", self.topology.tiles[l.a].name, self.topology.tiles[l.b].name)
    }

    fn spawn_send(&mut self, from: usize, bundles: Vec<(usize, Bundle, bool)>, expect_via: Option<String>) -> Result<(), String> {
        let sent_ms = self.now_ms();
        let addr = self.tiles[from].listen_addr();
        let first = {
            let mut sent = self.sent.lock().map_err(|_| "poisoned")?;
            let first = sent.len();
            for (to, bundle, update) in &bundles {
                sent.push(Sent {
                    from,
                    to: *to,
                    key: BundleKey {
                        source: bundle.source.to_string(),
                        time_ms: bundle.creation.time_ms,
                        sequence: bundle.creation.sequence,
                    },
                    payload_bytes: bundle.payload().len(),
                    sent_ms,
                    acked: false,
                    expect_via: expect_via.clone(),
                    update: *update,
                });
            }
            first
        };
        let encoded = bundles
            .iter()
            .map(|(_, b, _)| b.encode().map_err(|e| format!("cannot encode a bundle: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let (sent, in_flight) = (self.sent.clone(), self.sends_in_flight.clone());
        in_flight.fetch_add(1, Ordering::SeqCst);
        let lab = ipn(LAB_NODE, 0);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let _ = tileos_dtn_node::transfer::send_bundles(&addr, &lab, encoded, deadline, |i| {
                if let Ok(mut sent) = sent.lock() {
                    sent[first + i].acked = true;
                }
            });
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
        Ok(())
    }

    fn bundle(&self, source: u32, service: u32, dest: u32, payload: Vec<u8>) -> Result<Bundle, String> {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        Bundle::builder(ipn(source, service), ipn(dest, service))
            .creation(CreationTimestamp { time_ms: tileos_dtn_node::dtn_now_ms().unwrap_or(0), sequence })
            .lifetime_ms(3_600_000)
            .bundle_age_ms(0)
            .payload(payload)
            .build()
            .map_err(|e| format!("cannot build a bundle: {e}"))
    }

    fn perform(
        &mut self,
        action: Action,
        queue: &mut BinaryHeap<Reverse<(u64, u64, usize)>>,
        pending: &mut Vec<Option<Action>>,
    ) -> Result<(), String> {
        match action {
            Action::Scenario(kind) => match kind {
                EventKind::Cut { a, b } => {
                    let link = self.topology.link(&a, &b)?;
                    let closed = self.links[link].cut();
                    self.note(format!("cut {} (closed {closed} open connection(s))", self.link_name(link)));
                }
                EventKind::Restore { a, b } => {
                    let link = self.topology.link(&a, &b)?;
                    self.links[link].restore();
                    self.note(format!("restore {}", self.link_name(link)));
                }
                EventKind::Delay { a, b, owlt_ms } => {
                    let link = self.topology.link(&a, &b)?;
                    self.links[link].set_owlt_ms(owlt_ms);
                    self.note(format!("delay {}: one-way light time {owlt_ms} ms", self.link_name(link)));
                }
                EventKind::Loss { a, b, rate } => {
                    let link = self.topology.link(&a, &b)?;
                    self.links[link].set_loss(rate);
                    self.note(format!("loss {}: {:.1} % of chunks break their contact", self.link_name(link), rate * 100.0));
                }
                EventKind::Reboot { tile, down_ms } => {
                    let t = self.topology.tile(&tile)?;
                    let held = self.tiles[t].reader().read().map(|s| s.delivered.len()).unwrap_or(0);
                    let spooled = spool_count(&self.tiles[t].log());
                    self.tiles[t].kill()?;
                    self.reboots[t] += 1;
                    self.note(format!(
                        "reboot {tile}: killed (SIGKILL) holding {spooled} acknowledged bundle(s) in its spool, {held} delivered to it"
                    ));
                    let at = self.now_ms() + down_ms;
                    pending.push(Some(Action::Start(t)));
                    queue.push(Reverse((at, pending.len() as u64, pending.len() - 1)));
                }
                EventKind::Send { from, to, count, size, expect_via } => {
                    let (f, t) = (self.topology.tile(&from)?, self.topology.tile(&to)?);
                    let (fnode, tnode) = (self.topology.tiles[f].node, self.topology.tiles[t].node);
                    let mut bundles = Vec::new();
                    for _ in 0..count {
                        let mut payload = format!("lab-send:{fnode}:{}:", self.sequence.load(Ordering::SeqCst)).into_bytes();
                        payload.resize((size as usize).max(payload.len()), b'x');
                        bundles.push((t, self.bundle(fnode, 1, tnode, payload)?, false));
                    }
                    let via = match &expect_via {
                        Some(v) => Some(format!("ipn:{}.0", self.topology.tiles[self.topology.tile(v)?].node)),
                        None => None,
                    };
                    self.spawn_send(f, bundles, via)?;
                    self.note(format!("send {count} × {size} B {from} → {to}"));
                }
                EventKind::Update { tile, key, value } => {
                    let t = self.topology.tile(&tile)?;
                    self.updates_issued += 1;
                    self.update_keys.insert(key.clone());
                    if !self.host_state {
                        // A QEMU tile's update agent applies it to the replicated state (a
                        // register write), which replication carries to every tile.
                        let node = self.topology.tiles[t].node;
                        let bundle = self.bundle(LAB_NODE, UPDATE_SERVICE, node, format!("{key}={value}").into_bytes())?;
                        self.spawn_send(t, vec![(t, bundle, true)], None)?;
                        self.note(format!("update {tile}: {key}={value} (a bundle to its update agent; replication does the rest)"));
                        return Ok(());
                    }
                    let node = self.topology.tiles[t].node;
                    let payload = format!("{UPDATE_PREFIX}{node}:{key}={value}");
                    let mut bundles = Vec::new();
                    for d in 0..self.topology.tiles.len() {
                        bundles.push((d, self.bundle(node, 7, self.topology.tiles[d].node, payload.clone().into_bytes())?, true));
                    }
                    self.spawn_send(t, bundles, None)?;
                    self.note(format!("update {tile}: {key}={value} (a bundle to each of {} tiles)", self.topology.tiles.len()));
                }
            },
            Action::LinkWindow { link, up } => {
                if up {
                    self.links[link].restore();
                    self.note(format!("contact window opens: {}", self.link_name(link)));
                } else {
                    self.links[link].cut();
                    self.note(format!("contact window closes: {}", self.link_name(link)));
                }
            }
            Action::Start(t) => {
                let reload_lines = |tile: &dyn Tile| -> Vec<String> {
                    let log = std::fs::read_to_string(tile.log()).unwrap_or_default();
                    log.lines().filter(|l| l.starts_with("reloaded ")).map(|l| l.split(" from ").next().unwrap_or(l).to_string()).collect()
                };
                let before = reload_lines(self.tiles[t].as_ref()).len();
                let started = Instant::now();
                self.tiles[t].start()?;
                let listen_ms = started.elapsed().as_millis();
                // A host node says what it reloaded ("reloaded N bundle(s) from …"), just
                // after it starts listening.
                let mut reloaded = None;
                while self.host_state && reloaded.is_none() && started.elapsed() < Duration::from_secs(2) {
                    reloaded = reload_lines(self.tiles[t].as_ref()).get(before).cloned();
                    std::thread::sleep(Duration::from_millis(5));
                }
                let name = self.topology.tiles[t].name.clone();
                match reloaded {
                    Some(line) => self.note(format!("reboot {name}: started again on its spool ({listen_ms} ms to listen; it {line})")),
                    None => self.note(format!("reboot {name}: started again ({listen_ms} ms)")),
                }
            }
        }
        Ok(())
    }
}

fn ipn(node: u32, service: u32) -> Eid {
    format!("ipn:{node}.{service}").parse().unwrap_or(Eid::Null)
}

/// Bundles waiting in a host node's spool queue (`log` is `DIR/node.log`; the queue is
/// `DIR/spool/queue`); 0 for other tiles.
/// Bundles a tile holds: a host node's spool queue files, or for a QEMU tile the last
/// `spooled=` of its federation domain's `fed.status` lines (logged at most once a second,
/// so up to a second old) in the running boot's serial output.
fn spool_count(log: &Path) -> usize {
    let queue = log.with_file_name("spool").join("queue");
    if queue.exists() {
        return std::fs::read_dir(queue)
            .map_or(0, |d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".bundle")).count());
    }
    let serial = std::fs::read(log.with_file_name("serial.part")).unwrap_or_default();
    let text = String::from_utf8_lossy(&serial);
    text.lines()
        .rev()
        .find_map(|line| crate::state::event_fields(line, "fed.status").and_then(|f| f.get("spooled").and_then(|v| v.parse().ok())))
        .unwrap_or(0)
}

/// `t+  12.345 s  text`.
pub fn timeline_line(at_ms: u64, text: &str) -> String {
    format!("t+{:>4}.{:03} s  {text}", at_ms / 1000, at_ms % 1000)
}

/// Builds QEMU tile `name`'s archive from `description` with tools/imagebuild.
fn build_archive(description: &Path, program_dir: &Path, out: &Path) -> Result<(), String> {
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--quiet", "-p", "tileos-imagebuild", "--"])
        .arg(description)
        .arg("--program-dir")
        .arg(program_dir)
        .arg("-o")
        .arg(out)
        .status()
        .map_err(|e| format!("cannot run imagebuild: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("imagebuild failed on {} ({status})", description.display())) }
}

/// Runs `scenario` and reports what happened. Every tile process is killed before it
/// returns, whatever the outcome.
pub fn run(scenario: &Scenario, options: &LabOptions) -> Result<Report, String> {
    let topology = Topology::build(scenario, options.tiles)?;
    let work = &options.work_dir;
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| format!("cannot empty {}: {e}", work.display()))?;
    }
    std::fs::create_dir_all(work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let setup = Instant::now();
    // The tiles' ports stay bound until the relays have theirs, so that no relay takes one.
    let held: Vec<std::net::TcpListener> = (0..topology.tiles.len())
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}")))
        .collect::<Result<_, _>>()?;
    let ports: Vec<u16> = held.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    let links: Vec<Arc<LinkState>> = topology
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| LinkState::new(l.props.start_ms == 0, l.props.owlt_ms, l.props.loss, scenario.lab.seed.wrapping_add(i as u64)))
        .collect();
    let mut relays = Vec::new();
    for (i, l) in topology.links.iter().enumerate() {
        let from_a = Relay::start(0, format!("127.0.0.1:{}", ports[l.b]), links[i].clone())?;
        let from_b = Relay::start(0, format!("127.0.0.1:{}", ports[l.a]), links[i].clone())?;
        relays.push([from_a, from_b]);
    }
    let relay_port = |link: usize, from_a: bool| relays[link][usize::from(!from_a)].port;
    let mut tiles: Vec<Box<dyn Tile>> = Vec::new();
    for (t, spec) in topology.tiles.iter().enumerate() {
        let dir = work.join(spec.name.replace('/', "-"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        match &options.kind {
            TileKind::Host { program } => {
                let config = node_config(&topology, t, HostAddress::Loopback, &relay_port)?;
                let routes = config
                    .routes
                    .iter()
                    .map(|r| {
                        let addr = config.neighbours.iter().find(|n| n.node == r.via).map(|n| n.address.clone()).unwrap_or_default();
                        Route { pattern: r.pattern.clone(), addr }
                    })
                    .collect();
                tiles.push(Box::new(HostNode::new(program.clone(), &spec.name, spec.node, ports[t], dir, routes)));
            }
            TileKind::Qemu(q) => {
                let config = with_lab_neighbour(node_config(&topology, t, HostAddress::QemuUserNet, &relay_port)?, LAB_NODE)?;
                let table = federation_table(&config, "federation", "store", TCPCL_PORT);
                let description = tile_description(&q.template, &format!("lab-{}", spec.name.replace('/', "-")), &table)?;
                let path = dir.join("tile.toml");
                std::fs::write(&path, description).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let archive = dir.join("tile.archive");
                build_archive(&path, &q.program_dir, &archive)?;
                tiles.push(Box::new(QemuTile::new(&spec.name, ports[t], dir, q.images.clone(), archive, scenario.lab.memory_mib)));
            }
        }
    }
    drop(held);
    for tile in &mut tiles {
        tile.start()?;
    }
    let startup_ms = setup.elapsed().as_millis() as u64;
    let host_state = matches!(options.kind, TileKind::Host { .. });
    let reboots = vec![0; tiles.len()];
    let mut lab = Lab {
        scenario,
        topology,
        links,
        relays,
        tiles,
        start: Instant::now(),
        timeline: Vec::new(),
        live: options.live,
        sent: Arc::new(Mutex::new(Vec::new())),
        sends_in_flight: Arc::new(AtomicUsize::new(0)),
        sequence: Arc::new(AtomicU64::new(0)),
        reboots,
        updates_issued: 0,
        update_keys: BTreeSet::new(),
        host_state,
        startup_ms,
    };
    let start_system = SystemTime::now();
    lab.note(format!(
        "{} {} tile(s) up, {} link(s), {} relay(s) ({} ms to start)",
        lab.topology.tiles.len(),
        if host_state { "host-node" } else { "QEMU" },
        lab.topology.links.len(),
        2 * lab.topology.links.len(),
        startup_ms
    ));
    let result = observe(&mut lab, start_system);
    for tile in &mut lab.tiles {
        let _ = tile.kill();
    }
    result
}

/// The timeline loop and the report.
fn observe(lab: &mut Lab, start_system: SystemTime) -> Result<Report, String> {
    let scenario = lab.scenario;
    let mut pending: Vec<Option<Action>> = Vec::new();
    let mut queue = BinaryHeap::new();
    for event in &scenario.events {
        pending.push(Some(Action::Scenario(event.kind.clone())));
        queue.push(Reverse((event.at_ms, pending.len() as u64, pending.len() - 1)));
    }
    for (i, l) in lab.topology.links.iter().enumerate() {
        if l.props.start_ms > 0 {
            pending.push(Some(Action::LinkWindow { link: i, up: true }));
            queue.push(Reverse((l.props.start_ms, pending.len() as u64, pending.len() - 1)));
        }
        if let Some(end) = l.props.end_ms {
            pending.push(Some(Action::LinkWindow { link: i, up: false }));
            queue.push(Reverse((end, pending.len() as u64, pending.len() - 1)));
        }
    }
    let want_convergence = scenario.check.converge_within_contacts.is_some()
        || scenario.check.converge_within_contacts_per_link.is_some()
        || scenario.check.converge_within_ms.is_some();
    let mut heal: (u64, u64) = (0, 0);
    let mut converged: Option<(u64, u64)> = None;
    let mut delivered_seen: HashMap<usize, usize> = HashMap::new();
    let mut all_delivered_noted = false;
    let mut states: Vec<TileState>;
    let mut died: Vec<String> = Vec::new();
    loop {
        let now = lab.now_ms();
        while let Some(Reverse((at, _, index))) = queue.peek().copied() {
            if at > now {
                break;
            }
            queue.pop();
            if let Some(action) = pending[index].take() {
                let heals = matches!(action, Action::Scenario(EventKind::Restore { .. }) | Action::LinkWindow { up: true, .. });
                let updates = matches!(action, Action::Scenario(EventKind::Update { .. }));
                lab.perform(action, &mut queue, &mut pending)?;
                if heals {
                    heal = (lab.now_ms(), lab.contacts());
                }
                if heals || updates {
                    converged = None;
                }
            }
        }
        states = lab.tiles.iter().map(|t| t.reader().read()).collect::<Result<_, _>>()?;
        for (t, tile) in lab.tiles.iter_mut().enumerate() {
            let rebooting = pending.iter().any(|p| matches!(p, Some(Action::Start(x)) if *x == t));
            if !rebooting && !tile.running() && !died.contains(&lab.topology.tiles[t].name) {
                died.push(lab.topology.tiles[t].name.clone());
            }
        }
        let sent = lab.sent.lock().map_err(|_| "poisoned")?.clone();
        let in_flight = lab.sends_in_flight.load(Ordering::SeqCst);
        let delivered_at: Vec<BTreeSet<&BundleKey>> = states.iter().map(|s| s.delivered.iter().map(|d| &d.key).collect()).collect();
        let acked: Vec<&Sent> = sent.iter().filter(|s| s.acked).collect();
        let delivered_count = acked.iter().filter(|s| delivered_at[s.to].contains(&s.key)).count();
        // Per send event (identified by its first record), note when it is all delivered.
        let mut groups: BTreeMap<(u64, usize), (usize, usize, usize)> = BTreeMap::new();
        for s in &sent {
            let g = groups.entry((s.sent_ms, s.from)).or_insert((s.to, 0, 0));
            g.1 += 1;
            if s.acked && delivered_at[s.to].contains(&s.key) {
                g.2 += 1;
            }
        }
        let mut notes = Vec::new();
        for (i, ((_, from), (to, total, done))) in groups.iter().enumerate() {
            if *done == *total && delivered_seen.get(&i) != Some(total) && in_flight == 0 {
                delivered_seen.insert(i, *total);
                let what = if sent.iter().any(|s| s.from == *from && s.update) && *total == lab.topology.tiles.len() {
                    "update".to_string()
                } else {
                    format!("{total} bundle(s)")
                };
                notes.push(format!(
                    "delivered: {what} from {} (all {total} at {})",
                    lab.topology.tiles[*from].name,
                    if what == "update" { "every tile".to_string() } else { lab.topology.tiles[*to].name.clone() }
                ));
            }
        }
        for n in notes {
            lab.note(n);
        }
        let all_delivered = in_flight == 0 && delivered_count == acked.len();
        if all_delivered && !acked.is_empty() && !all_delivered_noted && queue.is_empty() {
            all_delivered_noted = true;
            lab.note(format!("every acknowledged bundle is delivered ({} bundle(s))", acked.len()));
        }
        let same = states.iter().all(|s| s.state.is_some() && s.state == states[0].state);
        // Host nodes' state is the set of updates; QEMU tiles' holds one register per key.
        let expected_items = if lab.host_state { lab.updates_issued } else { lab.update_keys.len() };
        let complete = states.iter().all(|s| s.state_items == Some(expected_items));
        if same && complete && in_flight == 0 && lab.updates_issued > 0 {
            if converged.is_none() {
                converged = Some((lab.now_ms(), lab.contacts()));
                lab.note(format!(
                    "converged: all {} tiles hold the same state ({} item(s)), {} contact(s) after the last heal",
                    states.len(),
                    states[0].state_items.unwrap_or(0),
                    lab.contacts() - heal.1
                ));
            }
        } else {
            converged = None;
        }
        let events_done = queue.is_empty();
        let delivery_settled = !scenario.check.deliver_all || all_delivered;
        let convergence_settled = !want_convergence || converged.is_some();
        let nothing_checked = !scenario.check.deliver_all && !want_convergence;
        let settled = events_done && in_flight == 0 && delivery_settled && convergence_settled && (!nothing_checked || all_delivered);
        if settled || now >= scenario.lab.duration_ms {
            if !settled {
                lab.note(format!("duration_ms {} reached before every check held", scenario.lab.duration_ms));
            }
            break;
        }
        std::thread::sleep(OBSERVE_EVERY);
    }
    let end_ms = lab.now_ms();
    lab.note("end".into());
    let sent = lab.sent.lock().map_err(|_| "poisoned")?.clone();
    Ok(report(lab, &states, &sent, start_system, end_ms, heal, converged, want_convergence, died))
}

#[allow(clippy::too_many_arguments)]
fn report(
    lab: &Lab,
    states: &[TileState],
    sent: &[Sent],
    start_system: SystemTime,
    end_ms: u64,
    heal: (u64, u64),
    converged: Option<(u64, u64)>,
    want_convergence: bool,
    died: Vec<String>,
) -> Report {
    let scenario = lab.scenario;
    let ms_of = |at: Option<SystemTime>| at.and_then(|t| t.duration_since(start_system).ok()).map(|d| d.as_millis() as u64);
    // First delivery time of each key at each tile, and counts.
    let mut first: Vec<HashMap<&BundleKey, Option<u64>>> = Vec::new();
    let mut tiles = Vec::new();
    for (t, spec) in lab.topology.tiles.iter().enumerate() {
        let mut map: HashMap<&BundleKey, Option<u64>> = HashMap::new();
        let mut duplicates = 0;
        for d in &states[t].delivered {
            match map.get_mut(&d.key) {
                Some(at) => {
                    duplicates += 1;
                    *at = match (*at, ms_of(d.at)) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    };
                }
                None => {
                    map.insert(&d.key, ms_of(d.at));
                }
            }
        }
        let from_here: Vec<&Sent> = sent.iter().filter(|s| s.from == t).collect();
        tiles.push(TileReport {
            name: spec.name.clone(),
            node: spec.node,
            role: role_name(spec.role).into(),
            sent: from_here.iter().filter(|s| s.acked).count(),
            unacknowledged: from_here.iter().filter(|s| !s.acked).count(),
            delivered: map.len(),
            duplicates,
            lost: 0,
            reboots: lab.reboots[t],
            state_items: states[t].state_items,
        });
        first.push(map);
    }
    let mut latencies = Vec::new();
    let mut delivered_total = 0;
    let mut wrong_path = Vec::new();
    let mut right_path = 0usize;
    let mut last_after_heal: Option<u64> = None;
    for s in sent.iter().filter(|s| s.acked) {
        match first[s.to].get(&s.key) {
            Some(at) => {
                delivered_total += 1;
                if let Some(at) = at {
                    latencies.push(at.saturating_sub(s.sent_ms));
                    if heal.0 > 0 && s.sent_ms < heal.0 && *at >= heal.0 {
                        last_after_heal = Some(last_after_heal.unwrap_or(0).max(at - heal.0));
                    }
                }
                if let Some(via) = &s.expect_via {
                    let previous = states[s.to].delivered.iter().find(|d| d.key == s.key).and_then(|d| d.previous_node.clone());
                    if previous.as_deref() == Some(via.as_str()) {
                        right_path += 1;
                    } else {
                        wrong_path.push(format!("{:?} arrived from {}", s.key, previous.unwrap_or_else(|| "nowhere".into())));
                    }
                }
            }
            None => tiles[s.from].lost += 1,
        }
    }
    let mut sends: Vec<SendReport> = Vec::new();
    for s in sent.iter().filter(|s| !s.update) {
        let at = first[s.to].get(&s.key).copied().flatten();
        let (from, to) = (lab.topology.tiles[s.from].name.clone(), lab.topology.tiles[s.to].name.clone());
        let same = |r: &&mut SendReport| r.sent_ms == s.sent_ms && r.from == from && r.to == to;
        match sends.iter_mut().find(|r| same(r)) {
            Some(r) => {
                r.count += 1;
                r.all_delivered_ms = r.all_delivered_ms.zip(at).map(|(a, b)| a.max(b));
            }
            None => sends.push(SendReport { from, to, count: 1, payload_bytes: s.payload_bytes, sent_ms: s.sent_ms, all_delivered_ms: at }),
        }
    }
    latencies.sort_unstable();
    let latency_ms = (!latencies.is_empty()).then(|| (latencies[0], latencies[latencies.len() / 2], latencies[latencies.len() - 1]));
    let acked = sent.iter().filter(|s| s.acked).count();
    let mut checks = Vec::new();
    checks.push(CheckResult {
        name: "tiles_stayed_up".into(),
        passed: died.is_empty(),
        detail: if died.is_empty() {
            "no tile process exited on its own".into()
        } else {
            format!("exited on their own: {}", died.join(", "))
        },
    });
    if scenario.check.deliver_all {
        let lost: usize = tiles.iter().map(|t| t.lost).sum();
        checks.push(CheckResult {
            name: "deliver_all".into(),
            passed: lost == 0 && acked > 0,
            detail: format!(
                "{delivered_total} of {acked} acknowledged bundle(s) delivered, {lost} lost, {} handed over but not acknowledged",
                sent.len() - acked
            ),
        });
    }
    let at = |ms: u64| start_system + std::time::Duration::from_millis(ms);
    let replication = converged.filter(|_| !lab.host_state && lab.updates_issued > 0).map(|(converged_ms, _)| {
        let window = |f: fn(&crate::state::ReplicationReading) -> u64| {
            states.iter().map(|s| f(&s.replication_at(at(converged_ms))).saturating_sub(f(&s.replication_at(at(heal.0))))).sum()
        };
        ReplicationFigures {
            updates: lab.updates_issued,
            messages: window(|r| r.messages),
            delta_bytes: window(|r| r.bytes),
            full_bytes: window(|r| r.full_bytes),
        }
    });
    let convergence = (want_convergence || lab.updates_issued > 0).then(|| Convergence {
        heal_ms: heal.0,
        converged_ms: converged.map(|c| c.0),
        contacts_after_heal: converged.map(|c| c.1 - heal.1),
    });
    if let Some(bound) = scenario.check.converge_within_contacts {
        let contacts = converged.map(|c| c.1 - heal.1);
        checks.push(CheckResult {
            name: "converge_within_contacts".into(),
            passed: contacts.is_some_and(|c| c <= bound),
            detail: match contacts {
                Some(c) => format!("converged {c} contact(s) after the last heal (bound {bound})"),
                None => "did not converge".into(),
            },
        });
    }
    if let Some(bound) = scenario.check.converge_within_contacts_per_link {
        let links = lab.topology.links.len() as u64;
        let contacts = converged.map(|c| c.1 - heal.1);
        checks.push(CheckResult {
            name: "converge_within_contacts_per_link".into(),
            passed: contacts.is_some_and(|c| c <= bound * links),
            detail: match contacts {
                Some(c) => format!(
                    "converged {c} contact(s) over {links} link(s) after the last heal ({:.1} per link, bound {bound})",
                    c as f64 / links as f64
                ),
                None => "did not converge".into(),
            },
        });
    }
    if let Some(bound) = scenario.check.converge_within_ms {
        let ms = converged.map(|c| c.0 - heal.0);
        checks.push(CheckResult {
            name: "converge_within_ms".into(),
            passed: ms.is_some_and(|m| m <= bound),
            detail: match ms {
                Some(m) => format!("converged {m} ms after the last heal (bound {bound})"),
                None => "did not converge".into(),
            },
        });
    }
    if let Some(bound) = scenario.check.deliver_within_ms {
        let max = latency_ms.map(|l| l.2);
        checks.push(CheckResult {
            name: "deliver_within_ms".into(),
            passed: max.is_some_and(|m| m <= bound) && delivered_total == acked,
            detail: format!(
                "slowest delivery {} ms (bound {bound}), {delivered_total} of {acked} delivered",
                max.map_or("-".into(), |m| m.to_string())
            ),
        });
    }
    if sent.iter().any(|s| s.expect_via.is_some()) {
        let expected = sent.iter().filter(|s| s.acked && s.expect_via.is_some()).count();
        checks.push(CheckResult {
            name: "expect_via".into(),
            passed: wrong_path.is_empty() && expected > 0 && right_path == expected,
            detail: if wrong_path.is_empty() {
                format!("{right_path} of {expected} bundle(s) arrived from the expected previous node")
            } else {
                wrong_path.join("; ")
            },
        });
    }
    let links = lab
        .topology
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let stats = &lab.relays[i];
            let sum = |f: fn(&crate::relay::RelayStats) -> u64| stats.iter().map(|r| f(&r.stats)).sum::<u64>();
            LinkReport {
                a: lab.topology.tiles[l.a].name.clone(),
                b: lab.topology.tiles[l.b].name.clone(),
                owlt_ms: lab.links[i].owlt_ms(),
                contacts: sum(|s| s.contacts.load(Ordering::Relaxed)),
                refused: sum(|s| s.refused.load(Ordering::Relaxed)),
                broken_by_loss: sum(|s| s.broken_by_loss.load(Ordering::Relaxed)),
                bytes: sum(|s| s.bytes_forward.load(Ordering::Relaxed) + s.bytes_back.load(Ordering::Relaxed)),
            }
        })
        .collect();
    Report {
        scenario: scenario.lab.name.clone(),
        kind: if lab.host_state { "host".into() } else { "qemu".into() },
        duration_ms: end_ms,
        startup_ms: lab.startup_ms,
        timeline: lab.timeline.clone(),
        tiles,
        links,
        bundles_sent: acked,
        bundles_delivered: delivered_total,
        latency_ms,
        heal_to_last_delivery_ms: last_after_heal,
        contacts: lab.contacts(),
        convergence,
        replication,
        sends,
        checks,
    }
}

/// The timeline, one line per entry.
pub fn render_timeline(report: &Report) -> String {
    report.timeline.iter().map(|e| timeline_line(e.at_ms, &e.text) + "\n").collect()
}

/// The summary: per-tile and per-link tables, figures and checks.
pub fn render_summary(report: &Report) -> String {
    let mut out = format!(
        "scenario {} ({} tiles, {} nodes), {:.1} s\n\n{:<10} {:>5} {:<5} {:>5} {:>6} {:>9} {:>5} {:>4} {:>7} {:>5}\n",
        report.scenario,
        report.tiles.len(),
        report.kind,
        report.duration_ms as f64 / 1000.0,
        "tile",
        "node",
        "role",
        "sent",
        "unack",
        "delivered",
        "dups",
        "lost",
        "reboots",
        "state"
    );
    for t in &report.tiles {
        out.push_str(&format!(
            "{:<10} {:>5} {:<5} {:>5} {:>6} {:>9} {:>5} {:>4} {:>7} {:>5}\n",
            t.name,
            t.node,
            t.role,
            t.sent,
            t.unacknowledged,
            t.delivered,
            t.duplicates,
            t.lost,
            t.reboots,
            t.state_items.map_or("-".into(), |n| n.to_string())
        ));
    }
    out.push_str(&format!("\n{:<20} {:>7} {:>8} {:>7} {:>6} {:>10}\n", "link", "owlt_ms", "contacts", "refused", "broken", "bytes"));
    for l in &report.links {
        out.push_str(&format!(
            "{:<20} {:>7} {:>8} {:>7} {:>6} {:>10}\n",
            format!("{}–{}", l.a, l.b),
            l.owlt_ms,
            l.contacts,
            l.refused,
            l.broken_by_loss,
            l.bytes
        ));
    }
    out.push_str(&format!("\nbundles: {} acknowledged by their sources, {} delivered", report.bundles_sent, report.bundles_delivered));
    if let Some((min, median, max)) = report.latency_ms {
        out.push_str(&format!("; latency min {min} ms, median {median} ms, max {max} ms"));
    }
    out.push('\n');
    if let Some(ms) = report.heal_to_last_delivery_ms {
        out.push_str(&format!("last delivery of a bundle sent before the last heal (link restored or window opened): {ms} ms after it\n"));
    }
    for send in &report.sends {
        let rate = send.bundles_per_second().map_or("not all delivered".into(), |r| format!("{r:.1} bundles/s"));
        out.push_str(&format!(
            "send {} → {}: {} × {} B at t+{:.3} s: {rate}\n",
            send.from,
            send.to,
            send.count,
            send.payload_bytes,
            send.sent_ms as f64 / 1000.0
        ));
    }
    out.push_str(&format!("contacts: {}\n", report.contacts));
    if let Some(c) = &report.convergence {
        match (c.converged_ms, c.contacts_after_heal) {
            (Some(at), Some(contacts)) => out.push_str(&format!(
                "convergence: at t+{:.3} s, {} ms and {contacts} contact(s) after the last heal (t+{:.3} s)\n",
                at as f64 / 1000.0,
                at - c.heal_ms,
                c.heal_ms as f64 / 1000.0
            )),
            _ => out.push_str("convergence: not reached\n"),
        }
    }
    if let Some(r) = &report.replication {
        out.push_str(&format!(
            "replication from the heal to convergence: {} message(s), {} payload bytes ({:.0} per update of {}); full-state sync in the same rounds: {} bytes ({:.0} per update), {:.1}× the deltas\n",
            r.messages,
            r.delta_bytes,
            r.delta_per_update(),
            r.updates,
            r.full_bytes,
            r.full_per_update(),
            r.full_bytes as f64 / r.delta_bytes.max(1) as f64
        ));
    }
    for c in &report.checks {
        out.push_str(&format!("check {:<26} {}  {}\n", c.name, if c.passed { "PASS" } else { "FAIL" }, c.detail));
    }
    out.push_str(if report.passed() { "result: PASS\n" } else { "result: FAIL\n" });
    out
}

/// One line per report (as [`report_json`] writes them): scenario, kind, tiles, start-up,
/// the run, convergence after the last heal (ms and contacts), bundles delivered of those
/// acknowledged, replication payload bytes per converged update from the heal to convergence
/// with deltas and what full-state sync would have sent (QEMU tiles), and each send's
/// bundles per second; a field a report lacks prints `-`.
pub fn render_table(reports: &[Value]) -> String {
    let mut out = format!(
        "{:<20} {:<5} {:>5} {:>10} {:>8} {:>14} {:>9} {:>11} {:>11} {:>10}  sends (bundles/s)\n",
        "scenario", "kind", "tiles", "startup_ms", "run_ms", "converged_ms", "contacts", "delivered", "delta_B/upd", "full_B/upd"
    );
    let text = |v: &Value| if v.is_null() { "-".to_string() } else { v.to_string().trim_matches('"').to_string() };
    let bytes = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.0}"));
    for r in reports {
        let sends: Vec<String> = r["sends"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let rate = s["bundles_per_second"].as_f64().map_or("-".into(), |x| format!("{x:.1}"));
                        format!("{}×{}B {rate}", text(&s["count"]), text(&s["payload_bytes"]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:<5} {:>5} {:>10} {:>8} {:>14} {:>9} {:>11} {:>11} {:>10}  {}\n",
            text(&r["scenario"]),
            text(&r["kind"]),
            r["tiles"].as_array().map_or(0, Vec::len),
            text(&r["startup_ms"]),
            text(&r["duration_ms"]),
            text(&r["convergence"]["ms_after_heal"]),
            text(&r["convergence"]["contacts_after_heal"]),
            format!("{}/{}", text(&r["bundles"]["delivered"]), text(&r["bundles"]["sent"])),
            bytes(&r["replication"]["delta_bytes_per_update"]),
            bytes(&r["replication"]["full_bytes_per_update"]),
            sends.join(", ")
        ));
    }
    out
}

/// Updates per side of the node-logic figure beside the QEMU tiles' (`partition-heal-n`
/// makes two on one side and one on the other).
const NODE_LOGIC_UPDATES_PER_SIDE: usize = 2;

/// For each tile count of the QEMU reports with replication figures, the federation node
/// logic's delta against full-state bytes per update after a partition, computed now
/// (`tileos_federation::bench::partition_heal`: replicas in a ring, synchronous rounds, no
/// QEMU), so that the table shows both side by side.
pub fn render_node_logic(reports: &[Value]) -> Result<String, String> {
    let sizes: BTreeSet<usize> =
        reports.iter().filter(|r| !r["replication"].is_null()).filter_map(|r| r["tiles"].as_array().map(Vec::len)).collect();
    let mut out = String::new();
    for n in sizes {
        let f =
            tileos_federation::bench::partition_heal(n, NODE_LOGIC_UPDATES_PER_SIDE).map_err(|e| format!("node logic at {n}: {e:?}"))?;
        let updates = (2 * f.updates_per_side) as f64;
        out.push_str(&format!(
            "node logic, ring of {n}, {} updates: delta {:.0} B/update ({} messages), full state {:.0} B/update ({} messages)\n",
            2 * f.updates_per_side,
            f.delta_bytes as f64 / updates,
            f.delta_messages,
            f.full_bytes as f64 / updates,
            f.full_messages
        ));
    }
    Ok(out)
}

/// The report as JSON.
pub fn report_json(report: &Report) -> Value {
    json!({
        "scenario": report.scenario,
        "kind": report.kind,
        "duration_ms": report.duration_ms,
        "startup_ms": report.startup_ms,
        "passed": report.passed(),
        "bundles": {
            "sent": report.bundles_sent,
            "delivered": report.bundles_delivered,
            "latency_ms": report.latency_ms.map(|(min, median, max)| json!({"min": min, "median": median, "max": max})),
            "heal_to_last_delivery_ms": report.heal_to_last_delivery_ms,
        },
        "contacts": report.contacts,
        "sends": report.sends.iter().map(|r| json!({
            "from": r.from, "to": r.to, "count": r.count, "payload_bytes": r.payload_bytes, "sent_ms": r.sent_ms,
            "all_delivered_ms": r.all_delivered_ms, "bundles_per_second": r.bundles_per_second(),
        })).collect::<Vec<_>>(),
        "convergence": report.convergence.as_ref().map(|c| json!({
            "heal_ms": c.heal_ms,
            "converged_ms": c.converged_ms,
            "ms_after_heal": c.converged_ms.map(|at| at - c.heal_ms),
            "contacts_after_heal": c.contacts_after_heal,
        })),
        "replication": report.replication.as_ref().map(|r| json!({
            "updates": r.updates,
            "messages": r.messages,
            "delta_bytes": r.delta_bytes,
            "full_bytes": r.full_bytes,
            "delta_bytes_per_update": r.delta_per_update(),
            "full_bytes_per_update": r.full_per_update(),
        })),
        "tiles": report.tiles.iter().map(|t| json!({
            "name": t.name, "node": t.node, "role": t.role, "sent": t.sent, "unacknowledged": t.unacknowledged,
            "delivered": t.delivered, "duplicates": t.duplicates, "lost": t.lost, "reboots": t.reboots,
            "state_items": t.state_items,
        })).collect::<Vec<_>>(),
        "links": report.links.iter().map(|l| json!({
            "a": l.a, "b": l.b, "owlt_ms": l.owlt_ms, "contacts": l.contacts, "refused": l.refused,
            "broken_by_loss": l.broken_by_loss, "bytes": l.bytes,
        })).collect::<Vec<_>>(),
        "checks": report.checks.iter().map(|c| json!({"name": c.name, "passed": c.passed, "detail": c.detail})).collect::<Vec<_>>(),
        "timeline": report.timeline.iter().map(|e| json!({"at_ms": e.at_ms, "text": e.text})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_lines_show_seconds_and_milliseconds() {
        assert_eq!(timeline_line(12_345, "cut hub–b/0"), "t+  12.345 s  cut hub–b/0");
        assert_eq!(timeline_line(7, "x"), "t+   0.007 s  x");
    }

    #[test]
    fn the_table_shows_replication_bytes_per_update_and_the_node_logic_beside_them() {
        let qemu = json!({
            "scenario": "partition-heal-n", "kind": "qemu", "tiles": [{}, {}, {}, {}],
            "replication": {"delta_bytes_per_update": 812.5, "full_bytes_per_update": 4096.0},
        });
        let host = json!({"scenario": "partition-heal-n", "kind": "host", "tiles": [{}, {}, {}, {}, {}, {}, {}, {}]});
        let table = render_table(&[qemu.clone(), host.clone()]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains(" 812 ") || lines[1].contains(" 813 "), "{table}");
        assert!(lines[1].contains(" 4096 "), "{table}");
        assert!(lines[2].split_whitespace().filter(|w| *w == "-").count() >= 2, "{table}");
        let logic = render_node_logic(&[qemu, host]).unwrap();
        assert_eq!(logic.lines().count(), 1, "only tile counts with replication figures: {logic}");
        assert!(logic.starts_with("node logic, ring of 4, 4 updates: delta "), "{logic}");
    }
}
