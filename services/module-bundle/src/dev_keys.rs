//! **DEVELOPMENT KEYS ONLY — never trust these on a real tile.**
//!
//! The fixed seeds every development key of tileos derives from, in one place: the bundle
//! signer of `make bundles` (`tools/bundle`), a second bundle signer that no image trusts
//! (for the wrong-key bundle), the operator key of `tilectl` and the tile's update-log key.
//! The seeds are public (they are in this file), so anything signed with them proves only
//! that it was built from this repository. A production build generates its own secret
//! seeds outside the repository, signs with them on the signing host, and puts only the
//! *public* halves into the image.
//!
//! What the image trusts: [`DEV_TRUSTED_BUNDLE_KEYS`], the public halves of the dev bundle
//! signer as a trusted-key file (`keys/dev-trusted-bundle-keys.bin`, the format of
//! [`crate::trusted_keys_from_file`]), committed beside this crate and checked against the
//! seeds by a test. The slot manager reads it with [`trusted_bundle_keys`] (no seed and no
//! key generation at run time); `make bundles` also writes the same bytes to
//! `build/keys/trusted.bin`, which is where a production image's file would come from.

use alloc::vec::Vec;

use crate::keys::{BundleSigner, KeyError, TrustedKeys, trusted_keys_from_file};

/// DEV ONLY. Ed25519 seed of the dev bundle signer (RFC 8032 secret key).
pub const BUNDLE_SIGNER_ED25519_SEED: [u8; 32] = *b"tileos DEV ONLY bundle ed25519 1";
/// DEV ONLY. ML-DSA-65 key generation seed of the dev bundle signer (FIPS 204 ξ).
pub const BUNDLE_SIGNER_ML_DSA_SEED: [u8; 32] = *b"tileos DEV ONLY bundle ml-dsa  1";
/// DEV ONLY. Ed25519 seed of a bundle signer that no image trusts (the `checksum-wrongkey`
/// bundle: verification must fail with `UnknownSigner`).
pub const UNTRUSTED_SIGNER_ED25519_SEED: [u8; 32] = *b"tileos DEV ONLY untrusted ed2551";
/// DEV ONLY. ML-DSA-65 seed of the untrusted bundle signer.
pub const UNTRUSTED_SIGNER_ML_DSA_SEED: [u8; 32] = *b"tileos DEV ONLY untrusted ml-dsa";
/// DEV ONLY. Ed25519 seed of the operator key (`tilectl --dev-key` signs with it, the update
/// agent of a development image trusts its public half). The same value as
/// `tileos_tilectl_wire::dev_keys::OPERATOR_SEED`, which came first and should become a
/// re-export of this one.
pub const OPERATOR_ED25519_SEED: [u8; 32] = *b"tileos dev operator key seed 001";
/// DEV ONLY. Ed25519 seed of the tile's update-log key: slot managers sign the log's tree
/// heads with `tileos_update_log::SigningKey::from_bytes(&TILE_LOG_ED25519_SEED)`, and
/// `tilectl log --verify --dev-key` checks them against its public half. The same value as
/// `tileos_tilectl_wire::dev_keys::LOG_SEED` (which should become a re-export of this one).
pub const TILE_LOG_ED25519_SEED: [u8; 32] = *b"tileos dev update-log key seed01";

/// The public halves of the dev bundle signer, as a trusted-key file (one pair: 32 bytes
/// Ed25519 ‖ 1952 bytes ML-DSA-65).
pub const DEV_TRUSTED_BUNDLE_KEYS: &[u8] = include_bytes!("../keys/dev-trusted-bundle-keys.bin");

/// DEV ONLY. The dev bundle signer (both secret keys), for `make bundles` and tests.
pub fn bundle_signer() -> BundleSigner {
    BundleSigner::from_seeds(&BUNDLE_SIGNER_ED25519_SEED, &BUNDLE_SIGNER_ML_DSA_SEED)
}

/// DEV ONLY. A bundle signer no image trusts.
pub fn untrusted_signer() -> BundleSigner {
    BundleSigner::from_seeds(&UNTRUSTED_SIGNER_ED25519_SEED, &UNTRUSTED_SIGNER_ML_DSA_SEED)
}

/// The bundle keys a development image trusts: [`DEV_TRUSTED_BUNDLE_KEYS`] decoded.
pub fn trusted_bundle_keys() -> Result<Vec<TrustedKeys>, KeyError> {
    trusted_keys_from_file(DEV_TRUSTED_BUNDLE_KEYS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::trusted_keys_file;

    #[test]
    fn the_committed_trusted_keys_are_the_dev_signers_public_halves() {
        let signer = bundle_signer();
        assert_eq!(DEV_TRUSTED_BUNDLE_KEYS, trusted_keys_file(&[signer.public_keys().clone()]).as_slice());
        assert_eq!(trusted_bundle_keys(), Ok(alloc::vec![signer.public_keys().clone()]));
    }

    #[test]
    fn the_untrusted_signer_is_not_trusted() {
        let untrusted = untrusted_signer();
        assert!(!trusted_bundle_keys().unwrap().iter().any(|keys| keys.key_id() == untrusted.public_keys().key_id()));
    }

    #[test]
    fn every_seed_differs() {
        let seeds = [
            BUNDLE_SIGNER_ED25519_SEED,
            BUNDLE_SIGNER_ML_DSA_SEED,
            UNTRUSTED_SIGNER_ED25519_SEED,
            UNTRUSTED_SIGNER_ML_DSA_SEED,
            OPERATOR_ED25519_SEED,
            TILE_LOG_ED25519_SEED,
        ];
        for (index, seed) in seeds.iter().enumerate() {
            assert!(seeds[index + 1..].iter().all(|other| other != seed));
        }
    }
}
