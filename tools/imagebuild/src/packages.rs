//! Which cargo packages to build for a set of descriptions (`tileos-imagebuild --packages`).
//!
//! A domain's `program = "NAME"` is a binary target `NAME` of a workspace package with
//! bare-metal binaries — one that build-depends on `tileos-build-support`, whose build script
//! links its binaries for tileos — and the image builder looks its ELF up by that name in the
//! build directory. [`BareMetalBins`] reads which package holds each such binary from
//! `cargo metadata`, so the packages the Makefile builds follow from the descriptions, and a
//! new service needs its crate and its `[[domain]]` entry, nothing else.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// The build dependency that marks a package with bare-metal binaries.
pub const BUILD_SUPPORT: &str = "tileos-build-support";

/// The bare-metal binaries of a workspace: binary name → package name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BareMetalBins(pub BTreeMap<String, String>);

impl BareMetalBins {
    /// Runs `cargo metadata` for the workspace around `dir` (cargo is `$CARGO`, else `cargo`).
    pub fn of_workspace(dir: &Path) -> Result<Self, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let output = Command::new(&cargo)
            .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
            .current_dir(dir)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
        if !output.status.success() {
            return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr).trim_end()));
        }
        Self::from_metadata(&String::from_utf8_lossy(&output.stdout))
    }

    /// From the output of `cargo metadata --format-version 1` (with or without `--no-deps`;
    /// only workspace members count). Two bare-metal packages with a binary of the same name
    /// are an error: their ELFs would overwrite each other in the build directory.
    pub fn from_metadata(json: &str) -> Result<Self, String> {
        let metadata: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("cargo metadata: {e}"))?;
        let members: Vec<&str> = metadata["workspace_members"]
            .as_array()
            .ok_or("cargo metadata: no \"workspace_members\"")?
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        let packages = metadata["packages"].as_array().ok_or("cargo metadata: no \"packages\"")?;
        let mut bins = BTreeMap::new();
        for package in packages {
            let (Some(id), Some(name)) = (package["id"].as_str(), package["name"].as_str()) else {
                return Err(String::from("cargo metadata: a package without id or name"));
            };
            let bare_metal = package["dependencies"]
                .as_array()
                .is_some_and(|deps| deps.iter().any(|d| d["name"] == BUILD_SUPPORT && d["kind"] == "build"));
            if !members.contains(&id) || !bare_metal {
                continue;
            }
            let targets = package["targets"].as_array().map_or(&[][..], Vec::as_slice);
            for target in targets {
                let is_bin = target["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
                let Some(bin) = target["name"].as_str().filter(|_| is_bin) else {
                    continue;
                };
                if let Some(other) = bins.insert(bin.to_string(), name.to_string()) {
                    return Err(format!("binary \"{bin}\" is in two packages with bare-metal binaries, {other} and {name}"));
                }
            }
        }
        Ok(Self(bins))
    }

    /// The package whose binary `bin` is.
    pub fn package_of(&self, bin: &str) -> Option<&str> {
        self.0.get(bin).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::BareMetalBins;

    /// Metadata of a workspace: `(package, build-depends on build support, bins)`, plus a
    /// package that is not a member.
    fn metadata(packages: &[(&str, bool, &[&str])]) -> String {
        let mut entries = Vec::new();
        let mut members = Vec::new();
        for (name, bare_metal, bins) in packages {
            let id = format!("path+file:///w/{name}#0.1.0");
            members.push(format!("\"{id}\""));
            let deps = if *bare_metal {
                r#"[{"name": "tileos-build-support", "kind": "build"}, {"name": "serde", "kind": null}]"#
            } else {
                r#"[{"name": "tileos-build-support", "kind": null}]"#
            };
            let mut targets = vec![format!(r#"{{"name": "{}", "kind": ["lib"]}}"#, name.replace('-', "_"))];
            targets.extend(bins.iter().map(|b| format!(r#"{{"name": "{b}", "kind": ["bin"]}}"#)));
            entries.push(format!(r#"{{"id": "{id}", "name": "{name}", "dependencies": {deps}, "targets": [{}]}}"#, targets.join(", ")));
        }
        entries.push(String::from(
            r#"{"id": "registry+x#outsider@1", "name": "outsider", "dependencies": [{"name": "tileos-build-support", "kind": "build"}], "targets": [{"name": "stranger", "kind": ["bin"]}]}"#,
        ));
        format!(r#"{{"packages": [{}], "workspace_members": [{}]}}"#, entries.join(", "), members.join(", "))
    }

    #[test]
    fn binaries_of_packages_that_build_depend_on_build_support_only() {
        let json = metadata(&[
            ("tileos-driver-nvme", true, &["nvme", "block-check"]),
            ("tileos-qemu", false, &["tileos-qemu"]),
            ("tileos-driver-console", true, &["console"]),
        ]);
        let bins = BareMetalBins::from_metadata(&json).expect("valid metadata");
        assert_eq!(bins.package_of("nvme"), Some("tileos-driver-nvme"));
        assert_eq!(bins.package_of("block-check"), Some("tileos-driver-nvme"));
        assert_eq!(bins.package_of("console"), Some("tileos-driver-console"));
        assert_eq!(bins.package_of("tileos-qemu"), None, "a host binary is no program");
        assert_eq!(bins.package_of("stranger"), None, "only workspace members count");
        assert_eq!(bins.package_of("tileos_driver_nvme"), None, "libraries are no programs");
    }

    #[test]
    fn a_binary_name_in_two_packages_is_an_error() {
        let json = metadata(&[("a", true, &["twin"]), ("b", true, &["twin"])]);
        assert_eq!(
            BareMetalBins::from_metadata(&json),
            Err(String::from("binary \"twin\" is in two packages with bare-metal binaries, a and b"))
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(BareMetalBins::from_metadata("{").is_err());
        assert!(BareMetalBins::from_metadata("{}").is_err());
    }
}
