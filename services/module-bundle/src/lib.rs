//! Signed module bundles: how a new (possibly machine-generated) module reaches a tile for
//! hot-patching into a shadow-execution slot (DESIGN.md §6).
//!
//! A bundle is a small versioned binary container (layout: `src/container.rs` and
//! `docs/cores/module-bundle.md`) holding:
//!
//! - a [`Manifest`] — name, version, lineage, generator provenance (model id, prompt hash,
//!   toolchain), the payload's SHA-256 and size, typed capability requests, and evidence (proof
//!   results, fuzz campaigns with seed and iterations, test counts) — encoded deterministically
//!   with postcard;
//! - the payload, the module's ELF;
//! - a hybrid signature over the manifest: Ed25519 (RFC 8032) **and** ML-DSA-65 (FIPS 204),
//!   both by one trusted key pair and both required.
//!
//! [`build`] encodes, signs and lays out a bundle given both secret keys ([`BundleSigner`]);
//! [`verify`] checks a bundle against the trusted key pairs in the image ([`TrustedKeys`]) and
//! returns the manifest and payload, or a precise [`VerifyError`]. Parsing checks every length
//! against hard limits before slicing and never panics on any input.
//!
//! Not done yet: key rotation or revocation lists (the trusted set is whatever the caller
//! passes), and checking the requested capabilities against the system description (the root
//! server's job).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod container;
pub mod dev_keys;
mod keys;
mod manifest;

pub use container::{
    BuildError, ContentHasher, ED25519_SIGNATURE_LEN, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_BUNDLE_LEN, MAX_MANIFEST_LEN, MAX_PAYLOAD_LEN,
    MAX_SIGNATURE_INPUT, ML_DSA_65_SIGNATURE_LEN, ML_DSA_CONTEXT, Progress, SIGNATURE_INPUT_HEAD, Stage, Verification, VerifiedBundle,
    VerifyError, build, signature_input, signed_message, verify, verify_signatures,
};
pub use keys::{
    BundleSigner, KeyError, ML_DSA_65_PUBLIC_KEY_LEN, TRUSTED_KEY_FILE_ENTRY_LEN, TrustedKeys, TrustedSet, trusted_key_ids_from_file,
    trusted_keys_file, trusted_keys_from_file,
};
pub use manifest::{
    CapabilityRequest, Evidence, FuzzResult, Hash, Lineage, Manifest, ProofResult, Provenance, Rights, TestCounts, Verdict, Version,
    content_hash,
};
