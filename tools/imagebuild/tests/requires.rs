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

#[test]
fn the_echo_server_requires_its_served_endpoint() {
    let elf = std::fs::read(echo_server()).expect("fixture");
    let manifest = requires::manifest(&elf).expect("readable");
    assert_eq!(manifest, Some(vec![(Kind::Cap(CapKind::ServedEndpoint), String::from("echo"), false)]));
}

#[test]
fn a_program_without_a_manifest_is_not_checked() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland/elf/corpus/bench-server.elf");
    let elf = std::fs::read(corpus).expect("corpus");
    assert_eq!(requires::manifest(&elf), Ok(None));
}

#[test]
fn two_echo_servers_each_get_their_echo_under_their_own_name() {
    let dir = std::env::temp_dir().join(format!("tileos-requires-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let description = dir.join("two.toml");
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
