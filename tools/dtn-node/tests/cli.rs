//! Runs the `listen` and `send` commands of `tileos-dtn-node` against each other on loopback
//! and checks the JSON lines, and checks that bad arguments give clear errors.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tileos-dtn-node");

/// Runs the program with `args` (standard input closed), expects it to fail and returns its
/// standard error.
fn failing(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("run");
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Starts `listen` on a free port; returns the child and the address it reported.
fn start_listener(count: u32) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["listen", "127.0.0.1:0", "--node", "ipn:2.0", "--count", &count.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start listener");
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().expect("stderr")).read_line(&mut line).expect("read listener banner");
    let addr = line.trim().strip_prefix("listening on ").expect("banner").to_string();
    (child, addr)
}

fn send(addr: &str, extra: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(["send", addr, "--source", "ipn:1.1", "--dest", "ipn:2.1", "--lifetime", "3600"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sender");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("sender output")
}

fn wait(mut child: Child) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().expect("poll").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().expect("kill");
            panic!("listener did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("listener output")
}

#[test]
fn send_and_listen_exchange_bundles_as_json() {
    let (listener, addr) = start_listener(3);

    let text = send(&addr, &[], b"hello from tile 1");
    assert!(text.status.success(), "send text: {}", String::from_utf8_lossy(&text.stderr));

    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let file = std::env::temp_dir().join(format!("dtn-node-test-{}.bin", std::process::id()));
    std::fs::write(&file, &binary).expect("payload file");
    let path = file.to_str().expect("path");
    let bin = send(&addr, &["--payload-file", path, "--crc", "crc16"], b"");
    assert!(bin.status.success(), "send file: {}", String::from_utf8_lossy(&bin.stderr));

    // Fragmented on the way, reassembled by the listener.
    let big = send(&addr, &["--payload-file", path, "--max-bundle-size", "1000"], b"");
    assert!(big.status.success(), "send fragments: {}", String::from_utf8_lossy(&big.stderr));
    std::fs::remove_file(&file).ok();

    let out = wait(listener);
    assert!(out.status.success());
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), 3);

    let first = &lines[0];
    assert_eq!(first["version"], 7);
    assert_eq!(first["source"], "ipn:1.1");
    assert_eq!(first["destination"], "ipn:2.1");
    assert_eq!(first["report_to"], "ipn:1.1");
    assert_eq!(first["lifetime_ms"], 3_600_000);
    assert_eq!(first["crc_type"], "crc32c");
    assert_eq!(first["flags"], 0);
    assert!(first["creation_timestamp"]["time_ms"].as_u64().expect("time") > 0);
    assert_eq!(first["payload_utf8"], "hello from tile 1");

    let second = &lines[1];
    assert_eq!(second["crc_type"], "crc16-x25");
    assert_eq!(second["payload_length"], 3000);
    let expected = base64_of(&binary);
    assert_eq!(second["payload_base64"], expected.as_str());

    let third = &lines[2];
    assert_eq!(third["payload_base64"], expected.as_str());
    assert_eq!(third["flags"], 0, "reassembled bundle is not a fragment");
}

/// Standard base64 with padding, written out here so the test does not trust the tool's encoder.
fn base64_of(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn bad_arguments_give_clear_errors() {
    let err = failing(&["send", "127.0.0.1:1", "--source", "ipn:1.1", "--dest", "mailto:x", "--lifetime", "1"]);
    assert!(err.contains("--dest") && err.contains("endpoint ID"), "{err}");
    let err = failing(&["send", "127.0.0.1:1", "--source", "ipn:1.1", "--dest", "ipn:2.1", "--payload-file", "/nonexistent/x"]);
    assert!(err.contains("--payload-file /nonexistent/x"), "{err}");

    let err = failing(&["node", "127.0.0.1:0", "--node", "ipn:2.0", "--spool", "/tmp/x", "--route", "ipn:3.*"]);
    assert!(err.contains("--route") && err.contains("PATTERN=HOST:PORT"), "{err}");
    let err = failing(&["node", "127.0.0.1:0", "--node", "ipn:2.0", "--spool", "/proc/no-spool-here"]);
    assert!(err.contains("cannot create spool directory /proc/no-spool-here/queue"), "{err}");
    let err = failing(&["send", "127.0.0.1:1", "--source", "ipn:1.1", "--dest", "ipn:2.1", "--hop-limit", "0"]);
    assert!(err.contains("--hop-limit"), "{err}");

    // Nobody listens on the port of a listener we bound and dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}");
    let refused = send(&addr, &[], b"x");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&format!("cannot connect to {addr}")), "{err}");
}
