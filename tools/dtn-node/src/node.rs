//! The store-and-forward node (`tileos-dtn-node node`): a TCPCL listener, a spool directory
//! and static routes.
//!
//! A received bundle is written to `SPOOL/queue/` and synced before its transfer's last
//! segment is acknowledged. A bundle for this node is then delivered: written as one JSON
//! object to `SPOOL/delivered/` (fragments once reassembled). Any other bundle waits in the
//! queue until a route matches its destination and the route's peer takes it; one forwarder
//! thread per peer address retries unreachable peers with a doubling backoff. A bundle leaves
//! the queue only when delivered, acknowledged by the next hop, or expired. On start the
//! queue is reloaded.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tileos_bpv7::{Bundle, CreationTimestamp, Eid, HopCount, Policy, Reassembler};
use tileos_tcpcl::RefuseReason;

use crate::serve::{Sink, serve};
use crate::transfer::send_bundles;
use crate::{bundle_json, dtn_now_ms, node_id_of};

/// How often expired bundles are looked for.
const SWEEP: Duration = Duration::from_millis(200);
/// First wait before retrying an unreachable peer.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Most bundles sent to a peer in one session.
const BATCH: usize = 1024;
/// How long one forwarding session may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

/// A static route: bundles whose destination matches `pattern` go to the peer at `addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// An endpoint ID, a prefix ending in `*`, or `*` alone.
    pub pattern: String,
    /// The peer's TCPCL address, `host:port`.
    pub addr: String,
}

impl FromStr for Route {
    type Err = String;

    /// Parses `PATTERN=HOST:PORT`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (pattern, addr) = text.split_once('=').ok_or_else(|| format!("route {text:?} is not PATTERN=HOST:PORT"))?;
        if pattern.is_empty() || addr.is_empty() {
            return Err(format!("route {text:?} needs both a pattern and an address"));
        }
        Ok(Route { pattern: pattern.to_string(), addr: addr.to_string() })
    }
}

impl Route {
    /// Whether the route takes bundles for `destination` (its text form).
    pub fn matches(&self, destination: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => destination.starts_with(prefix),
            None => destination == self.pattern,
        }
    }
}

/// Settings of a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Address to listen on.
    pub listen: String,
    /// Our node ID (an endpoint of the node is accepted and reduced to its node ID).
    pub node: Eid,
    /// Spool directory.
    pub spool: PathBuf,
    /// Static routes, first match wins.
    pub routes: Vec<Route>,
    /// Longest wait between attempts to reach an unreachable peer.
    pub retry_max: Duration,
    /// Interval of the status line.
    pub status_interval: Duration,
}

/// What the node has done since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bundles received and accepted (including expired ones).
    pub received: AtomicU64,
    /// Bundles acknowledged by the next hop.
    pub forwarded: AtomicU64,
    /// Bundles delivered to `delivered/`.
    pub delivered: AtomicU64,
    /// Bundles dropped because their lifetime ran out.
    pub expired: AtomicU64,
    /// Bundles dropped because forwarding them would exceed their hop limit.
    pub hop_limit_exceeded: AtomicU64,
    /// Transfers refused because the bundle did not decode (RFC 9171 checks).
    pub refused_malformed: AtomicU64,
    /// Transfers refused because the bundle could not be written to the spool.
    pub refused_storage: AtomicU64,
    /// Sessions ended by a protocol error or a socket failure.
    pub failed_sessions: AtomicU64,
}

impl Counters {
    /// The status line: every counter as `name=value`.
    pub fn line(&self, spooled: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "status: received={} forwarded={} delivered={} expired={} hop_limit_exceeded={} refused_malformed={} refused_storage={} failed_sessions={} spooled={spooled}",
            get(&self.received),
            get(&self.forwarded),
            get(&self.delivered),
            get(&self.expired),
            get(&self.hop_limit_exceeded),
            get(&self.refused_malformed),
            get(&self.refused_storage),
            get(&self.failed_sessions),
        )
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The identity of a bundle for log lines: source, creation time and sequence, fragment offset.
fn bundle_id(bundle: &Bundle) -> String {
    let fragment = bundle.fragment.map_or(String::new(), |f| format!(" fragment@{}", f.offset));
    format!("{} {}.{}{fragment}", bundle.source, bundle.creation.time_ms, bundle.creation.sequence)
}

/// DTN time (ms) at which `bundle`, received at `received_ms`, expires (RFC 9171 §4.2.7,
/// §4.4.2): creation time + lifetime, or without a creation clock, the receive time plus
/// what the bundle age block leaves of the lifetime.
fn expiry_ms(bundle: &Bundle, received_ms: u64) -> Result<u64, String> {
    if bundle.creation.time_ms != 0 {
        return Ok(bundle.creation.time_ms.saturating_add(bundle.lifetime_ms));
    }
    let age = bundle.bundle_age_ms().map_err(|e| e.to_string())?.ok_or("no creation time and no bundle age block")?;
    Ok(received_ms.saturating_add(bundle.lifetime_ms.saturating_sub(age)))
}

/// The hop count block after one more hop, if the bundle has one (RFC 9171 §4.4.3); an
/// error when that would exceed its hop limit.
fn next_hop_count(bundle: &Bundle) -> Result<Option<HopCount>, String> {
    let Some(hops) = bundle.hop_count().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let count = hops.count.saturating_add(1);
    if count > hops.limit {
        return Err(format!("hop count {count} would exceed hop limit {}", hops.limit));
    }
    Ok(Some(HopCount { count, ..hops }))
}

/// A claimed bundle made ready for the next hop.
enum Prepared {
    /// The encoded bundle to send.
    Ready(Vec<u8>),
    /// Deleted instead: forwarding it would exceed its hop limit (RFC 9171 §4.4.3).
    OverHopLimit(String),
}

fn now_ms() -> u64 {
    dtn_now_ms().unwrap_or(0)
}

/// A bundle waiting in `queue/`.
#[derive(Debug)]
struct Entry {
    destination: String,
    received_ms: u64,
    expires_ms: u64,
    /// Being sent by a forwarder.
    in_flight: bool,
    /// A fragment for this node, waiting for the rest: (source, creation).
    fragment_of: Option<(Eid, CreationTimestamp)>,
}

/// The store-and-forward node.
pub struct Node {
    node: Eid,
    routes: Vec<Route>,
    queue: PathBuf,
    delivered: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    wake: Condvar,
    reassembler: Mutex<Reassembler>,
    next_name: AtomicU64,
    /// What the node has done.
    pub counters: Counters,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes `data` to `dir/name` durably: a temporary file, synced, renamed, then the
/// directory synced, so a crash leaves either nothing or the whole file.
fn write_durably(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

impl Node {
    /// Opens (creating if needed) the spool of `config` and reloads the bundles in it.
    pub fn open(config: &NodeConfig) -> Result<Arc<Node>, String> {
        let node = node_id_of(&config.node).ok_or_else(|| format!("--node {} has no node ID", config.node))?;
        let queue = config.spool.join("queue");
        let delivered = config.spool.join("delivered");
        for dir in [&queue, &delivered] {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create spool directory {}: {e}", dir.display()))?;
        }
        let node = Arc::new(Node {
            node,
            routes: config.routes.clone(),
            queue,
            delivered,
            entries: Mutex::new(BTreeMap::new()),
            wake: Condvar::new(),
            reassembler: Mutex::new(Reassembler::new(64 << 20, 256 << 20)),
            next_name: AtomicU64::new(0),
            counters: Counters::default(),
        });
        node.reload()?;
        Ok(node)
    }

    /// Bundles currently in the queue.
    pub fn spooled(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Reads every bundle left in `queue/` by an earlier run; half-written files (never
    /// acknowledged) are removed, undecodable ones renamed to `*.bad`.
    fn reload(&self) -> Result<(), String> {
        let listing = fs::read_dir(&self.queue).map_err(|e| format!("cannot read spool {}: {e}", self.queue.display()))?;
        let mut names: Vec<String> = listing.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        names.sort();
        let mut reloaded = 0;
        for name in names {
            let path = self.queue.join(&name);
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(received_ms) = name.strip_suffix(".bundle").and_then(|n| n.split('-').next()?.parse().ok()) else {
                continue;
            };
            let decoded =
                fs::read(&path).map_err(|e| e.to_string()).and_then(|d| Bundle::decode(&d, Policy::Strict).map_err(|e| e.to_string()));
            match decoded {
                Ok(bundle) => {
                    reloaded += 1;
                    self.admit(name, &bundle, received_ms);
                }
                Err(e) => {
                    eprintln!("spool file {} is unreadable ({e}); renamed to .bad", path.display());
                    let _ = fs::rename(&path, path.with_extension("bad"));
                }
            }
        }
        eprintln!("reloaded {reloaded} bundle(s) from {}", self.queue.display());
        Ok(())
    }

    fn is_local(&self, bundle: &Bundle) -> bool {
        node_id_of(&bundle.destination).as_ref() == Some(&self.node)
    }

    /// The address of the first route for `destination`.
    fn route(&self, destination: &str) -> Option<&str> {
        self.routes.iter().find(|r| r.matches(destination)).map(|r| r.addr.as_str())
    }

    /// Takes a spooled bundle: drops it if expired, delivers it if it is for us, otherwise
    /// queues it for a forwarder.
    fn admit(&self, name: String, bundle: &Bundle, received_ms: u64) {
        let expires_ms = match expiry_ms(bundle, received_ms) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("spooled bundle {name} has no usable lifetime ({e}); dropped");
                self.remove_file(&name);
                return;
            }
        };
        if let Ok(Some(hops)) = bundle.hop_count()
            && hops.count > hops.limit
        {
            eprintln!("dropped {} ({name}): hop count {} exceeds hop limit {}", bundle_id(bundle), hops.count, hops.limit);
            bump(&self.counters.hop_limit_exceeded);
            self.remove_file(&name);
            return;
        }
        if now_ms() >= expires_ms {
            eprintln!("dropped expired bundle {} ({name})", bundle_id(bundle));
            bump(&self.counters.expired);
            self.remove_file(&name);
            return;
        }
        if self.is_local(bundle) && bundle.fragment.is_none() {
            self.deliver(&name, bundle);
            return;
        }
        let fragment_of = self.is_local(bundle).then(|| (bundle.source.clone(), bundle.creation));
        let destination = bundle.destination.to_string();
        if fragment_of.is_none() && self.route(&destination).is_none() {
            eprintln!("no route for {destination} yet; bundle {} waits in the spool", bundle_id(bundle));
        }
        lock(&self.entries)
            .insert(name.clone(), Entry { destination, received_ms, expires_ms, in_flight: false, fragment_of: fragment_of.clone() });
        if let Some(key) = fragment_of {
            self.reassemble(&name, bundle.clone(), &key);
        }
        self.wake.notify_all();
    }

    /// Adds a local fragment to the reassembler; once complete, delivers the whole bundle
    /// and removes every fragment file.
    fn reassemble(&self, name: &str, fragment: Bundle, key: &(Eid, CreationTimestamp)) {
        let whole = match lock(&self.reassembler).push(fragment) {
            Ok(whole) => whole,
            Err(e) => {
                eprintln!("fragment {name} cannot be reassembled ({e}); dropped");
                self.drop_queued(name);
                return;
            }
        };
        let Some(whole) = whole else { return };
        let parts: Vec<String> = {
            let mut entries = lock(&self.entries);
            let parts: Vec<String> = entries.iter().filter(|(_, e)| e.fragment_of.as_ref() == Some(key)).map(|(n, _)| n.clone()).collect();
            for part in &parts {
                entries.remove(part);
            }
            parts
        };
        self.deliver(parts.first().map_or(name, String::as_str), &whole);
        for part in parts.iter().skip(1) {
            self.remove_file(part);
        }
    }

    /// Writes `bundle` as JSON to `delivered/NAME.json`, then removes its spool file.
    fn deliver(&self, name: &str, bundle: &Bundle) {
        let file = format!("{}.json", name.trim_end_matches(".bundle"));
        let json = format!("{}\n", bundle_json(bundle));
        match write_durably(&self.delivered, &file, json.as_bytes()) {
            Ok(()) => {
                eprintln!("delivered {} to {}", bundle_id(bundle), self.delivered.join(&file).display());
                bump(&self.counters.delivered);
                self.remove_file(name);
            }
            Err(e) => eprintln!("cannot deliver {} to {} ({e}); it stays in the spool", bundle_id(bundle), self.delivered.display()),
        }
    }

    fn remove_file(&self, name: &str) {
        if let Err(e) = fs::remove_file(self.queue.join(name)) {
            eprintln!("cannot remove spool file {name}: {e}");
        }
    }

    /// Drops every queued bundle whose lifetime has run out.
    fn sweep_expired(&self) {
        let now = now_ms();
        let expired: Vec<(String, Entry)> = {
            let mut entries = lock(&self.entries);
            let names: Vec<String> = entries.iter().filter(|(_, e)| !e.in_flight && now >= e.expires_ms).map(|(n, _)| n.clone()).collect();
            names.into_iter().filter_map(|n| entries.remove(&n).map(|e| (n, e))).collect()
        };
        for (name, entry) in expired {
            eprintln!("dropped expired bundle for {} ({name})", entry.destination);
            if let Some((source, creation)) = &entry.fragment_of {
                lock(&self.reassembler).discard(source, *creation);
            }
            bump(&self.counters.expired);
            self.remove_file(&name);
        }
    }

    /// Marks up to [`BATCH`] waiting bundles routed to `addr` as in flight and returns their
    /// names; waits (up to [`SWEEP`]) for one if there is none.
    fn claim(&self, addr: &str) -> Vec<String> {
        let mut entries = lock(&self.entries);
        for _ in 0..2 {
            let names: Vec<String> = entries
                .iter()
                .filter(|(_, e)| !e.in_flight && e.fragment_of.is_none() && self.route(&e.destination) == Some(addr))
                .map(|(n, _)| n.clone())
                .take(BATCH)
                .collect();
            if !names.is_empty() {
                for name in &names {
                    if let Some(entry) = entries.get_mut(name) {
                        entry.in_flight = true;
                    }
                }
                return names;
            }
            entries = self.wake.wait_timeout(entries, SWEEP).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        Vec::new()
    }

    /// Returns claimed bundles that were not forwarded to the queue.
    fn release(&self, names: &[String]) {
        let mut entries = lock(&self.entries);
        for name in names {
            if let Some(entry) = entries.get_mut(name) {
                entry.in_flight = false;
            }
        }
    }

    /// Reads a claimed bundle and updates it for the next hop (RFC 9171 §4.4): this node's
    /// residence time added to the bundle age block if there is one, this node as the
    /// previous node, one more hop on the hop count block if there is one.
    fn prepare(&self, name: &str) -> Result<Prepared, String> {
        let received_ms = lock(&self.entries).get(name).map(|e| e.received_ms).ok_or("no longer queued")?;
        let data = fs::read(self.queue.join(name)).map_err(|e| e.to_string())?;
        let mut bundle = Bundle::decode(&data, Policy::Strict).map_err(|e| e.to_string())?;
        if let Some(age) = bundle.bundle_age_ms().map_err(|e| e.to_string())? {
            bundle.set_bundle_age_ms(age.saturating_add(now_ms().saturating_sub(received_ms)));
        }
        match next_hop_count(&bundle) {
            Ok(Some(hops)) => bundle.set_hop_count(hops),
            Ok(None) => {}
            Err(why) => return Ok(Prepared::OverHopLimit(why)),
        }
        bundle.set_previous_node(&self.node);
        bundle.encode().map(Prepared::Ready).map_err(|e| e.to_string())
    }

    /// Deletes a queued bundle that will not be sent.
    fn drop_queued(&self, name: &str) {
        lock(&self.entries).remove(name);
        self.remove_file(name);
    }

    /// Sends the claimed bundles `names` to `addr` in one session; each one acknowledged
    /// leaves the spool at once. Returns how many the peer refused (they stay queued).
    fn forward(&self, addr: &str, names: &[String]) -> Result<usize, String> {
        let mut sendable = Vec::new();
        let mut bundles = Vec::new();
        for name in names {
            match self.prepare(name) {
                Ok(Prepared::Ready(bytes)) => {
                    sendable.push(name.clone());
                    bundles.push(bytes);
                }
                Ok(Prepared::OverHopLimit(why)) => {
                    eprintln!("dropped {name}: {why}");
                    bump(&self.counters.hop_limit_exceeded);
                    self.drop_queued(name);
                }
                Err(e) => {
                    eprintln!("spool file {name} cannot be forwarded ({e}); dropped");
                    self.drop_queued(name);
                }
            }
        }
        let outcome = send_bundles(addr, &self.node, bundles, Instant::now() + FORWARD_TIMEOUT, |i| {
            let name = &sendable[i];
            let destination = lock(&self.entries).remove(name).map(|e| e.destination).unwrap_or_default();
            eprintln!("forwarded {name} for {destination} to {addr}");
            bump(&self.counters.forwarded);
            self.remove_file(name);
        })?;
        for (i, reason) in &outcome.refused {
            eprintln!("peer at {addr} refused {} ({reason:?}); it stays in the spool", sendable[*i]);
        }
        Ok(outcome.refused.len())
    }

    /// Forwards bundles routed to `addr` for ever; after a failure or a refusal it waits,
    /// doubling the wait up to `retry_max`.
    fn forward_loop(&self, addr: &str, retry_max: Duration) {
        let mut backoff = FIRST_RETRY;
        loop {
            let names = self.claim(addr);
            if names.is_empty() {
                continue;
            }
            let result = self.forward(addr, &names);
            self.release(&names);
            let problem = match result {
                Ok(0) => None,
                Ok(refused) => Some(format!("{refused} bundle(s) refused")),
                Err(e) => Some(e),
            };
            match problem {
                None => backoff = FIRST_RETRY,
                Some(why) => {
                    eprintln!("cannot forward to {addr}: {why}; retrying in {} ms", backoff.as_millis());
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(retry_max.max(FIRST_RETRY));
                }
            }
        }
    }
}

impl Sink for Node {
    fn bundle(&self, peer: &str, data: Vec<u8>) -> Result<(), RefuseReason> {
        let bundle = Bundle::decode(&data, Policy::Strict).map_err(|e| {
            eprintln!("refused a malformed bundle from {peer}: {e}");
            bump(&self.counters.refused_malformed);
            RefuseReason::NotAcceptable
        })?;
        let received_ms = now_ms();
        let name = format!("{received_ms}-{}-{}.bundle", std::process::id(), self.next_name.fetch_add(1, Ordering::Relaxed));
        write_durably(&self.queue, &name, &data).map_err(|e| {
            eprintln!("refused {} from {peer}: cannot write {} ({e})", bundle_id(&bundle), self.queue.join(&name).display());
            bump(&self.counters.refused_storage);
            RefuseReason::NoResources
        })?;
        bump(&self.counters.received);
        eprintln!("received {} for {} from {peer} as {name}", bundle_id(&bundle), bundle.destination);
        self.admit(name, &bundle, received_ms);
        Ok(())
    }

    fn session_failed(&self, peer: &str, error: &str) {
        eprintln!("session with {peer} failed: {error}");
        bump(&self.counters.failed_sessions);
    }
}

/// Runs a node until its listener fails: listens, forwards along the routes, drops expired
/// bundles and prints the status line every `status_interval`.
pub fn run(config: NodeConfig) -> Result<(), String> {
    let listener = TcpListener::bind(&config.listen).map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr().map_err(|e| format!("listener address: {e}"))?;
    eprintln!("listening on {local}");
    let node = Node::open(&config)?;
    let peers: BTreeSet<String> = config.routes.iter().map(|r| r.addr.clone()).collect();
    for addr in peers {
        let (node, retry_max) = (Arc::clone(&node), config.retry_max);
        thread::spawn(move || node.forward_loop(&addr, retry_max));
    }
    let keeper = Arc::clone(&node);
    let interval = config.status_interval;
    thread::spawn(move || housekeeping(&keeper, interval));
    let result = serve(listener, &node.node, Arc::clone(&node) as Arc<dyn Sink>);
    eprintln!("{}", node.counters.line(node.spooled()));
    result
}

/// Drops expired bundles every [`SWEEP`] and prints the status line every `interval`.
fn housekeeping(node: &Node, interval: Duration) {
    let mut last_status = Instant::now();
    loop {
        thread::sleep(SWEEP);
        node.sweep_expired();
        if last_status.elapsed() >= interval {
            eprintln!("{}", node.counters.line(node.spooled()));
            last_status = Instant::now();
        }
    }
}
