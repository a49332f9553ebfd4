//! `tileos-dtn-node`: a command-line BPv7 node over TCPCLv4.
//!
//! `listen` accepts TCPCL sessions (each on its own thread) and prints each received bundle as
//! one JSON line; `send` sends one bundle, or `--count N` copies in one session; `node` runs
//! a store-and-forward node with a spool directory and static routes; `bench` prints bundles
//! per second over loopback.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use tileos_bpv7::{Bundle, CrcType, CreationTimestamp, Eid, HopCount, Policy, Reassembler};
use tileos_dtn_node::node::{NodeConfig, Route};
use tileos_dtn_node::serve::{Sink, serve};
use tileos_dtn_node::transfer::send_bundles;
use tileos_dtn_node::{bench, bundle_json, dtn_now_ms, node_id_of};
use tileos_tcpcl::RefuseReason;

#[derive(Parser)]
#[command(name = "tileos-dtn-node", version, about = "BPv7 node over TCPCLv4 (RFC 9171, RFC 9174)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Accept TCPCL sessions and print every received bundle as one JSON line.
    Listen {
        /// Address to listen on, e.g. 127.0.0.1:4556 (port 0 picks a free port).
        addr: String,
        /// Our node ID, sent in SESS_INIT.
        #[arg(long, value_parser = parse_eid)]
        node: Eid,
        /// Exit after printing this many bundles.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Send one bundle (or --count copies) to a TCPCL peer over one session.
    Send(SendArgs),
    /// Run a store-and-forward node: a TCPCL listener, a spool directory and static routes.
    Node {
        /// Address to listen on, e.g. 0.0.0.0:4556 (port 0 picks a free port).
        addr: String,
        /// Our node ID, e.g. ipn:2.0; bundles for its endpoints are delivered locally.
        #[arg(long, value_parser = parse_eid)]
        node: Eid,
        /// Spool directory: queue/ holds bundles kept for forwarding, delivered/ what was delivered.
        #[arg(long)]
        spool: PathBuf,
        /// A static route PATTERN=HOST:PORT; PATTERN is an endpoint ID, a prefix ending in `*`
        /// (e.g. ipn:3.* or dtn://hub/*) or `*`. The first matching route wins. Repeatable.
        #[arg(long = "route", value_parser = parse_route)]
        routes: Vec<Route>,
        /// Longest wait between attempts to reach an unreachable peer, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        retry_max_ms: u64,
        /// Print the counters every this many milliseconds.
        #[arg(long, default_value_t = 60_000)]
        status_interval_ms: u64,
    },
    /// Print bundles per second over loopback in one session, for 1 KiB and 64 KiB payloads.
    Bench {
        /// Bundles sent per payload size (64 KiB sends at most 4096, to bound memory).
        #[arg(long, default_value_t = 20_000)]
        count: usize,
    },
}

#[derive(clap::Args)]
struct SendArgs {
    /// Address of the peer, e.g. 127.0.0.1:4556.
    addr: String,
    /// Source endpoint ID, e.g. ipn:1.1.
    #[arg(long, value_parser = parse_eid)]
    source: Eid,
    /// Destination endpoint ID, e.g. ipn:2.1.
    #[arg(long, value_parser = parse_eid)]
    dest: Eid,
    /// Bundle lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    lifetime: u64,
    /// File holding the payload; standard input if absent.
    #[arg(long)]
    payload_file: Option<PathBuf>,
    /// Our node ID for SESS_INIT; defaults to the node ID of --source (ipn:1.0 for ipn:1.1).
    #[arg(long, value_parser = parse_eid)]
    node: Option<Eid>,
    /// CRC type of every block.
    #[arg(long, value_enum, default_value_t = Crc::Crc32c)]
    crc: Crc,
    /// Fragment the bundle so that no fragment encodes to more than this many bytes.
    #[arg(long)]
    max_bundle_size: Option<usize>,
    /// Add a hop count block with this hop limit (1 to 255; RFC 9171 §4.4.3).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=255))]
    hop_limit: Option<u64>,
    /// Send this many bundles with the same payload (sequence numbers 0, 1, …) in one session.
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Give up (ending the session with SESS_TERM) if not all transfers are acknowledged
    /// after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Crc {
    Crc16,
    Crc32c,
}

fn parse_eid(text: &str) -> Result<Eid, String> {
    text.parse::<Eid>().map_err(|e| format!("not an ipn: or dtn: endpoint ID ({e})"))
}

fn parse_route(text: &str) -> Result<Route, String> {
    text.parse()
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Listen { addr, node, count } => listen(&addr, &node, count),
        Command::Send(args) => send(args),
        Command::Node { addr, node, spool, routes, retry_max_ms, status_interval_ms } => tileos_dtn_node::node::run(NodeConfig {
            listen: addr,
            node,
            spool,
            routes,
            retry_max: Duration::from_millis(retry_max_ms),
            status_interval: Duration::from_millis(status_interval_ms),
        }),
        Command::Bench { count } => run_bench(count),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tileos-dtn-node: {message}");
            ExitCode::FAILURE
        }
    }
}

fn read_payload(file: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) => std::fs::read(path).map_err(|e| format!("cannot read --payload-file {}: {e}", path.display())),
        None => {
            let mut data = Vec::new();
            io::stdin().read_to_end(&mut data).map_err(|e| format!("cannot read the payload from standard input: {e}"))?;
            Ok(data)
        }
    }
}

/// Prints every received bundle (fragments reassembled first) as one JSON line.
struct Printer {
    reassembler: Mutex<Reassembler>,
    printed: AtomicU64,
    count: Option<u64>,
}

impl Printer {
    /// Decodes a received bundle; fragments go through the reassembler.
    fn complete_bundle(&self, data: &[u8]) -> Result<Option<Bundle>, String> {
        let bundle = Bundle::decode(data, Policy::Strict).map_err(|e| e.to_string())?;
        if bundle.fragment.is_none() {
            return Ok(Some(bundle));
        }
        let mut reassembler = self.reassembler.lock().map_err(|_| "reassembler poisoned".to_string())?;
        reassembler.push(bundle).map_err(|e| e.to_string())
    }
}

impl Sink for Printer {
    fn bundle(&self, peer: &str, data: Vec<u8>) -> Result<(), RefuseReason> {
        match self.complete_bundle(&data) {
            Ok(Some(bundle)) => {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", bundle_json(&bundle)).and_then(|()| out.flush()).map_err(|_| RefuseReason::NoResources)?;
                self.printed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                eprintln!("refused a bundle from {peer}: {e}");
                Err(RefuseReason::NotAcceptable)
            }
        }
    }

    fn session_failed(&self, peer: &str, error: &str) {
        eprintln!("session with {peer} failed: {error}");
    }

    fn finished(&self) -> bool {
        self.count.is_some_and(|c| self.printed.load(Ordering::SeqCst) >= c)
    }
}

fn listen(addr: &str, node: &Eid, count: Option<u64>) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("listener address: {e}"))?;
    eprintln!("listening on {local}");
    let printer = Printer { reassembler: Mutex::new(Reassembler::new(64 << 20, 256 << 20)), printed: AtomicU64::new(0), count };
    serve(listener, node, Arc::new(printer))
}

fn send(args: SendArgs) -> Result<(), String> {
    let crc = match args.crc {
        Crc::Crc16 => CrcType::Crc16X25,
        Crc::Crc32c => CrcType::Crc32C,
    };
    let node = match args.node {
        Some(node) => node,
        None => node_id_of(&args.source).ok_or_else(|| format!("--source {} has no node ID; give --node", args.source))?,
    };
    let payload = read_payload(args.payload_file.as_ref())?;
    let payload_len = payload.len();
    let creation_ms = dtn_now_ms().unwrap_or(0);
    let mut encoded = Vec::new();
    for sequence in 0..args.count {
        let mut bundle = Bundle::builder(args.source.clone(), args.dest.clone())
            .creation(CreationTimestamp { time_ms: creation_ms, sequence })
            .lifetime_ms(args.lifetime.saturating_mul(1000))
            .crc_type(crc)
            .bundle_age_ms(0)
            .payload(payload.clone())
            .build()
            .map_err(|e| format!("cannot build the bundle: {e}"))?;
        if let Some(limit) = args.hop_limit {
            bundle.set_hop_count(HopCount { limit, count: 0 });
        }
        let pieces = match args.max_bundle_size {
            Some(max) => bundle.fragment(max).map_err(|e| format!("cannot fragment to --max-bundle-size {max}: {e}"))?,
            None => vec![bundle],
        };
        for piece in &pieces {
            encoded.push(piece.encode().map_err(|e| format!("cannot encode: {e}"))?);
        }
    }
    let transfers = encoded.len();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let outcome = send_bundles(&args.addr, &node, encoded, deadline, |_| {})?;
    if let Some((index, reason)) = outcome.refused.first() {
        return Err(format!("peer at {} refused transfer {index} ({reason:?})", args.addr));
    }
    eprintln!("sent {payload_len} bytes in {transfers} bundle(s) to {}", args.addr);
    Ok(())
}

fn run_bench(count: usize) -> Result<(), String> {
    println!("{:>9} {:>8} {:>12}", "payload", "bundles", "bundles/s");
    for size in [1024usize, 65_536] {
        let n = count.min((256 << 20) / size).max(1);
        let rate = bench::bundles_per_second(size, n)?;
        println!("{size:>9} {n:>8} {rate:>12.0}");
    }
    Ok(())
}
