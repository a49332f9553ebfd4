//! Hybrid key pairs: an Ed25519 key and an ML-DSA-65 key that always sign together, the public
//! halves a tile trusts, and the key id that names a public pair inside a bundle.

use alloc::vec::Vec;

use ml_dsa::{EncodedVerifyingKey, ExpandedSigningKey, MlDsa65};
use sha2::{Digest, Sha256};

use crate::manifest::Hash;

/// Length of an encoded ML-DSA-65 public key (FIPS 204 Table 2).
pub const ML_DSA_65_PUBLIC_KEY_LEN: usize = 1952;

/// Why public key bytes were not accepted as a trusted key pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The Ed25519 key is not a valid curve point, or is a weak (small-order) key.
    BadEd25519Key,
    /// The ML-DSA-65 key is not [`ML_DSA_65_PUBLIC_KEY_LEN`] bytes long.
    BadMlDsaKeyLength,
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BadEd25519Key => "invalid or weak Ed25519 public key",
            Self::BadMlDsaKeyLength => "ML-DSA-65 public key has the wrong length",
        })
    }
}

impl core::error::Error for KeyError {}

/// The secret half of a hybrid signer: signs bundles with both algorithms.
pub struct BundleSigner {
    pub(crate) ed25519: ed25519_dalek::SigningKey,
    pub(crate) ml_dsa: ExpandedSigningKey<MlDsa65>,
    pub(crate) public: TrustedKeys,
}

impl BundleSigner {
    /// Derives both keys from 32-byte seeds: the Ed25519 secret key (RFC 8032 §5.1.5) and the
    /// ML-DSA-65 key generation seed ξ (FIPS 204 Algorithm 6). Use independent random seeds.
    pub fn from_seeds(ed25519_seed: &[u8; 32], ml_dsa_seed: &[u8; 32]) -> Self {
        let ed25519 = ed25519_dalek::SigningKey::from_bytes(ed25519_seed);
        let ml_dsa = ExpandedSigningKey::<MlDsa65>::from_seed(&(*ml_dsa_seed).into());
        let public = TrustedKeys::new(ed25519.verifying_key(), ml_dsa.verifying_key());
        BundleSigner { ed25519, ml_dsa, public }
    }

    /// The public halves, to be placed in the image as a trusted key pair.
    pub fn public_keys(&self) -> &TrustedKeys {
        &self.public
    }
}

impl core::fmt::Debug for BundleSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BundleSigner").field("key_id", &self.public.key_id).finish_non_exhaustive()
    }
}

/// A public key pair a tile trusts for bundles: both keys must have signed.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustedKeys {
    pub(crate) ed25519: ed25519_dalek::VerifyingKey,
    pub(crate) ml_dsa: ml_dsa::VerifyingKey<MlDsa65>,
    pub(crate) key_id: Hash,
}

impl TrustedKeys {
    fn new(ed25519: ed25519_dalek::VerifyingKey, ml_dsa: ml_dsa::VerifyingKey<MlDsa65>) -> Self {
        let key_id = Sha256::new().chain_update(ed25519.as_bytes()).chain_update(ml_dsa.encode()).finalize().into();
        TrustedKeys { ed25519, ml_dsa, key_id }
    }

    /// Reads a trusted pair from its encodings: the 32-byte Ed25519 public key (RFC 8032
    /// §5.1.5) and the 1952-byte ML-DSA-65 public key (FIPS 204 Algorithm 22).
    pub fn from_bytes(ed25519: &[u8; 32], ml_dsa: &[u8]) -> Result<Self, KeyError> {
        let ed25519 = ed25519_dalek::VerifyingKey::from_bytes(ed25519).map_err(|_| KeyError::BadEd25519Key)?;
        if ed25519.is_weak() {
            return Err(KeyError::BadEd25519Key);
        }
        let encoded = EncodedVerifyingKey::<MlDsa65>::try_from(ml_dsa).map_err(|_| KeyError::BadMlDsaKeyLength)?;
        Ok(Self::new(ed25519, ml_dsa::VerifyingKey::<MlDsa65>::decode(&encoded)))
    }

    /// The Ed25519 public key bytes.
    pub fn ed25519_bytes(&self) -> [u8; 32] {
        self.ed25519.to_bytes()
    }

    /// The ML-DSA-65 public key bytes.
    pub fn ml_dsa_bytes(&self) -> Vec<u8> {
        self.ml_dsa.encode().to_vec()
    }

    /// SHA-256 of the Ed25519 key followed by the ML-DSA-65 key: names this pair in a bundle.
    pub fn key_id(&self) -> Hash {
        self.key_id
    }
}

/// Length of one pair in a trusted-key file: the Ed25519 key, then the ML-DSA-65 key.
pub const TRUSTED_KEY_FILE_ENTRY_LEN: usize = 32 + ML_DSA_65_PUBLIC_KEY_LEN;

/// Encodes trusted key pairs as a trusted-key file: each pair as its 32-byte Ed25519 public
/// key followed by its 1952-byte ML-DSA-65 public key, nothing else (the file an image embeds).
pub fn trusted_keys_file(keys: &[TrustedKeys]) -> Vec<u8> {
    let mut file = Vec::with_capacity(keys.len() * TRUSTED_KEY_FILE_ENTRY_LEN);
    for pair in keys {
        file.extend_from_slice(&pair.ed25519_bytes());
        file.extend_from_slice(&pair.ml_dsa_bytes());
    }
    file
}

/// The tile's trusted key pairs as a bundle's verification sees them ([`Verification`]):
/// which key ids are trusted, and, to check a bundle's signatures here, their keys.
///
/// [`Verification`]: crate::Verification
pub trait TrustedSet {
    /// Whether the pair named `key_id` is trusted.
    fn trusts(&self, key_id: &Hash) -> bool;
    /// The keys of the pair named `key_id`, if this set holds them (`None` for a set of key
    /// ids only, whose caller has the signatures checked elsewhere).
    fn keys(&self, key_id: &Hash) -> Option<&TrustedKeys>;
}

impl TrustedSet for [TrustedKeys] {
    fn trusts(&self, key_id: &Hash) -> bool {
        self.keys(key_id).is_some()
    }
    fn keys(&self, key_id: &Hash) -> Option<&TrustedKeys> {
        self.iter().find(|k| k.key_id == *key_id)
    }
}

impl TrustedSet for Vec<TrustedKeys> {
    fn trusts(&self, key_id: &Hash) -> bool {
        self.as_slice().trusts(key_id)
    }
    fn keys(&self, key_id: &Hash) -> Option<&TrustedKeys> {
        self.as_slice().keys(key_id)
    }
}

/// Key ids alone ([`trusted_key_ids_from_file`]): for a caller that has a bundle's
/// signatures checked by another domain and checks the rest itself (the slot manager).
impl TrustedSet for [Hash] {
    fn trusts(&self, key_id: &Hash) -> bool {
        self.contains(key_id)
    }
    fn keys(&self, _: &Hash) -> Option<&TrustedKeys> {
        None
    }
}

impl TrustedSet for Vec<Hash> {
    fn trusts(&self, key_id: &Hash) -> bool {
        self.as_slice().trusts(key_id)
    }
    fn keys(&self, _: &Hash) -> Option<&TrustedKeys> {
        None
    }
}

/// The key ids ([`TrustedKeys::key_id`]) of the pairs in a trusted-key file, without
/// decoding the keys (an ML-DSA-65 key's decoding takes ≈ 200 KiB of stack): the SHA-256
/// of each pair's bytes, which is the decoded pair's key id. A length that is not a
/// multiple of [`TRUSTED_KEY_FILE_ENTRY_LEN`] is [`KeyError::BadMlDsaKeyLength`]; the
/// keys themselves are not checked (whoever checks signatures with them decodes them).
pub fn trusted_key_ids_from_file(file: &[u8]) -> Result<Vec<Hash>, KeyError> {
    if !file.len().is_multiple_of(TRUSTED_KEY_FILE_ENTRY_LEN) {
        return Err(KeyError::BadMlDsaKeyLength);
    }
    Ok(file.chunks_exact(TRUSTED_KEY_FILE_ENTRY_LEN).map(|pair| Sha256::digest(pair).into()).collect())
}

/// Decodes a trusted-key file ([`trusted_keys_file`]); a length that is not a multiple of
/// [`TRUSTED_KEY_FILE_ENTRY_LEN`] is [`KeyError::BadMlDsaKeyLength`].
pub fn trusted_keys_from_file(file: &[u8]) -> Result<Vec<TrustedKeys>, KeyError> {
    if !file.len().is_multiple_of(TRUSTED_KEY_FILE_ENTRY_LEN) {
        return Err(KeyError::BadMlDsaKeyLength);
    }
    file.chunks_exact(TRUSTED_KEY_FILE_ENTRY_LEN)
        .map(|pair| {
            let (ed25519, ml_dsa) = pair.split_at(32);
            let ed25519: &[u8; 32] = ed25519.try_into().map_err(|_| KeyError::BadEd25519Key)?;
            TrustedKeys::from_bytes(ed25519, ml_dsa)
        })
        .collect()
}
