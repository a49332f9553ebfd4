//! RFC 6962 §2.1 hashing: the domain-separated leaf and node hashes and the empty-tree hash.
//!
//! The log's tree ([`crate::UpdateLog`]) hashes with these; verifiers that hold only hashes use
//! them too, and tests check the prefixes against published vectors.

use sha2::{Digest, Sha256};

/// A SHA-256 output: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// `MTH({})`, the root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash `SHA-256(0x00 || entry)` (RFC 6962 §2.1), the prefix keeping leaves apart from
/// interior nodes.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(entry).finalize().into()
}

/// The interior node hash `SHA-256(0x01 || left || right)` (RFC 6962 §2.1).
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    // Vectors from transparency-dev/merkle rfc6962/rfc6962_test.go (TestRFC6962Hasher).
    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(EMPTY_ROOT, h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    }

    #[test]
    fn leaf_hash_vectors() {
        assert_eq!(leaf_hash(b""), h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
        assert_eq!(leaf_hash(b"L123456"), h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"));
    }

    #[test]
    fn node_hash_vector() {
        assert_eq!(node_hash(b"N123", b"N456"), h("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"));
    }

    #[test]
    fn node_hash_is_not_leaf_hash_of_concatenation() {
        let (a, b) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
        let mut cat = [0u8; 64];
        cat[..32].copy_from_slice(&a);
        cat[32..].copy_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&cat));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    }
}
