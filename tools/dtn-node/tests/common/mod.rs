//! Helpers shared by the integration tests: a hand-driven TCPCLv4 peer speaking raw
//! messages, and running the `tileos-dtn-node` binary with its standard error collected.

#![allow(dead_code)] // Each test binary uses a different part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tileos_tcpcl::msg::{self, Limits, Message};

/// The program under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tileos-dtn-node");

/// A TCPCLv4 peer driven message by message, to play the deviating or stubborn peers.
pub struct RawPeer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
        RawPeer { stream, buf: Vec::new() }
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the node");
    }

    /// Writes one message.
    pub fn send(&mut self, message: &Message) {
        let mut out = Vec::new();
        message.encode(&mut out);
        self.send_raw(&out);
    }

    /// Reads more bytes; false at end of stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads the 6-byte contact header.
    pub fn contact_header(&mut self) -> [u8; 6] {
        while self.buf.len() < 6 {
            assert!(self.fill(), "connection closed before the contact header");
        }
        let header: [u8; 6] = self.buf[..6].try_into().expect("six bytes");
        self.buf.drain(..6);
        header
    }

    /// The next message, or `None` once the connection is closed.
    pub fn message(&mut self) -> Option<Message> {
        let limits = Limits { segment_mru: u64::MAX, max_extensions: u32::MAX };
        loop {
            if let Some((message, len)) = msg::decode(&self.buf, &limits).expect("well-formed TCPCL from the node") {
                self.buf.drain(..len);
                return Some(message);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Our SESS_INIT as node `node_id`: no keepalive, large MRUs.
    pub fn sess_init(&mut self, node_id: &str) {
        self.send(&Message::SessInit {
            keepalive: 0,
            segment_mru: 1 << 20,
            transfer_mru: 1 << 30,
            node_id: node_id.as_bytes().to_vec(),
            extensions: Vec::new(),
        });
    }

    /// Plays the passive side's contact header and SESS_INIT exchange; returns the node ID
    /// the active side sent.
    pub fn accept_session(&mut self, node_id: &str) -> String {
        assert_eq!(&self.contact_header()[..5], b"dtn!\x04");
        self.send_raw(&msg::contact_header(0));
        let Some(Message::SessInit { node_id: theirs, .. }) = self.message() else { panic!("expected SESS_INIT") };
        self.sess_init(node_id);
        String::from_utf8(theirs).expect("UTF-8 node ID")
    }

    /// Plays the active side's opening; returns the passive side's node ID.
    pub fn open_session(&mut self, node_id: &str) -> String {
        self.send_raw(&msg::contact_header(0));
        self.sess_init(node_id);
        assert_eq!(&self.contact_header()[..5], b"dtn!\x04");
        let Some(Message::SessInit { node_id: theirs, .. }) = self.message() else { panic!("expected SESS_INIT") };
        String::from_utf8(theirs).expect("UTF-8 node ID")
    }

    /// Reads segments until one with END; returns its transfer ID and the transfer's length.
    pub fn transfer(&mut self) -> (u64, u64) {
        let mut total = 0;
        loop {
            match self.message() {
                Some(Message::XferSegment { flags, transfer_id, data, .. }) => {
                    total += data.len() as u64;
                    if flags & msg::FLAG_END != 0 {
                        return (transfer_id, total);
                    }
                }
                Some(Message::Keepalive) => {}
                other => panic!("expected a segment, got {other:?}"),
            }
        }
    }

    /// Every message until the connection closes.
    pub fn rest(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.message()).collect()
    }
}

/// A running `tileos-dtn-node` whose standard error lines are collected.
pub struct Running {
    /// The process.
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Starts the program with `args`.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tileos-dtn-node");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                sink.lock().expect("lines").push(line);
            }
        });
        Running { child, lines }
    }

    /// Waits up to 30 s for a standard error line satisfying `pred` and returns it.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().expect("lines").iter().find(|l| pred(l)) {
                return line.clone();
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no line {what} in:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address from the `listening on ADDR` line.
    pub fn addr(&self) -> String {
        self.wait_for("listening on", |l| l.starts_with("listening on ")).trim_start_matches("listening on ").to_string()
    }

    /// All standard error so far.
    pub fn stderr(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `send` to `addr` with `args` and the payload on standard input.
pub fn send(addr: &str, args: &[&str], payload: &[u8]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("send")
        .arg(addr)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sender");
    child.stdin.take().expect("stdin").write_all(payload).expect("write stdin");
    child.wait_with_output().expect("sender output")
}
