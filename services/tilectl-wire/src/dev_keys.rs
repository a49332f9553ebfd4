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

/// The development operator's public key.
pub fn operator_public() -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&OPERATOR_SEED).verifying_key()
}

/// The development log key's public half.
pub fn log_public() -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&LOG_SEED).verifying_key()
}
