//! DEV ONLY keys of the dev tile. Every one is derived from a public seed, so anybody can
//! sign with it: they exist so that the dev image and the tests can sign and check, never
//! for a real tile.

use ed25519_dalek::SigningKey;

/// Seed of the key that signs the dev tile's routing policy
/// (`services/router/policies/tile.policy.sig`).
pub const POLICY_SIGNER_SEED: [u8; 32] = *b"tileos DEV ONLY routing policy 1";
/// Seed of the knowledge contributor the dev tile's write policy grants `arith` and
/// `units` at T1.
pub const CONTRIBUTOR_SEED: [u8; 32] = *b"tileos DEV ONLY contributor  001";
/// Seed of the key that signs the ledger's tree heads.
pub const LEDGER_SEED: [u8; 32] = *b"tileos DEV ONLY verify ledger 01";

/// The dev tile's routing policy text.
pub const TILE_POLICY: &str = include_str!("../../router/policies/tile.policy");
/// Its signature by the policy signer, as hex (`tileos_router::sign_policy`; the test
/// `the_tile_policy_signature_is_current` fails, printing the new one, when the text changes).
pub const TILE_POLICY_SIG_HEX: &str = include_str!("../../router/policies/tile.policy.sig");

/// The policy signer.
pub fn policy_signer() -> SigningKey {
    SigningKey::from_bytes(&POLICY_SIGNER_SEED)
}

/// The dev contributor.
pub fn contributor() -> SigningKey {
    SigningKey::from_bytes(&CONTRIBUTOR_SEED)
}

/// The ledger key.
pub fn ledger_key() -> SigningKey {
    SigningKey::from_bytes(&LEDGER_SEED)
}

/// The policy signature, decoded from [`TILE_POLICY_SIG_HEX`]; `None` if that is not 128
/// hexadecimal digits (with an optional line end).
pub fn tile_policy_signature() -> Option<[u8; 64]> {
    let text = TILE_POLICY_SIG_HEX.trim_end();
    if text.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
