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
pub const LINK_ARGS: [&str; 7] =
    ["-nostartfiles", "-nostdlib", "-static", "-no-pie", "-Wl,--build-id=none", "-Wl,-z,max-page-size=0x1000", "-Wl,--gc-sections"];

/// The link script shared by every user-space binary (root server, drivers, domains),
/// relative to the workspace root.
pub const USER_LINK_SCRIPT: &str = "userland/user.ld";

/// The programs that keep the link script's default address (4 MiB) instead of a
/// [`link_base`] of their own: the root server, which the kernel loads, and the fuzzer, whose
/// generated operations know where its image is (`IMAGE` in its `main.rs`) and steer random
/// instruction pointers into `0x1000_0000_0000..` away from it.
pub const AT_DEFAULT_BASE: [&str; 2] = ["tileos-rootserver", "fuzzer"];

/// First address of the program link bases: above the 4 MiB default, the description's
/// regions (low gigabytes) and the fuzzer's steered instruction pointers, below the root
/// server's heap (`0x5000_0000_0000`), the domains' heap (`0x6000_0000_0000`), stacks, IPC
/// buffers and information pages (just below `0x8000_0000_0000`).
pub const LINK_BASE_FIRST: u64 = 0x0000_2000_0000_0000;
/// Each program's slot: 1 GiB, far more than any program's text and data.
pub const LINK_SLOT_SIZE: u64 = 1 << 30;
/// Number of slots (32 TiB in all, `LINK_BASE_FIRST..0x4000_0000_0000`).
pub const LINK_SLOTS: u64 = 1 << 15;

/// The address user-space program `name` links at (docs/build.md, "Link addresses"): a
/// 1 GiB slot chosen by a hash of the name, so that no two programs share addresses and a
/// gdb breakpoint on one program's code stops only in the domain running that program
/// (`make debug`). [`AT_DEFAULT_BASE`] programs return `None` (4 MiB). Deterministic: the
/// same name links at the same address on every machine. A test of this crate checks that
/// the workspace's programs get distinct slots.
pub fn link_base(name: &str) -> Option<u64> {
    if AT_DEFAULT_BASE.contains(&name) {
        return None;
    }
    // FNV-1a, 64 bits.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    Some(LINK_BASE_FIRST + (hash % LINK_SLOTS) * LINK_SLOT_SIZE)
}

/// Called from a package's `build.rs`: links the package's binaries — and only them, so that
/// its library stays host-testable — as bare-metal executables with [`LINK_ARGS`] and
/// `link_script`, a path relative to the workspace root (`userland/user.ld` for user space,
/// `kernel/link.ld` for the kernel). With the user link script, each binary the package's
/// `Cargo.toml` declares (`[[bin]]` with `name = "…"`) links at its own [`link_base`]
/// (`--defsym=TILEOS_LINK_BASE=…`, which `userland/user.ld` uses when it is defined). Cargo
/// reruns the build script when the link script or the manifest changes.
///
/// Panics (failing the build with the message) if the link script does not exist.
pub fn link_bare_metal_bins(link_script: &str) {
    for line in directives(&workspace_root(), link_script) {
        println!("{line}");
    }
    if link_script == USER_LINK_SCRIPT {
        let manifest = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("the package's Cargo.toml is readable");
        for line in base_directives(&bin_names(&text)) {
            println!("{line}");
        }
        println!("cargo:rerun-if-changed={}", manifest.display());
    }
}

/// The names of the `[[bin]]` targets of a `Cargo.toml` (each tileos package declares its
/// binaries explicitly).
pub fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(value) = line.strip_prefix("name").map(str::trim_start).and_then(|rest| rest.strip_prefix('='))
            && in_bin
        {
            names.push(value.trim().trim_matches('"').to_string());
        }
    }
    names
}

/// The per-binary `cargo:` lines giving each of `bins` its [`link_base`].
fn base_directives(bins: &[String]) -> Vec<String> {
    bins.iter()
        .filter_map(|bin| link_base(bin).map(|base| format!("cargo:rustc-link-arg-bin={bin}=-Wl,--defsym=TILEOS_LINK_BASE={base:#x}")))
        .collect()
}

/// The workspace root: this crate lives in `tools/build-support`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root of tools/build-support exists")
}

/// The `cargo:` lines [`link_bare_metal_bins`] prints for the workspace at `root`.
fn directives(root: &Path, link_script: &str) -> Vec<String> {
    let script = root.join(link_script);
    assert!(script.is_file(), "tileos-build-support: link script {} not found", script.display());
    let mut lines: Vec<String> = LINK_ARGS.iter().map(|arg| format!("cargo:rustc-link-arg-bins={arg}")).collect();
    lines.push(format!("cargo:rustc-link-arg-bins=-T{}", script.display()));
    lines.push(format!("cargo:rerun-if-changed={}", script.display()));
    lines
}

#[cfg(test)]
mod tests {
    use super::{
        AT_DEFAULT_BASE, LINK_BASE_FIRST, LINK_SLOT_SIZE, LINK_SLOTS, USER_LINK_SCRIPT, base_directives, bin_names, directives, link_base,
        workspace_root,
    };
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Every `[[bin]]` of every workspace package that build-depends on this crate (the
    /// root `Cargo.toml`'s `members`).
    fn workspace_programs() -> Vec<String> {
        let root = workspace_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let members = manifest.split("members").nth(1).unwrap().split(']').next().unwrap();
        let mut programs = Vec::new();
        for member in members.split('"').skip(1).step_by(2) {
            // A member may be a glob of folders (`userland/services/*`).
            let folders: Vec<std::path::PathBuf> = match member.strip_suffix("/*") {
                Some(parent) => std::fs::read_dir(root.join(parent)).unwrap().map(|entry| entry.unwrap().path()).collect(),
                None => vec![root.join(member)],
            };
            for folder in folders {
                let Ok(text) = std::fs::read_to_string(folder.join("Cargo.toml")) else { continue };
                if text.contains("tileos-build-support") && !Path::new(member).ends_with("kernel") {
                    programs.extend(bin_names(&text));
                }
            }
        }
        programs
    }

    #[test]
    fn every_program_of_the_workspace_links_in_a_slot_of_its_own() {
        let programs = workspace_programs();
        assert!(programs.len() > 20 && programs.iter().any(|p| p == "nvme") && programs.iter().any(|p| p == "echo-server"));
        let mut slots: BTreeMap<u64, &str> = BTreeMap::new();
        for program in &programs {
            let Some(base) = link_base(program) else {
                assert!(AT_DEFAULT_BASE.contains(&program.as_str()));
                continue;
            };
            assert!((LINK_BASE_FIRST..LINK_BASE_FIRST + LINK_SLOTS * LINK_SLOT_SIZE).contains(&base) && base % LINK_SLOT_SIZE == 0);
            if let Some(other) = slots.insert(base, program) {
                panic!(
                    "programs \"{other}\" and \"{program}\" hash to the same link base {base:#x}: rename one or list it in AT_DEFAULT_BASE"
                );
            }
        }
    }

    #[test]
    fn bins_are_read_from_the_manifest_and_get_their_base() {
        let manifest = "[package]\nname = \"pkg\"\n\n[[bin]]\nname = \"nvme\"\npath = \"src/bin/nvme.rs\"\n\n[[bin]]\nname=\"fuzzer\"\n[dependencies]\nname = \"no\"\n";
        let bins = bin_names(manifest);
        assert_eq!(bins, ["nvme", "fuzzer"]);
        assert_eq!(
            base_directives(&bins),
            [format!("cargo:rustc-link-arg-bin=nvme=-Wl,--defsym=TILEOS_LINK_BASE={:#x}", link_base("nvme").unwrap())]
        );
        assert_eq!(link_base("nvme"), link_base("nvme"));
        assert_ne!(link_base("nvme"), link_base("net"));
        assert_eq!(link_base("tileos-rootserver"), None);
    }

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
