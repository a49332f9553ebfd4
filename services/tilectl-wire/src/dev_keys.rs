//! Development keys: fixed, public seeds, for `make run` tiles and tests only. A tile built
//! with them can be managed by anyone who has this source; production images embed other
//! public keys (`docs/tilectl.md`, "Keys").
//!
//! This is the one place the operator seed is defined until the workspace's common
//! `dev_keys` module (bundle signing, operator and log keys) replaces it.

/// Seed of the development operator key (Ed25519, RFC 8032 secret key): `tilectl
/// --dev-key` signs with it, and the update agent of a development image trusts its
/// public half.
pub const OPERATOR_SEED: [u8; 32] = *b"tileos dev operator key seed 001";

/// Seed of the development log key with which slot managers sign the update log's tree
/// heads; `tilectl log --verify --dev-key` verifies against its public half.
pub const LOG_SEED: [u8; 32] = *b"tileos dev update-log key seed01";

/// The development operator's public key, as the agent embeds it (no key derivation on the
/// tile; a test checks it is [`OPERATOR_SEED`]'s).
pub const OPERATOR_PUBLIC: [u8; 32] = [
    144, 73, 85, 76, 0, 42, 83, 191, 228, 218, 80, 1, 123, 112, 37, 116, 14, 166, 61, 210, 190, 53, 187, 73, 135, 174, 247, 137, 191, 106,
    196, 30,
];

/// The development log key's public half, as bytes.
pub const LOG_PUBLIC: [u8; 32] = [
    212, 82, 131, 119, 200, 60, 229, 136, 233, 20, 124, 125, 180, 85, 66, 222, 98, 54, 92, 110, 145, 223, 248, 182, 87, 187, 195, 103, 115,
    33, 213, 255,
];

/// The development operator's public key.
pub fn operator_public() -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&OPERATOR_SEED).verifying_key()
}

/// The development log key's public half.
pub fn log_public() -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&LOG_SEED).verifying_key()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_public_keys_are_the_seeds_halves() {
        assert_eq!(super::operator_public().as_bytes(), &super::OPERATOR_PUBLIC);
        assert_eq!(super::log_public().as_bytes(), &super::LOG_PUBLIC);
    }
}
