//! **DEVELOPMENT KEYS ONLY — never trust these on a real tile.**
//!
//! The seeds of the development bundle signer and of the tile's update-log key, in one place
//! for the slot manager. They are public (they are in this file): anything signed with them
//! proves only that it was built from this repository. The bytes are the same as the
//! demo's `tileos_module_bundle::dev_keys` (the seeds `make bundles` signs with); once that
//! module is on main, this one should re-export it instead of repeating the seeds.

use tileos_module_bundle::{BundleSigner, TrustedKeys};
use tileos_update_log::SigningKey;

/// DEV ONLY. Ed25519 seed of the dev bundle signer.
pub const BUNDLE_SIGNER_ED25519_SEED: [u8; 32] = *b"tileos DEV ONLY bundle ed25519 1";
/// DEV ONLY. ML-DSA-65 seed of the dev bundle signer.
pub const BUNDLE_SIGNER_ML_DSA_SEED: [u8; 32] = *b"tileos DEV ONLY bundle ml-dsa  1";
/// DEV ONLY. Ed25519 seed of the tile's update-log key.
pub const TILE_LOG_ED25519_SEED: [u8; 32] = *b"tileos DEV ONLY tile log ed25519";

/// DEV ONLY. The dev bundle signer (both secret keys): for tests and local bundles.
pub fn bundle_signer() -> BundleSigner {
    BundleSigner::from_seeds(&BUNDLE_SIGNER_ED25519_SEED, &BUNDLE_SIGNER_ML_DSA_SEED)
}

/// DEV ONLY. The bundle keys a development image trusts: the dev signer's public halves.
/// (Derives the ML-DSA key from its seed, which costs some milliseconds at start.)
pub fn trusted_bundle_keys() -> TrustedKeys {
    bundle_signer().public_keys().clone()
}

/// DEV ONLY. The tile's update-log signing key.
pub fn log_key() -> SigningKey {
    SigningKey::from_bytes(&TILE_LOG_ED25519_SEED)
}
