//! The capability manifest check (`tileos_imagebuild::requires`): a program on the domain
//! skeleton lists what it requires in its `.tileos.requires` section, and a description
//! is accepted exactly when every domain running it is granted each required capability,
//! under the domain's own name for it (`names`).

use std::path::{Path, PathBuf};
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::manifest::Kind;
use tileos_imagebuild::{Programs, build, requires};

/// The echo server as built (stripped), beside the broken descriptions.
fn echo_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken/echo-server")
}

/// A program without a manifest: the bench server of the ELF corpus.
fn bench_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland/elf/corpus/bench-server.elf")
}

/// A fresh scratch directory `tileos-requires-TEST-PID` and the path of description `file` in it.
fn scratch(test: &str, file: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tileos-requires-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let description = dir.join(file);
    (dir, description)
}

#[test]
fn the_echo_server_requires_its_served_endpoint() {
    let elf = std::fs::read(echo_server()).expect("fixture");
    let manifest = requires::manifest(&elf).expect("readable");
    assert_eq!(manifest, Some(vec![(Kind::Cap(CapKind::ServedEndpoint), String::from("echo"), false)]));
}

#[test]
fn a_program_without_a_manifest_is_not_checked() {
    let elf = std::fs::read(bench_server()).expect("corpus");
    assert_eq!(requires::manifest(&elf), Ok(None));
}

#[test]
fn two_echo_servers_each_get_their_echo_under_their_own_name() {
    let (dir, description) = scratch("rename", "two.toml");
    let text = r#"[tile]
name = "t"

[[domain]]
name = "echo"
program = "echo-server"
priority = 10

[[domain]]
name = "echo2"
program = "echo-server"
priority = 10
names = { echo = "echo2" }

[[endpoint]]
name = "echo"
server = "echo"
clients = [{ domain = "echo2", badge = 1 }]

[[endpoint]]
name = "echo2"
server = "echo2"
clients = [{ domain = "echo", badge = 2 }]
"#;
    std::fs::write(&description, text).expect("written");
    let programs = Programs { overrides: vec![(String::from("echo-server"), echo_server())], dirs: Vec::new() };
    let accepted = build(&description, &programs);
    // Without the rename the second server has no "echo" of its own.
    std::fs::write(&description, text.replace("names = { echo = \"echo2\" }\n", "")).expect("written");
    let refused = build(&description, &programs);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(accepted.is_ok(), "{:?}", accepted.err().map(|e| e.to_string()));
    let message = refused.expect_err("refused").to_string();
    assert!(message.ends_with(r#"two.toml:11: domain "echo2": field "program": program "echo-server" requires the served endpoint "echo", which this description does not grant to "echo2" (add an [[endpoint]] name = "echo" with server = "echo2", or give the domain names = { echo = "NAME" } to use another item of the description as its "echo")"#), "{message}");
}

/// An N-version slot's fallback is started at run time in whichever seat is spare, so its
/// manifest is checked against the seats beyond 0: the echo server, which serves "echo", cannot be
/// the fallback (a seat only calls endpoints), while a program without a manifest can.
#[test]
fn an_n_version_fallback_must_need_only_what_a_seat_holds() {
    let (dir, description) = scratch("fallback", "vote.toml");
    let text = r#"[tile]
name = "t"

[[domain]]
name = "svc"
program = "lineage-a"
priority = 100

[[domain]]
name = "user"
program = "lineage-a"
priority = 10

[[endpoint]]
name = "vote"
server = "svc"
clients = [{ domain = "user", badge = 1 }]

[[slot]]
name = "vote"
endpoint = "vote"
protocol = "echo"
incumbent = "svc"
allowance = []
challenger = { priority = 50, budget_ms = 5, period_ms = 50 }
n_version = { lineages = ["lineage-a", "lineage-b", "lineage-c"], fallback = "FALLBACK", replace_after = 3 }
"#;
    let corpus = bench_server();
    let build_with = |fallback: &str, fallback_elf: PathBuf| {
        std::fs::write(&description, text.replace("FALLBACK", fallback)).expect("written");
        let overrides = ["lineage-a", "lineage-b", "lineage-c", "slot-manager", "bundle-verifier"]
            .iter()
            .map(|name| (String::from(*name), corpus.clone()));
        let programs = Programs { overrides: overrides.chain([(String::from(fallback), fallback_elf)]).collect(), dirs: Vec::new() };
        build(&description, &programs)
    };
    let accepted = build_with("quiet-fallback", corpus.clone());
    let refused = build_with("echo-server", echo_server());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(accepted.is_ok(), "{:?}", accepted.err().map(|e| e.to_string()));
    let message = refused.expect_err("refused").to_string();
    assert!(
        message.ends_with(r#"vote.toml:26: slot "vote": n_version: field "fallback": program "echo-server" requires the served endpoint "echo", which seat "vote.seat1" (where the manager may start the fallback) does not hold: a seat holds the slot's allowance and its client capability "slot" (add "echo" to the allowance if the incumbent holds it, or choose a fallback that needs only those)"#),
        "{message}"
    );
}
