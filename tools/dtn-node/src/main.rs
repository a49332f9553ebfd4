//! `tileos-dtn-node`: a command-line BPv7 node over TCPCLv4.
//!
//! `listen <host:port> --node ipn:2.0` accepts TCPCL sessions and prints each received bundle
//! as one JSON line on standard output; `send <host:port> --source … --dest … --lifetime …`
//! sends one bundle whose payload comes from a file or standard input.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use tileos_bpv7::{Bundle, CrcType, CreationTimestamp, Eid, Policy, Reassembler};
use tileos_dtn_node::{bundle_json, dtn_now_ms, run_session};
use tileos_tcpcl::{Config, Event, Role, Session, TermReason};

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
    /// Send one bundle to a TCPCL listener.
    Send {
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
        /// Our node ID for SESS_INIT; defaults to the source EID.
        #[arg(long, value_parser = parse_eid)]
        node: Option<Eid>,
        /// CRC type of every block.
        #[arg(long, value_enum, default_value_t = Crc::Crc32c)]
        crc: Crc,
        /// Fragment the bundle so that no fragment encodes to more than this many bytes.
        #[arg(long)]
        max_bundle_size: Option<usize>,
        /// Give up if the transfer has not been acknowledged after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Crc {
    Crc16,
    Crc32c,
}

fn parse_eid(text: &str) -> Result<Eid, String> {
    text.parse::<Eid>().map_err(|e| format!("not an ipn: or dtn: endpoint ID ({e})"))
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Listen { addr, node, count } => listen(&addr, &node, count),
        Command::Send { addr, source, dest, lifetime, payload_file, node, crc, max_bundle_size, timeout } => {
            let crc = match crc {
                Crc::Crc16 => CrcType::Crc16X25,
                Crc::Crc32c => CrcType::Crc32C,
            };
            let node = node.unwrap_or_else(|| source.clone());
            read_payload(payload_file.as_ref()).and_then(|payload| {
                let bundle = Bundle::builder(source, dest)
                    .creation(CreationTimestamp { time_ms: dtn_now_ms().unwrap_or(0), sequence: 0 })
                    .lifetime_ms(lifetime.saturating_mul(1000))
                    .crc_type(crc)
                    .bundle_age_ms(0)
                    .payload(payload)
                    .build()
                    .map_err(|e| format!("cannot build the bundle: {e}"))?;
                send(&addr, &node, &bundle, max_bundle_size, Duration::from_secs(timeout))
            })
        }
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

fn listen(addr: &str, node: &Eid, count: Option<u64>) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("listener address: {e}"))?;
    eprintln!("listening on {local}");
    let mut printed = 0u64;
    let mut reassembler = Reassembler::new(64 << 20, 256 << 20);
    for stream in listener.incoming() {
        let stream = stream.map_err(|e| format!("accept on {local}: {e}"))?;
        let peer = stream.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string());
        let session = Session::new(Role::Passive, Config::new(node.to_string()), 0);
        let done = |printed: u64| count.is_some_and(|c| printed >= c);
        let outcome = run_session(stream, session, None, |session, event| {
            match event {
                Event::BundleReceived { data, .. } => match receive_bundle(&data, &mut reassembler) {
                    Ok(Some(bundle)) => {
                        let mut out = io::stdout().lock();
                        writeln!(out, "{}", bundle_json(&bundle))?;
                        out.flush()?;
                        printed += 1;
                        if done(printed) {
                            session.terminate(TermReason::Unknown);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => eprintln!("dropped a bundle from {peer}: {e}"),
                },
                Event::Established(info) => eprintln!("session with {} ({peer})", info.node_id),
                _ => {}
            }
            Ok(())
        });
        match outcome {
            Ok(None) => {}
            Ok(Some(error)) => eprintln!("session with {peer} ended: {error}"),
            Err(e) => eprintln!("session with {peer} failed: {e}"),
        }
        if done(printed) {
            return Ok(());
        }
    }
    Ok(())
}

/// Decodes a received bundle; fragments go through the reassembler.
fn receive_bundle(data: &[u8], reassembler: &mut Reassembler) -> Result<Option<Bundle>, String> {
    let bundle = Bundle::decode(data, Policy::Strict).map_err(|e| e.to_string())?;
    if bundle.fragment.is_none() {
        return Ok(Some(bundle));
    }
    reassembler.push(bundle).map_err(|e| e.to_string())
}

fn send(addr: &str, node: &Eid, bundle: &Bundle, max_bundle_size: Option<usize>, timeout: Duration) -> Result<(), String> {
    let pieces = match max_bundle_size {
        Some(max) => bundle.fragment(max).map_err(|e| format!("cannot fragment: {e}"))?,
        None => vec![bundle.clone()],
    };
    let mut encoded = Vec::with_capacity(pieces.len());
    for piece in &pieces {
        encoded.push(piece.encode().map_err(|e| format!("cannot encode: {e}"))?);
    }
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let session = Session::new(Role::Active, Config::new(node.to_string()), 0);
    let mut pending = encoded.len();
    let mut failure = None;
    let outcome = run_session(stream, session, Some(Instant::now() + timeout), |session, event| {
        match event {
            Event::Established(peer) => {
                for bytes in encoded.drain(..) {
                    if let Err(e) = session.send_bundle(bytes) {
                        failure = Some(format!("peer {} will not take the bundle: {e:?}", peer.node_id));
                        session.terminate(TermReason::Unknown);
                        break;
                    }
                }
            }
            Event::TransferAcked { complete: true, .. } => {
                pending = pending.saturating_sub(1);
                if pending == 0 {
                    session.terminate(TermReason::Unknown);
                }
            }
            Event::TransferRefused { reason, .. } => {
                failure = Some(format!("peer refused the bundle ({reason:?})"));
                session.terminate(TermReason::Unknown);
            }
            Event::Terminated { by_peer: true, reason } if pending > 0 => {
                failure = Some(format!("peer ended the session ({reason:?})"));
            }
            _ => {}
        }
        Ok(())
    });
    match outcome {
        Err(e) => Err(format!("session with {addr}: {e}")),
        Ok(Some(error)) if failure.is_none() => Err(format!("session with {addr}: {error}")),
        Ok(_) => match failure {
            Some(message) => Err(message),
            None if pending > 0 => Err(format!("session with {addr} ended before {pending} bundle(s) were acknowledged")),
            None => {
                eprintln!("sent {} bytes in {} bundle(s) to {addr}", bundle.payload().len(), pieces.len());
                Ok(())
            }
        },
    }
}
