//! `tileos-bundle`: the demo slot's bundles and a bundle verifier.
//!
//! ```text
//! tileos-bundle demo --program-dir build/target-dev/release --out-dir build/bundles \
//!     --trusted-out build/keys/trusted.bin [--test-output FILE]
//! tileos-bundle verify [--trusted FILE] BUNDLE...
//! ```
//!
//! `demo` (what `make bundles` runs) writes every bundle of `tileos_bundle_tool::SPECS`
//! from the stripped program ELFs, checks each against what it must verify as, writes the
//! trusted-key file, and prints one line per bundle. `--test-output` is the output of
//! `cargo test -p tileos-checksum`, whose counts become the manifests' evidence. `verify`
//! prints each bundle's manifest or its precise verification error (trusted keys: the file
//! given, else the dev keys) and fails if any does not verify.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use tileos_bundle_tool::{Context, DEMO_ALLOWANCE, PARENT_PROGRAM, SPECS, check, make, outside_allowance, test_counts, trusted_file};
use tileos_module_bundle::{TestCounts, TrustedKeys, content_hash, dev_keys, trusted_keys_from_file, verify};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("demo") => demo(&arguments[1..]),
        Some("verify") => verify_files(&arguments[1..]),
        _ => Err("usage: tileos-bundle demo --program-dir DIR --out-dir DIR --trusted-out FILE [--test-output FILE]\n       tileos-bundle verify [--trusted FILE] BUNDLE...".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tileos-bundle: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The value of option `name` in `arguments`.
fn option(arguments: &[String], name: &str) -> Option<PathBuf> {
    arguments.iter().position(|argument| argument == name).and_then(|at| arguments.get(at + 1)).map(PathBuf::from)
}

/// The program's ELF without symbols and debug information (`objcopy --strip-all`): what a
/// seat loads, a few tens of KiB instead of a megabyte and a half.
fn stripped(program_dir: &Path, program: &str, scratch: &Path) -> Result<Vec<u8>, String> {
    let elf = program_dir.join(program);
    if !elf.exists() {
        return Err(format!("{}: no such program (build it first: make bundles builds the checksum programs)", elf.display()));
    }
    let out = scratch.join(format!("{program}.stripped"));
    let status = Command::new("objcopy")
        .arg("--strip-all")
        .arg(&elf)
        .arg(&out)
        .status()
        .map_err(|error| format!("objcopy (Debian binutils; make deps installs it): {error}"))?;
    if !status.success() {
        return Err(format!("objcopy --strip-all {} failed", elf.display()));
    }
    let bytes = std::fs::read(&out).map_err(|error| format!("{}: {error}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    Ok(bytes)
}

fn toolchain() -> String {
    Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|version| version.trim().to_string())
        .unwrap_or_else(|| "rustc (version unknown)".into())
}

fn demo(arguments: &[String]) -> Result<(), String> {
    let program_dir = option(arguments, "--program-dir").ok_or("demo: --program-dir missing")?;
    let out_dir = option(arguments, "--out-dir").ok_or("demo: --out-dir missing")?;
    let trusted_out = option(arguments, "--trusted-out").ok_or("demo: --trusted-out missing")?;
    let tests = match option(arguments, "--test-output") {
        Some(file) => test_counts(&std::fs::read_to_string(&file).map_err(|error| format!("{}: {error}", file.display()))?),
        None => TestCounts { passed: 0, failed: 0, ignored: 0 },
    };
    std::fs::create_dir_all(&out_dir).map_err(|error| format!("{}: {error}", out_dir.display()))?;
    let parent = content_hash(&stripped(&program_dir, PARENT_PROGRAM, &out_dir)?);
    let context = Context { toolchain: toolchain(), parent, tests };
    let (signer, untrusted) = (dev_keys::bundle_signer(), dev_keys::untrusted_signer());

    // The trusted keys first: the same bytes as the committed dev file, or something is off.
    let trusted_bytes = trusted_file(&signer);
    if trusted_bytes != dev_keys::DEV_TRUSTED_BUNDLE_KEYS {
        return Err("the dev signer's public keys differ from services/module-bundle/keys/dev-trusted-bundle-keys.bin".into());
    }
    if let Some(folder) = trusted_out.parent() {
        std::fs::create_dir_all(folder).map_err(|error| format!("{}: {error}", folder.display()))?;
    }
    std::fs::write(&trusted_out, &trusted_bytes).map_err(|error| format!("{}: {error}", trusted_out.display()))?;
    let trusted = [signer.public_keys().clone()];

    for spec in SPECS {
        let payload = stripped(&program_dir, spec.program, &out_dir)?;
        let bytes = make(spec, &payload, &context, &signer, &untrusted)?;
        check(spec, &bytes, &trusted)?;
        let path = out_dir.join(format!("{}.bundle", spec.bundle));
        std::fs::write(&path, &bytes).map_err(|error| format!("{}: {error}", path.display()))?;
        println!("bundles: {} ({} bytes, payload {} bytes): verifies as {:?}", path.display(), bytes.len(), payload.len(), spec.expect);
    }
    println!("bundles: trusted keys {} (DEV ONLY signer, tileos_module_bundle::dev_keys)", trusted_out.display());
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn verify_files(arguments: &[String]) -> Result<(), String> {
    let trusted: Vec<TrustedKeys> = match option(arguments, "--trusted") {
        Some(file) => trusted_keys_from_file(&std::fs::read(&file).map_err(|error| format!("{}: {error}", file.display()))?)
            .map_err(|error| format!("{}: {error}", file.display()))?,
        None => dev_keys::trusted_bundle_keys().map_err(|error| error.to_string())?,
    };
    let mut failed = 0;
    let mut skip = false;
    for argument in arguments {
        if std::mem::take(&mut skip) {
            continue;
        }
        if argument == "--trusted" {
            skip = true;
            continue;
        }
        let bytes = std::fs::read(argument).map_err(|error| format!("{argument}: {error}"))?;
        match verify(&bytes, &trusted) {
            Ok(bundle) => {
                let manifest = &bundle.manifest;
                let version = manifest.version;
                println!(
                    "{argument}: verified: {} {}.{}.{}, lineage {} (generation {}), generator {:?}, toolchain {:?}, payload {} bytes sha256 {}, signer {}",
                    manifest.name,
                    version.major,
                    version.minor,
                    version.patch,
                    manifest.lineage.id,
                    manifest.lineage.generation,
                    manifest.provenance.model_id,
                    manifest.provenance.toolchain,
                    manifest.payload_size,
                    hex(&manifest.content_hash),
                    hex(&bundle.signer)
                );
                let outside = outside_allowance(manifest, DEMO_ALLOWANCE);
                if !outside.is_empty() {
                    println!("{argument}: asks for {outside:?}, outside the demo slot's allowance {DEMO_ALLOWANCE:?}");
                }
            }
            Err(error) => {
                failed += 1;
                println!("{argument}: refused: {error:?} ({error})");
            }
        }
    }
    if failed == 0 { Ok(()) } else { Err(format!("{failed} bundle(s) did not verify")) }
}
