//! The lab in a test: federation nodes on in-memory stores, joined by simulated links with
//! a delay per link that can be cut and restored, driven in fixed time steps; and a bare
//! TCPCL peer for tests that speak to one node directly.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use tileos_federation::{ConnId, Delivery, FederationNode, MemoryStore, NodeConfig, NodeNumber, Origin, Output};
use tileos_tcpcl::{Config, Event, Role, Session};

/// A node of the lab, or the store it left behind when it crashed.
pub enum Host {
    Up(Box<FederationNode<MemoryStore>>),
    Down(Box<Crashed>),
}

/// What a crashed node leaves: its configuration and its store.
pub struct Crashed {
    config: NodeConfig,
    store: MemoryStore,
}

struct Packet {
    at_ms: u64,
    to: ConnId,
    /// `None`: the connection closed.
    bytes: Option<Vec<u8>>,
}

/// One end of a simulated connection.
#[derive(Clone, Copy)]
struct End {
    owner: NodeNumber,
    other: ConnId,
    delay_ms: u64,
}

/// Nodes, links and everything in flight between them.
pub struct Lab {
    pub now_ms: u64,
    pub hosts: BTreeMap<NodeNumber, Host>,
    /// Links by (smaller, larger) node number: their one-way delay.
    links: BTreeMap<(NodeNumber, NodeNumber), u64>,
    cut: BTreeSet<(NodeNumber, NodeNumber)>,
    ends: BTreeMap<ConnId, End>,
    packets: Vec<Packet>,
    next_conn: u64,
    /// Deliveries per node, in order.
    pub delivered: BTreeMap<NodeNumber, Vec<Delivery>>,
    /// Connections opened.
    pub connections_opened: u64,
    /// Bytes carried between nodes.
    pub bytes_carried: u64,
}

fn key(a: NodeNumber, b: NodeNumber) -> (NodeNumber, NodeNumber) {
    (a.min(b), a.max(b))
}

impl Lab {
    pub fn new() -> Self {
        Lab {
            now_ms: 1_000,
            hosts: BTreeMap::new(),
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            ends: BTreeMap::new(),
            packets: Vec::new(),
            next_conn: 1,
            delivered: BTreeMap::new(),
            connections_opened: 0,
            bytes_carried: 0,
        }
    }

    /// Adds a node with a fresh store.
    pub fn add(&mut self, config: NodeConfig) {
        let number = config.node;
        let node = FederationNode::recover(config, MemoryStore::new(), self.now_ms).expect("valid config");
        self.hosts.insert(number, Host::Up(Box::new(node)));
    }

    /// Joins two nodes with a link of one-way delay `delay_ms`.
    pub fn link(&mut self, a: NodeNumber, b: NodeNumber, delay_ms: u64) {
        self.links.insert(key(a, b), delay_ms);
    }

    pub fn node(&mut self, number: NodeNumber) -> &mut FederationNode<MemoryStore> {
        match self.hosts.get_mut(&number) {
            Some(Host::Up(node)) => node,
            _ => panic!("node {number} is not up"),
        }
    }

    pub fn nodes(&self) -> impl Iterator<Item = &FederationNode<MemoryStore>> {
        self.hosts.values().filter_map(|h| match h {
            Host::Up(node) => Some(node.as_ref()),
            Host::Down(_) => None,
        })
    }

    /// Cuts a link: its connections fail at both ends at once, and nothing crosses it.
    pub fn cut(&mut self, a: NodeNumber, b: NodeNumber) {
        self.cut.insert(key(a, b));
        let doomed: Vec<ConnId> = self
            .ends
            .iter()
            .filter(|(_, end)| key(end.owner, self.ends.get(&end.other).map_or(0, |o| o.owner)) == key(a, b))
            .map(|(c, _)| *c)
            .collect();
        for conn in doomed {
            self.fail(conn);
        }
    }

    /// Restores a cut link.
    pub fn heal(&mut self, a: NodeNumber, b: NodeNumber) {
        self.cut.remove(&key(a, b));
    }

    /// Simulates a power cut of `number`: its store loses what was not durable, its peers
    /// see their connections fail.
    pub fn crash(&mut self, number: NodeNumber) {
        let Some(Host::Up(node)) = self.hosts.remove(&number) else { panic!("node {number} is not up") };
        let config = node.config().clone();
        let mut store = node.into_store();
        store.crash();
        self.hosts.insert(number, Host::Down(Box::new(Crashed { config, store })));
        let mine: Vec<ConnId> = self.ends.iter().filter(|(_, e)| e.owner == number).map(|(c, _)| *c).collect();
        for conn in mine {
            self.fail(conn);
        }
    }

    /// Restarts a crashed node from its store.
    pub fn restart(&mut self, number: NodeNumber) {
        let Some(Host::Down(crashed)) = self.hosts.remove(&number) else { panic!("node {number} is not down") };
        let node = FederationNode::recover(crashed.config, crashed.store, self.now_ms).expect("recovers");
        self.hosts.insert(number, Host::Up(Box::new(node)));
    }

    /// Both ends of `conn` fail now; packets in flight on it are lost.
    fn fail(&mut self, conn: ConnId) {
        let Some(end) = self.ends.remove(&conn) else { return };
        let other = self.ends.remove(&end.other);
        self.packets.retain(|p| p.to != conn && p.to != end.other);
        let now = self.now_ms;
        if let Some(Host::Up(node)) = self.hosts.get_mut(&end.owner) {
            node.disconnected(conn, now);
        }
        if let Some(other_end) = other
            && let Some(Host::Up(node)) = self.hosts.get_mut(&other_end.owner)
        {
            node.disconnected(end.other, now);
        }
    }

    /// Runs until `until_ms` in steps of `step_ms`.
    pub fn run(&mut self, until_ms: u64, step_ms: u64) {
        while self.now_ms < until_ms {
            self.now_ms = (self.now_ms + step_ms).min(until_ms);
            self.step();
        }
    }

    /// Runs until `done` holds (checked after every step) or `until_ms`; returns the time.
    pub fn run_until(&mut self, until_ms: u64, step_ms: u64, mut done: impl FnMut(&mut Lab) -> bool) -> Option<u64> {
        while self.now_ms < until_ms {
            self.now_ms = (self.now_ms + step_ms).min(until_ms);
            self.step();
            if done(self) {
                return Some(self.now_ms);
            }
        }
        None
    }

    fn step(&mut self) {
        let now = self.now_ms;
        let numbers: Vec<NodeNumber> = self.hosts.keys().copied().collect();
        for number in &numbers {
            if let Some(Host::Up(node)) = self.hosts.get_mut(number) {
                node.tick(now);
            }
        }
        // Deliver what is due and pass outputs on until nothing more happens this step.
        for _ in 0..10_000 {
            let moved = self.deliver_due() + self.pump();
            if moved == 0 {
                return;
            }
        }
        panic!("the lab did not settle within a step");
    }

    fn deliver_due(&mut self) -> usize {
        let now = self.now_ms;
        let (due, later): (Vec<Packet>, Vec<Packet>) = std::mem::take(&mut self.packets).into_iter().partition(|p| p.at_ms <= now);
        self.packets = later;
        let count = due.len();
        for packet in due {
            let Some(end) = self.ends.get(&packet.to).copied() else { continue };
            let Some(Host::Up(node)) = self.hosts.get_mut(&end.owner) else { continue };
            match packet.bytes {
                Some(bytes) => node.receive(packet.to, &bytes, now),
                None => {
                    self.ends.remove(&packet.to);
                    node.disconnected(packet.to, now);
                }
            }
        }
        count
    }

    fn pump(&mut self) -> usize {
        let mut moved = 0;
        let numbers: Vec<NodeNumber> = self.hosts.keys().copied().collect();
        for number in numbers {
            while let Some(output) = self.poll_host(number) {
                moved += 1;
                self.handle(number, output);
            }
        }
        moved
    }

    fn poll_host(&mut self, number: NodeNumber) -> Option<Output> {
        match self.hosts.get_mut(&number) {
            Some(Host::Up(node)) => node.poll(),
            _ => None,
        }
    }

    fn handle(&mut self, from: NodeNumber, output: Output) {
        let now = self.now_ms;
        match output {
            Output::Transmit { conn, bytes } => {
                let Some(end) = self.ends.get(&conn).copied() else { return };
                self.bytes_carried += bytes.len() as u64;
                self.packets.push(Packet { at_ms: now + end.delay_ms, to: end.other, bytes: Some(bytes) });
            }
            Output::Close { conn } => {
                if let Some(end) = self.ends.remove(&conn) {
                    self.packets.push(Packet { at_ms: now + end.delay_ms, to: end.other, bytes: None });
                }
            }
            Output::Connect { node: to, .. } => self.connect(from, to),
            Output::Deliver(delivery) => {
                let id = delivery.id;
                self.delivered.entry(from).or_default().push(delivery);
                self.node(from).delivered(id);
            }
            Output::Held(_) | Output::Log(_) => {}
        }
    }

    fn connect(&mut self, from: NodeNumber, to: NodeNumber) {
        let Some(&delay_ms) = self.links.get(&key(from, to)) else { return };
        if self.cut.contains(&key(from, to)) || !matches!(self.hosts.get(&to), Some(Host::Up(_))) {
            return;
        }
        let (a, b) = (ConnId(self.next_conn), ConnId(self.next_conn + 1));
        self.next_conn += 2;
        self.connections_opened += 1;
        self.ends.insert(a, End { owner: from, other: b, delay_ms });
        self.ends.insert(b, End { owner: to, other: a, delay_ms });
        let now = self.now_ms;
        self.node(from).connected(a, Origin::Dialled(to), now);
        self.node(to).connected(b, Origin::Accepted, now);
    }

    /// Every node that is up holds the same replicated state.
    pub fn converged(&self) -> bool {
        let mut states = self.nodes().map(|n| n.state());
        let Some(first) = states.next() else { return true };
        states.all(|s| s == first)
    }

    /// Replication messages sent by all nodes.
    pub fn replication_sent(&self) -> u64 {
        self.nodes().map(|n| n.counters().replication_sent).sum()
    }
}

/// A bare TCPCL peer speaking to one node's connection `conn`.
pub struct Peer {
    pub session: Session,
    pub conn: ConnId,
    pub events: Vec<Event>,
}

impl Peer {
    /// Connects a peer with node ID `ipn:peer.0` to `node` as an accepted connection.
    pub fn connect(node: &mut FederationNode<MemoryStore>, peer: NodeNumber, conn: ConnId) -> Peer {
        let session = Session::new(Role::Active, Config::new(format!("ipn:{peer}.0")), 0);
        node.connected(conn, Origin::Accepted, 0);
        let mut p = Peer { session, conn, events: Vec::new() };
        p.exchange(node, 0);
        p
    }

    /// Moves bytes both ways until neither side has any; returns the bytes the node sent.
    pub fn exchange(&mut self, node: &mut FederationNode<MemoryStore>, now_ms: u64) -> Vec<u8> {
        let mut from_node = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(bytes) = self.session.poll_transmit() {
                node.receive(self.conn, &bytes, now_ms);
                moved = true;
            }
            while let Some(output) = node.poll() {
                if let Output::Transmit { conn, bytes } = output
                    && conn == self.conn
                {
                    self.session.receive(&bytes, now_ms);
                    from_node.extend_from_slice(&bytes);
                    moved = true;
                }
            }
            while let Some(event) = self.session.poll_event() {
                self.events.push(event);
            }
            if !moved {
                break;
            }
        }
        from_node
    }
}
