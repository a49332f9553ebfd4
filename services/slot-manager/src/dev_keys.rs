//! **DEVELOPMENT KEYS ONLY — never trust these on a real tile.**
//!
//! The seeds of the development bundle signer and of the tile's update-log key, in one place
//! for the slot manager. They are public (they are in this file): anything signed with them
//! proves only that it was built from this repository. The bytes are the same as the
//! demo's `tileos_module_bundle::dev_keys` (the seeds `make bundles` signs with); once that
//! module is on main, this one should re-export it instead of repeating the seeds.

use tileos_module_bundle::{BundleSigner, KeyError, TrustedKeys};
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

/// The public halves of the dev bundle signer (32 bytes Ed25519 ‖ 1952 bytes ML-DSA-65, the
/// format of the demo's `make bundles` key file), checked against the seeds by a test. The
/// manager decodes them at start instead of deriving them from the seeds: ML-DSA key
/// generation needs more stack than a manager has.
pub const DEV_TRUSTED_BUNDLE_KEYS: &[u8] = include_bytes!("../keys/dev-trusted-bundle-keys.bin");

/// DEV ONLY. The bundle keys a development image trusts ([`DEV_TRUSTED_BUNDLE_KEYS`]), or
/// why they do not decode.
pub fn trusted_bundle_keys() -> Result<TrustedKeys, KeyError> {
    let (ed25519, ml_dsa) = DEV_TRUSTED_BUNDLE_KEYS.split_at_checked(32).ok_or(KeyError::BadEd25519Key)?;
    let ed25519: &[u8; 32] = ed25519.try_into().map_err(|_| KeyError::BadEd25519Key)?;
    TrustedKeys::from_bytes(ed25519, ml_dsa)
}

/// DEV ONLY. The tile's update-log signing key.
pub fn log_key() -> SigningKey {
    SigningKey::from_bytes(&TILE_LOG_ED25519_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_trusted_keys_are_the_dev_signers_public_halves() {
        let signer = bundle_signer();
        let keys = trusted_bundle_keys().expect("the committed keys decode");
        assert_eq!(keys.key_id(), signer.public_keys().key_id());
        assert_eq!(DEV_TRUSTED_BUNDLE_KEYS.len(), 32 + tileos_module_bundle::ML_DSA_65_PUBLIC_KEY_LEN);
    }
}
