//! Where the Makefile puts boot images, and building the test images on demand so that a
//! plain `cargo test` works as well as `make test`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The images boot tests use, built with the kernel's `testing` feature.
#[derive(Debug, Clone)]
pub struct TestImages {
    /// The test kernel as ELF32, for QEMU's `-kernel` loader.
    pub kernel: PathBuf,
    /// The root server ELF (the first boot module).
    pub rootserver: PathBuf,
    /// The benchmark peer domain ELF (a further boot module).
    pub bench_server: PathBuf,
    /// The syscall fuzzer domain ELF (a further boot module).
    pub fuzzer: PathBuf,
    /// A GRUB ISO holding the same test kernel and the root server in kernel-test mode.
    pub iso: PathBuf,
    /// Directory for serial logs of test runs.
    pub logs: PathBuf,
}

/// Builds the test images once per test process (`make test-images`, which does nothing
/// when they are up to date) and returns their paths, or the build's output on failure.
pub fn test_images() -> Result<&'static TestImages, String> {
    static IMAGES: OnceLock<Result<TestImages, String>> = OnceLock::new();
    IMAGES
        .get_or_init(|| {
            let root = workspace_root();
            let output = Command::new("make")
                .args(["--no-print-directory", "-C"])
                .arg(&root)
                .arg("test-images")
                .env_remove("CARGO_TARGET_DIR")
                .output()
                .map_err(|e| format!("cannot run make: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "`make test-images` failed:\n{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let build = root.join("build/test");
            Ok(TestImages {
                kernel: build.join("kernel.elf32"),
                rootserver: build.join("rootserver.elf"),
                bench_server: build.join("bench-server.elf"),
                fuzzer: build.join("fuzzer.elf"),
                iso: build.join("tileos-test.iso"),
                logs: build.join("logs"),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl TestImages {
    /// Booting the test kernel with the root server building the tile in `archive` (a
    /// tile archive: [`scenario_archive`], or the default tile's).
    pub fn tile_boot(&self, archive: PathBuf) -> crate::Boot {
        crate::Boot::Kernel {
            kernel: self.kernel.clone(),
            cmdline: String::new(),
            modules: vec![
                crate::BootModule { path: self.rootserver.clone(), cmdline: "rootserver".into() },
                crate::BootModule { path: archive, cmdline: "tile-archive".into() },
            ],
        }
    }
}

/// The tile archive `make test-images` builds from `tests/scenarios/NAME.toml`.
pub fn scenario_archive(name: &str) -> PathBuf {
    workspace_root().join(format!("build/test/scenarios/{name}.archive"))
}

/// A fresh zero-filled disk image of `bytes` bytes named `name` in the test images' log
/// directory, for a boot test's NVMe drive; a test helper, so it panics if it cannot make it.
pub fn fresh_disk(name: &str, bytes: u64) -> PathBuf {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    let disk = images.logs.join(name);
    let file = std::fs::File::create(&disk).expect("create the disk image");
    file.set_len(bytes).expect("size the disk image");
    disk
}
