//! `tileos-build-support`: the one build script of every package with bare-metal binaries.
//!
//! Each such package lists this crate under `[build-dependencies]` and its `build.rs` is one
//! line:
//!
//! ```text
//! fn main() { tileos_build_support::link_bare_metal_bins("userland/user.ld") }
//! ```
//!
//! (docs/build.md: "Building bare-metal Rust on the host target").

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// The linker arguments of every bare-metal binary, before its link script: no C runtime, no
/// libc, a static non-PIE executable without a build-id note, 4 KiB segment alignment, and
/// unused sections dropped.
pub const LINK_ARGS: [&str; 7] = [
    "-nostartfiles",
    "-nostdlib",
    "-static",
    "-no-pie",
    "-Wl,--build-id=none",
    "-Wl,-z,max-page-size=0x1000",
    "-Wl,--gc-sections",
];

/// The link script shared by every user-space binary (root server, drivers, domains),
/// relative to the workspace root.
pub const USER_LINK_SCRIPT: &str = "userland/user.ld";

/// Called from a package's `build.rs`: links the package's binaries — and only them, so that
/// its library stays host-testable — as bare-metal executables with [`LINK_ARGS`] and
/// `link_script`, a path relative to the workspace root (`userland/user.ld` for user space,
/// `kernel/link.ld` for the kernel). Cargo reruns the build script when the link script
/// changes.
///
/// Panics (failing the build with the message) if the link script does not exist.
pub fn link_bare_metal_bins(link_script: &str) {
    for line in directives(&workspace_root(), link_script) {
        println!("{line}");
    }
}

/// The workspace root: this crate lives in `tools/build-support`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root of tools/build-support exists")
}

/// The `cargo:` lines [`link_bare_metal_bins`] prints for the workspace at `root`.
fn directives(root: &Path, link_script: &str) -> Vec<String> {
    let script = root.join(link_script);
    assert!(
        script.is_file(),
        "tileos-build-support: link script {} not found",
        script.display()
    );
    let mut lines: Vec<String> = LINK_ARGS
        .iter()
        .map(|arg| format!("cargo:rustc-link-arg-bins={arg}"))
        .collect();
    lines.push(format!("cargo:rustc-link-arg-bins=-T{}", script.display()));
    lines.push(format!("cargo:rerun-if-changed={}", script.display()));
    lines
}

#[cfg(test)]
mod tests {
    use super::{USER_LINK_SCRIPT, directives, workspace_root};

    #[test]
    fn user_binaries_get_the_link_arguments_and_the_shared_script() {
        let root = workspace_root();
        let lines = directives(&root, USER_LINK_SCRIPT);
        let script = root.join("userland/user.ld");
        assert_eq!(
            lines,
            [
                "cargo:rustc-link-arg-bins=-nostartfiles".to_string(),
                "cargo:rustc-link-arg-bins=-nostdlib".to_string(),
                "cargo:rustc-link-arg-bins=-static".to_string(),
                "cargo:rustc-link-arg-bins=-no-pie".to_string(),
                "cargo:rustc-link-arg-bins=-Wl,--build-id=none".to_string(),
                "cargo:rustc-link-arg-bins=-Wl,-z,max-page-size=0x1000".to_string(),
                "cargo:rustc-link-arg-bins=-Wl,--gc-sections".to_string(),
                format!("cargo:rustc-link-arg-bins=-T{}", script.display()),
                format!("cargo:rerun-if-changed={}", script.display()),
            ]
        );
    }

    #[test]
    fn the_kernel_script_is_found_too() {
        let lines = directives(&workspace_root(), "kernel/link.ld");
        assert!(lines.iter().any(|l| l.ends_with("kernel/link.ld") && l.contains("-T")));
    }

    #[test]
    #[should_panic(expected = "link script")]
    fn a_missing_link_script_fails_the_build() {
        directives(&workspace_root(), "userland/no-such.ld");
    }
}
