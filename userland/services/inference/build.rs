//! Links this package's bare-metal binaries (docs/build.md) and signs the shipped weights
//! (`weights/*.safetensors`) into bundles with the development key (DEV ONLY): the base,
//! once its SHA-256 is the one `weights/manifest.json` records, which the model loader
//! checks and writes into the shared region, and the adapters it puts into the store; plus
//! the hostile clients' forged and tampered ones.
use std::path::PathBuf;

use tileos_inference::service::{adapter_manifest, base_manifest};
use tileos_module_bundle::{build, dev_keys};

/// The genuine adapters (name = file stem).
const ADAPTERS: [&str; 7] = ["t1", "t2", "t3", "t1-backdoor", "t1b", "t2b", "t2c"];

fn main() {
    tileos_build_support::link_bare_metal_bins(tileos_build_support::USER_LINK_SCRIPT);
    let weights = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../../weights");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let read = |name: &str| {
        let path = weights.join(name);
        println!("cargo::rerun-if-changed={}", path.display());
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    };
    let write = |name: &str, bytes: &[u8]| std::fs::write(out.join(name), bytes).unwrap_or_else(|error| panic!("{name}: {error}"));
    let signer = dev_keys::bundle_signer();
    // The base: signed only if it is the file the trainer's manifest names.
    let base = read("base.safetensors");
    let recorded = String::from_utf8(read("manifest.json")).expect("weights/manifest.json is UTF-8");
    let sha: String = tileos_module_bundle::content_hash(&base).iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        recorded.contains(&format!("\"base.safetensors\": \"sha256:{sha}\"")),
        "weights/base.safetensors (sha256 {sha}) is not the base weights/manifest.json records"
    );
    let base_bundle = build(&base_manifest(&base), &base, &signer).expect("sign the base");
    write("base.bundle", &base_bundle);
    // The boot test `base-refused`: one weight byte (the last of the file) flipped after signing.
    let mut tampered = base_bundle;
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    write("base-tampered.bundle", &tampered);
    for adapter in ADAPTERS {
        let payload = read(&format!("{adapter}.safetensors"));
        let bundle = build(&adapter_manifest(adapter, &payload), &payload, &signer).expect("sign the adapter");
        write(&format!("{adapter}.bundle"), &bundle);
    }
    // The hostile client's: t1 signed by a key no tile trusts; t1 with a payload byte flipped
    // after signing; a signed bundle whose payload is not an adapter file.
    let t1 = read("t1.safetensors");
    write("forged.bundle", &build(&adapter_manifest("forged", &t1), &t1, &dev_keys::untrusted_signer()).expect("sign"));
    let mut tampered = build(&adapter_manifest("tampered", &t1), &t1, &signer).expect("sign");
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    write("tampered.bundle", &tampered);
    let garbage = [0x55u8; 1000];
    write("garbage.bundle", &build(&adapter_manifest("garbage", &garbage), &garbage, &signer).expect("sign"));
}
