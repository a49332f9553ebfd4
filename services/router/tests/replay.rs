//! The `tileos-route` command: a query is routed, answered, verified and logged; re-running
//! its routing from the ledger entry alone prints the same route, and a doctored entry is
//! caught.

use std::path::PathBuf;
use std::process::Command;

use ed25519_dalek::SigningKey;
use tileos_router::route::Hex;
use tileos_router::{Choice, Policy, Request, route, sign_policy};
use tileos_verify::gate::Verdict;
use tileos_verify::ledger::Ledger;

const EXAMPLE: &str = include_str!("../policies/example.policy");

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("tileos-route-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }
    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tileos-route")).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn replay_of_a_logged_query_prints_the_same_route() {
    let files = Files::new("replay");
    let key = SigningKey::from_bytes(&[7; 32]);
    let sig = sign_policy(EXAMPLE.as_bytes(), &key);
    let policy_path = files.write("example.policy", EXAMPLE.as_bytes());
    let sig_path = files.write("sig.hex", Hex(&sig).to_string().as_bytes());
    let key_path = files.write("key.hex", Hex(key.verifying_key().as_bytes()).to_string().as_bytes());
    let policy = Policy::verify_and_parse(EXAMPLE.as_bytes(), &sig, &key.verifying_key()).unwrap();

    let request = Request { query: "write a short email".into(), topic: None, choice: Choice::ProvenanceMix(vec!["open".into()]) };
    let r = route(&policy, &request).unwrap();
    let entry = r.ledger_entry(&policy, &request, "Dear crew, ...", ([0; 32], 0), Verdict::NoQuorum { share: 0.5 }).unwrap();
    let mut ledger = Ledger::new();
    let index = ledger.append(&entry).unwrap();
    let entry_path = files.write("entry.bin", ledger.entry(index).unwrap());
    let common = ["--policy", &policy_path, "--sig", &sig_path, "--key", &key_path];

    let (code, replayed, err) = tool(&[&["replay"][..], &common, &["--entry", &entry_path]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(replayed, format!("{}replay MATCH\n", r.render(&policy)));
    assert!(replayed.contains("specialist draft-o base tiny-v1 adapter drafts-v1o lineage olmo provenance open"), "{replayed}");

    let (code, routed, _) = tool(&[&["route"][..], &common, &["--mix", "open", "write", "a", "short", "email"]].concat());
    assert_eq!(code, 0);
    assert_eq!(format!("{routed}replay MATCH\n"), replayed, "route and replay print the same route");

    // A doctored entry (specialists swapped after the fact) no longer matches its replay.
    let mut doctored = entry.clone();
    doctored.specialists.swap(0, 1);
    let doctored_path = files.write("doctored.bin", &doctored.encode().unwrap());
    let (code, out, _) = tool(&[&["replay"][..], &common, &["--entry", &doctored_path]].concat());
    assert_eq!(code, 1);
    assert!(out.ends_with("replay MISMATCH: the logged route differs\n"), "{out}");

    // A different policy than the one logged is refused by name.
    let other_policy = files.write("other.policy", EXAMPLE.replace("version=1", "version=2").as_bytes());
    let other_sig =
        files.write("other.hex", Hex(&sign_policy(EXAMPLE.replace("version=1", "version=2").as_bytes(), &key)).to_string().as_bytes());
    let (code, _, err) = tool(&["replay", "--policy", &other_policy, "--sig", &other_sig, "--key", &key_path, "--entry", &entry_path]);
    assert_eq!(code, 2);
    assert!(err.contains("entry was routed under policy"), "{err}");
}

#[test]
fn the_tool_names_what_is_wrong() {
    let files = Files::new("errors");
    let key = SigningKey::from_bytes(&[7; 32]);
    let policy_path = files.write("example.policy", EXAMPLE.as_bytes());
    let bad_sig = files.write("sig.hex", Hex(&[0u8; 64]).to_string().as_bytes());
    let key_path = files.write("key.hex", Hex(key.verifying_key().as_bytes()).to_string().as_bytes());
    let (code, _, err) = tool(&["route", "--policy", &policy_path, "--sig", &bad_sig, "--key", &key_path, "hello"]);
    assert_eq!(code, 2);
    assert!(err.contains("signature does not verify"), "{err}");
    let short = files.write("short.hex", b"abcd");
    let (code, _, err) = tool(&["route", "--policy", &policy_path, "--sig", &short, "--key", &key_path, "hello"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected 128 hex digits, found 4"), "{err}");
    let good_sig = files.write("good.hex", Hex(&sign_policy(EXAMPLE.as_bytes(), &key)).to_string().as_bytes());
    let (code, _, err) = tool(&["route", "--policy", &policy_path, "--sig", &good_sig, "--key", &key_path, "--topic", "astrology", "hi"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown topic 'astrology'"), "{err}");
    let garbage = files.write("garbage.bin", b"\x01\x00");
    let (code, _, err) = tool(&["replay", "--policy", &policy_path, "--sig", &good_sig, "--key", &key_path, "--entry", &garbage]);
    assert_eq!(code, 2);
    assert!(err.contains("input ends inside field 'query'"), "{err}");
}
