//! Every `tests/broken/NAME.toml` is rejected with exactly the message in `NAME.expected`
//! (issue 4: "a set of broken tile.toml files each rejected at build time with the expected
//! message"), by the library and by the command-line tool.

use std::path::{Path, PathBuf};
use std::process::Command;
use tileos_imagebuild::{Programs, build};

/// The broken descriptions with their expected messages, sorted by name.
fn cases() -> Vec<(PathBuf, String)> {
    let dir = Path::new("tests/broken");
    let mut cases: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .expect("tests/broken exists")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let expected = std::fs::read_to_string(p.with_extension("expected"))
                .unwrap_or_else(|e| panic!("{}: no .expected sidecar: {e}", p.display()));
            // Messages name the file as given: tests run from the package directory.
            (dir.join(p.file_name().expect("file name")), expected.trim_end().to_string())
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn each_broken_description_is_rejected_with_its_message() {
    let cases = cases();
    assert!(cases.len() >= 12, "only {} broken descriptions", cases.len());
    let mut failures = Vec::new();
    for (path, expected) in &cases {
        match build(path, &Programs::default()) {
            Ok(_) => failures.push(format!("{}: accepted", path.display())),
            Err(e) if e.to_string() != *expected => failures.push(format!("{}:\n  expected {expected}\n  got      {e}", path.display())),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_tool_prints_the_message_and_fails() {
    // --check stops before programs are looked up, so missing-program cases and those of
    // a program's capability manifest are left out.
    let checkable = cases().into_iter().filter(|(_, m)| !m.contains("no ELF for program") && !m.contains("\" requires the "));
    for (path, expected) in checkable {
        let out = Command::new(env!("CARGO_BIN_EXE_tileos-imagebuild")).arg(&path).arg("--check").output().expect("the tool runs");
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end(), expected, "{}", path.display());
    }
}
