//! **DEVELOPMENT KEYS ONLY — never trust these on a real tile.**
//!
//! The slot manager's view of the repository's one set of dev keys,
//! `tileos_module_bundle::dev_keys` (the seeds `make bundles` signs with, the tile's
//! update-log key `tilectl log --verify --dev-key` checks): the trusted bundle keys' ids read
//! from the committed public-key file (the manager checks no signature itself: the verifier
//! domain does, and the keys' decoding would take ≈ 200 KiB of its stack), the keys
//! themselves decoded (for tests), and the log signing key.

use tileos_module_bundle::{Hash, KeyError, TrustedKeys};
use tileos_update_log::SigningKey;

pub use tileos_module_bundle::dev_keys::{
    BUNDLE_SIGNER_ED25519_SEED, BUNDLE_SIGNER_ML_DSA_SEED, DEV_TRUSTED_BUNDLE_KEYS, TILE_LOG_ED25519_SEED, bundle_signer,
};

/// DEV ONLY. The trusted bundle key pair of the dev image (the committed public halves).
pub fn trusted_bundle_keys() -> Result<TrustedKeys, KeyError> {
    let (ed25519, ml_dsa) = DEV_TRUSTED_BUNDLE_KEYS.split_at_checked(32).ok_or(KeyError::BadEd25519Key)?;
    let ed25519: &[u8; 32] = ed25519.try_into().map_err(|_| KeyError::BadEd25519Key)?;
    TrustedKeys::from_bytes(ed25519, ml_dsa)
}

/// DEV ONLY. The key ids of the dev image's trusted bundle pairs (what the manager's
/// [`Config::trusted`](crate::Config::trusted) holds), read without decoding the keys.
pub fn trusted_bundle_key_ids() -> Result<alloc::vec::Vec<Hash>, KeyError> {
    tileos_module_bundle::trusted_key_ids_from_file(DEV_TRUSTED_BUNDLE_KEYS)
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
        // The ids read without decoding are the decoded pair's.
        assert_eq!(trusted_bundle_key_ids(), Ok(alloc::vec![keys.key_id()]));
    }

    #[test]
    fn the_log_key_is_the_one_tilectl_checks() {
        assert_eq!(log_key().verifying_key().to_bytes(), tileos_tilectl_wire::dev_keys::LOG_PUBLIC);
    }
}
