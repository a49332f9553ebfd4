//! Tree heads and signed tree heads: what the log commits to at a point in time, the exact bytes
//! that are signed, and a fixed-size wire form.
//!
//! The signed bytes are RFC 6962 §3.5 `TreeHeadSignature` in TLS presentation encoding:
//!
//! ```text
//! offset len field
//!      0   1 version          = 0 (v1)
//!      1   1 signature_type   = 1 (tree_hash)
//!      2   8 timestamp        milliseconds since the Unix epoch, big-endian
//!     10   8 tree_size        big-endian
//!     18  32 sha256_root_hash
//! ```
//!
//! The wire form of a signed tree head is those 50 bytes followed by the 64-byte Ed25519
//! signature over them.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::hash::Hash;
use crate::proof::MAX_TREE_SIZE;

/// RFC 6962 §3.2 `Version` v1.
const VERSION_V1: u8 = 0;
/// RFC 6962 §3.2 `SignatureType` tree_hash.
const SIGNATURE_TYPE_TREE_HASH: u8 = 1;
/// Length of the signed `TreeHeadSignature` bytes.
const SIGNED_LEN: usize = 50;
/// Length of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

/// Length of a signed tree head's wire form: 50 signed bytes and a 64-byte signature.
pub const SIGNED_TREE_HEAD_LEN: usize = SIGNED_LEN + SIGNATURE_LEN;

/// The state of the log at one moment: its size, its root hash and when it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of entries in the tree.
    pub tree_size: u64,
    /// Milliseconds since the Unix epoch, from the tile's clock, when the head was taken.
    pub timestamp_ms: u64,
    /// RFC 6962 Merkle Tree Hash of the first `tree_size` entries.
    pub root_hash: Hash,
}

impl TreeHead {
    /// The RFC 6962 §3.5 `TreeHeadSignature` bytes: what a log key signs for this head.
    pub fn signed_bytes(&self) -> [u8; SIGNED_LEN] {
        let mut out = [0u8; SIGNED_LEN];
        out[0] = VERSION_V1;
        out[1] = SIGNATURE_TYPE_TREE_HASH;
        out[2..10].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[10..18].copy_from_slice(&self.tree_size.to_be_bytes());
        out[18..50].copy_from_slice(&self.root_hash);
        out
    }

    /// Signs this head with the log's Ed25519 key.
    pub fn sign(&self, key: &SigningKey) -> SignedTreeHead {
        SignedTreeHead { head: *self, signature: key.sign(&self.signed_bytes()).to_bytes() }
    }
}

/// Why a signed tree head was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeHeadError {
    /// The wire form is not exactly [`SIGNED_TREE_HEAD_LEN`] bytes long.
    WrongLength,
    /// The version byte is not RFC 6962 v1.
    UnknownVersion(u8),
    /// The signature type byte is not `tree_hash`.
    WrongSignatureType(u8),
    /// The tree size is above [`MAX_TREE_SIZE`].
    TreeTooLarge,
    /// The Ed25519 signature does not verify under the given key.
    BadSignature,
}

impl core::fmt::Display for TreeHeadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::WrongLength => f.write_str("signed tree head has the wrong length"),
            Self::UnknownVersion(v) => write!(f, "unknown tree head version {v}"),
            Self::WrongSignatureType(t) => write!(f, "signature type {t} is not tree_hash"),
            Self::TreeTooLarge => f.write_str("tree size above the supported maximum"),
            Self::BadSignature => f.write_str("tree head signature does not verify"),
        }
    }
}

impl core::error::Error for TreeHeadError {}

/// A tree head with the log key's Ed25519 signature over its [`TreeHead::signed_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedTreeHead {
    /// The signed head.
    pub head: TreeHead,
    /// Ed25519 signature over `head.signed_bytes()`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedTreeHead {
    /// Checks the signature with the log's public key (strict RFC 8032 verification: no
    /// malleable signatures, no small-order keys).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), TreeHeadError> {
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.head.signed_bytes(), &signature).map_err(|_| TreeHeadError::BadSignature)
    }

    /// The wire form: the 50 signed bytes, then the signature.
    pub fn to_bytes(&self) -> [u8; SIGNED_TREE_HEAD_LEN] {
        let mut out = [0u8; SIGNED_TREE_HEAD_LEN];
        out[..SIGNED_LEN].copy_from_slice(&self.head.signed_bytes());
        out[SIGNED_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Parses the wire form. This checks the layout only; call [`SignedTreeHead::verify`] to
    /// check the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TreeHeadError> {
        let bytes: &[u8; SIGNED_TREE_HEAD_LEN] = bytes.try_into().map_err(|_| TreeHeadError::WrongLength)?;
        let (signed, signature) = bytes.split_at(SIGNED_LEN);
        if signed[0] != VERSION_V1 {
            return Err(TreeHeadError::UnknownVersion(signed[0]));
        }
        if signed[1] != SIGNATURE_TYPE_TREE_HASH {
            return Err(TreeHeadError::WrongSignatureType(signed[1]));
        }
        let tree_size = u64::from_be_bytes(array(&signed[10..18]));
        if tree_size > MAX_TREE_SIZE {
            return Err(TreeHeadError::TreeTooLarge);
        }
        Ok(SignedTreeHead {
            head: TreeHead { tree_size, timestamp_ms: u64::from_be_bytes(array(&signed[2..10])), root_hash: array(&signed[18..50]) },
            signature: array(signature),
        })
    }
}

/// Copies a slice whose length the caller has fixed into an array.
fn array<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn head() -> TreeHead {
        TreeHead { tree_size: 8, timestamp_ms: 1_700_000_000_123, root_hash: [0xab; 32] }
    }

    #[test]
    fn signed_bytes_follow_rfc6962_layout() {
        let b = head().signed_bytes();
        assert_eq!(b[0], 0);
        assert_eq!(b[1], 1);
        assert_eq!(b[2..10], 1_700_000_000_123u64.to_be_bytes());
        assert_eq!(b[10..18], 8u64.to_be_bytes());
        assert_eq!(b[18..], [0xab; 32]);
    }

    #[test]
    fn sign_verify_roundtrip() {
        let sth = head().sign(&key(1));
        sth.verify(&key(1).verifying_key()).unwrap();
        let parsed = SignedTreeHead::from_bytes(&sth.to_bytes()).unwrap();
        assert_eq!(parsed, sth);
        parsed.verify(&key(1).verifying_key()).unwrap();
    }

    #[test]
    fn wrong_key_fails() {
        let sth = head().sign(&key(1));
        assert_eq!(sth.verify(&key(2).verifying_key()), Err(TreeHeadError::BadSignature));
    }

    #[test]
    fn every_bit_flip_in_wire_form_is_rejected() {
        let vk = key(1).verifying_key();
        let bytes = head().sign(&key(1)).to_bytes();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes;
            b[bit / 8] ^= 1 << (bit % 8);
            let res = SignedTreeHead::from_bytes(&b).and_then(|s| s.verify(&vk));
            assert!(res.is_err(), "bit {bit} flip accepted");
        }
    }

    #[test]
    fn malformed_wire_forms() {
        let bytes = head().sign(&key(1)).to_bytes();
        for len in 0..bytes.len() {
            assert_eq!(SignedTreeHead::from_bytes(&bytes[..len]), Err(TreeHeadError::WrongLength));
        }
        let mut long = [0u8; SIGNED_TREE_HEAD_LEN + 1];
        long[..SIGNED_TREE_HEAD_LEN].copy_from_slice(&bytes);
        assert_eq!(SignedTreeHead::from_bytes(&long), Err(TreeHeadError::WrongLength));
        let mut b = bytes;
        b[0] = 1;
        assert_eq!(SignedTreeHead::from_bytes(&b), Err(TreeHeadError::UnknownVersion(1)));
        let mut b = bytes;
        b[1] = 0;
        assert_eq!(SignedTreeHead::from_bytes(&b), Err(TreeHeadError::WrongSignatureType(0)));
        let mut b = bytes;
        b[10..18].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(SignedTreeHead::from_bytes(&b), Err(TreeHeadError::TreeTooLarge));
    }
}
