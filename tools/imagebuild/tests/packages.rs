//! `--packages` on the real workspace: the packages the Makefile builds follow from the
//! descriptions, and a program no bare-metal package holds is an error with its place.

use std::path::{Path, PathBuf};
use std::process::Command;
use tileos_imagebuild::packages::BareMetalBins;
use tileos_imagebuild::{Error, packages};

/// The workspace root (this crate is tools/imagebuild).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// tile.toml and every scenario of the tile boot tests.
fn every_description() -> Vec<PathBuf> {
    let mut paths = vec![root().join("tile.toml")];
    let scenarios = root().join("qemu/runner/tests/scenarios");
    for entry in std::fs::read_dir(&scenarios).expect("scenario directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths
}

#[test]
fn the_workspace_programs_come_from_the_bare_metal_packages() {
    let bins = BareMetalBins::of_workspace(&root()).expect("cargo metadata");
    assert_eq!(bins.package_of("tileos-rootserver"), Some("tileos-rootserver"));
    assert_eq!(bins.package_of("console"), Some("tileos-driver-console"));
    assert_eq!(bins.package_of("echo-server"), Some("tileos-test-domains"));
    assert_eq!(bins.package_of("block-check"), Some("tileos-driver-nvme"));
    assert_eq!(bins.package_of("net-client"), Some("tileos-netstack"));
    // A folder under userland/services/ is a member without being listed (the template).
    assert_eq!(bins.package_of("template-service"), Some("tileos-service-template"));
    assert_eq!(bins.package_of("tileos-qemu"), None, "host binaries are not programs");
}

#[test]
fn every_description_and_the_boot_programs_need_these_bare_metal_packages() {
    let bins = BareMetalBins::of_workspace(&root()).expect("cargo metadata");
    let extra = ["tileos-rootserver", "bench-server", "fuzzer"].map(String::from);
    let found = packages(&every_description(), &extra, &bins).expect("every description builds");
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(
        found,
        [
            "tileos-checksum-modules",
            "tileos-driver-console",
            "tileos-driver-gpu",
            "tileos-driver-net",
            "tileos-driver-nvme",
            "tileos-driver-pci",
            "tileos-driver-sensors",
            "tileos-netstack",
            "tileos-rootserver",
            "tileos-service-federation",
            "tileos-service-inference",
            "tileos-service-slot-manager",
            "tileos-service-store",
            "tileos-service-telemetry",
            "tileos-service-template",
            "tileos-service-timer",
            "tileos-service-twin",
            "tileos-service-verify",
            "tileos-test-domains",
            "tileos-update-agent",
        ]
    );
}

#[test]
fn a_scenario_needs_only_its_own_packages() {
    let bins = BareMetalBins::of_workspace(&root()).expect("cargo metadata");
    let scenario = root().join("qemu/runner/tests/scenarios/nvme.toml");
    let found = packages(&[scenario], &[], &bins).expect("the nvme scenario");
    assert!(found.contains("tileos-driver-nvme") && found.contains("tileos-driver-pci"));
    assert!(!found.contains("tileos-driver-gpu") && !found.contains("tileos-rootserver"));
}

#[test]
fn an_unknown_program_names_its_domain_and_line() {
    let bins = BareMetalBins::of_workspace(&root()).expect("cargo metadata");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packages-unknown");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("tile.toml");
    std::fs::write(&path, "[tile]\nname = \"t\"\n\n[[domain]]\nname = \"d\"\nprogram = \"tileos-qemu\"\npriority = 1\n")
        .expect("write description");
    let error = packages(std::slice::from_ref(&path), &[], &bins).expect_err("a host binary is no program");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:6: domain \"d\": field \"program\": no workspace package with bare-metal binaries (a build dependency on tileos-build-support) has a binary \"tileos-qemu\"",
            path.display()
        )
    );
    let error = packages(&[], &["nope".to_string()], &bins).expect_err("an unknown extra program");
    assert!(matches!(error, Error::NoPackage(name) if name == "nope"));
}

#[test]
fn the_command_prints_one_package_per_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_tileos-imagebuild"))
        .current_dir(root())
        .args(["--packages", "--extra-program", "tileos-rootserver", "qemu/runner/tests/scenarios/layout.toml"])
        .output()
        .expect("run tileos-imagebuild");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "tileos-driver-console\ntileos-rootserver\ntileos-test-domains\n");
}
