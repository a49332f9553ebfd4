//! The bundle container: its binary layout, building and signing, and verification.
//!
//! Layout of format version 1 (all integers big-endian):
//!
//! ```text
//! offset  len   field
//!      0    8   magic "TILEBNDL"
//!      8    2   format version = 1
//!     10   32   key id of the signing pair (TrustedKeys::key_id)
//!     42    2   Ed25519 signature length   (must be 64)
//!     44    2   ML-DSA-65 signature length (must be 3309)
//!     46    4   manifest length            (1 ..= MAX_MANIFEST_LEN)
//!     50    4   payload length             (0 ..= MAX_PAYLOAD_LEN)
//!     54   64   Ed25519 signature
//!    118 3309   ML-DSA-65 signature
//!   3427    m   manifest (canonical postcard encoding)
//! 3427+m    p   payload (the module ELF)
//! ```
//!
//! The input must end exactly after the payload. Both signatures are over the same message,
//! [`signed_message`]: a domain tag naming the format and the hybrid scheme, the key id and the
//! manifest. The payload is bound through the manifest's content hash and size.
//! Ed25519 is RFC 8032 Ed25519 verified strictly; ML-DSA-65 is FIPS 204 ML-DSA.Sign/Verify
//! (Algorithms 2 and 3) with the context string [`ML_DSA_CONTEXT`], signed deterministically.

use alloc::vec::Vec;

use ed25519_dalek::Signer;
use ml_dsa::MlDsa65;

use crate::keys::{BundleSigner, TrustedKeys, TrustedSet};
use crate::manifest::{DecodeError, Hash, Manifest, content_hash};

/// First eight bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"TILEBNDL";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header (magic, version, key id, four lengths).
pub const HEADER_LEN: usize = 54;
/// Length of an Ed25519 signature (RFC 8032).
pub const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of an ML-DSA-65 signature (FIPS 204 Table 2).
pub const ML_DSA_65_SIGNATURE_LEN: usize = 3309;
/// Largest manifest accepted: 64 KiB.
pub const MAX_MANIFEST_LEN: usize = 64 * 1024;
/// Largest payload accepted: 16 MiB.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// Largest bundle accepted: header, both signatures, largest manifest and payload.
pub const MAX_BUNDLE_LEN: usize = HEADER_LEN + ED25519_SIGNATURE_LEN + ML_DSA_65_SIGNATURE_LEN + MAX_MANIFEST_LEN + MAX_PAYLOAD_LEN;
/// FIPS 204 context string of the ML-DSA signature.
pub const ML_DSA_CONTEXT: &[u8] = b"tileos-module-bundle-v1";
/// Domain tag at the start of the signed message: format and hybrid scheme.
const DOMAIN_TAG: &[u8] = b"tileos module bundle v1: Ed25519 + ML-DSA-65\0";
/// Offset of the first signature.
const SIGNATURES_AT: usize = HEADER_LEN;
/// Offset of the manifest.
const MANIFEST_AT: usize = SIGNATURES_AT + ED25519_SIGNATURE_LEN + ML_DSA_65_SIGNATURE_LEN;

/// Why a bundle could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The encoded manifest is longer than [`MAX_MANIFEST_LEN`].
    ManifestTooLarge,
    /// The payload is longer than [`MAX_PAYLOAD_LEN`].
    PayloadTooLarge,
    /// The manifest's `payload_size` is not the payload's length.
    PayloadSizeMismatch,
    /// The manifest's `content_hash` is not the payload's SHA-256.
    ContentHashMismatch,
    /// The manifest could not be encoded.
    Encoding,
    /// ML-DSA signing failed (FIPS 204 rejection sampling gave up).
    MlDsaSigning,
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ManifestTooLarge => "manifest longer than the maximum",
            Self::PayloadTooLarge => "payload longer than the maximum",
            Self::PayloadSizeMismatch => "manifest payload_size differs from the payload length",
            Self::ContentHashMismatch => "manifest content_hash differs from the payload hash",
            Self::Encoding => "manifest could not be encoded",
            Self::MlDsaSigning => "ML-DSA signing failed",
        })
    }
}

impl core::error::Error for BuildError {}

/// Why a bundle was rejected. Checked in this order: size, layout, signer, Ed25519 signature,
/// ML-DSA signature, manifest encoding, payload binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The input is longer than [`MAX_BUNDLE_LEN`].
    TooLarge,
    /// The input ends before the length its header declares (or before the header ends).
    Truncated {
        /// Bytes the header calls for (or the header length).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The input does not start with [`MAGIC`].
    BadMagic,
    /// A format version this crate does not read.
    UnsupportedVersion(u16),
    /// A declared signature length is not the algorithm's fixed length.
    BadSignatureLength,
    /// The declared manifest length is 0.
    EmptyManifest,
    /// The declared manifest length is above [`MAX_MANIFEST_LEN`].
    ManifestTooLarge(u32),
    /// The declared payload length is above [`MAX_PAYLOAD_LEN`].
    PayloadTooLarge(u32),
    /// Bytes follow the payload.
    TrailingBytes {
        /// Bytes the header calls for.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// No trusted key pair has the bundle's key id.
    UnknownSigner,
    /// A signature step of a [`Verification`] given key ids only: its signatures are to be
    /// checked elsewhere ([`Verification::signatures_verified_elsewhere`]).
    SignaturesNotChecked,
    /// The Ed25519 signature does not verify.
    BadEd25519Signature,
    /// The ML-DSA-65 signature does not verify (or is not a valid encoding).
    BadMlDsaSignature,
    /// The signed manifest bytes are not a postcard-encoded manifest.
    MalformedManifest,
    /// The signed manifest bytes decode, but are not the canonical encoding.
    NonCanonicalManifest,
    /// The payload length differs from the manifest's `payload_size`.
    PayloadSizeMismatch,
    /// The payload's SHA-256 differs from the manifest's `content_hash`.
    ContentHashMismatch,
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLarge => f.write_str("bundle longer than the maximum"),
            Self::Truncated { expected, actual } => {
                write!(f, "bundle truncated: {actual} of {expected} bytes")
            }
            Self::BadMagic => f.write_str("not a module bundle (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported bundle format version {v}"),
            Self::BadSignatureLength => f.write_str("declared signature length is wrong"),
            Self::EmptyManifest => f.write_str("declared manifest length is 0"),
            Self::ManifestTooLarge(n) => write!(f, "declared manifest length {n} too large"),
            Self::PayloadTooLarge(n) => write!(f, "declared payload length {n} too large"),
            Self::TrailingBytes { expected, actual } => {
                write!(f, "{actual} bytes where the bundle ends at {expected}")
            }
            Self::UnknownSigner => f.write_str("bundle signed by an untrusted key pair"),
            Self::SignaturesNotChecked => f.write_str("signatures not checked: the verification holds key ids only"),
            Self::BadEd25519Signature => f.write_str("Ed25519 signature does not verify"),
            Self::BadMlDsaSignature => f.write_str("ML-DSA-65 signature does not verify"),
            Self::MalformedManifest => f.write_str("manifest is malformed"),
            Self::NonCanonicalManifest => f.write_str("manifest is not canonically encoded"),
            Self::PayloadSizeMismatch => f.write_str("payload length differs from the manifest"),
            Self::ContentHashMismatch => f.write_str("payload hash differs from the manifest"),
        }
    }
}

impl core::error::Error for VerifyError {}

/// A bundle whose signatures, manifest and payload binding all checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle<'a> {
    /// The signed manifest.
    pub manifest: Manifest,
    /// The payload ELF, matching `manifest.content_hash`.
    pub payload: &'a [u8],
    /// Key id of the trusted pair that signed it.
    pub signer: Hash,
}

/// The message both algorithms sign: the domain tag, the key id and the manifest bytes.
pub fn signed_message(key_id: &Hash, manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN_TAG.len() + key_id.len() + manifest.len());
    m.extend_from_slice(DOMAIN_TAG);
    m.extend_from_slice(key_id);
    m.extend_from_slice(manifest);
    m
}

/// Encodes the manifest, signs it with both keys, and lays out the bundle. The manifest's
/// `content_hash` and `payload_size` must describe `payload`.
pub fn build(manifest: &Manifest, payload: &[u8], signer: &BundleSigner) -> Result<Vec<u8>, BuildError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(BuildError::PayloadTooLarge);
    }
    if usize::try_from(manifest.payload_size).ok() != Some(payload.len()) {
        return Err(BuildError::PayloadSizeMismatch);
    }
    if manifest.content_hash != content_hash(payload) {
        return Err(BuildError::ContentHashMismatch);
    }
    let encoded = manifest.encode().ok_or(BuildError::Encoding)?;
    if encoded.len() > MAX_MANIFEST_LEN {
        return Err(BuildError::ManifestTooLarge);
    }
    let key_id = signer.public_keys().key_id();
    let message = signed_message(&key_id, &encoded);
    let ed25519 = signer.ed25519.sign(&message).to_bytes();
    let ml_dsa = signer.ml_dsa.sign_deterministic(&message, ML_DSA_CONTEXT).map_err(|_| BuildError::MlDsaSigning)?.encode();

    // Lengths fit their fields: both are bounded by the maxima checked above.
    let as_u16 = |n: usize| u16::try_from(n).map_err(|_| BuildError::Encoding);
    let as_u32 = |n: usize| u32::try_from(n).map_err(|_| BuildError::Encoding);
    let mut out = Vec::with_capacity(MANIFEST_AT + encoded.len() + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&key_id);
    out.extend_from_slice(&as_u16(ED25519_SIGNATURE_LEN)?.to_be_bytes());
    out.extend_from_slice(&as_u16(ML_DSA_65_SIGNATURE_LEN)?.to_be_bytes());
    out.extend_from_slice(&as_u32(encoded.len())?.to_be_bytes());
    out.extend_from_slice(&as_u32(payload.len())?.to_be_bytes());
    out.extend_from_slice(&ed25519);
    out.extend_from_slice(&ml_dsa);
    out.extend_from_slice(&encoded);
    out.extend_from_slice(payload);
    Ok(out)
}

/// The sections of a bundle whose layout checked out; nothing in it is verified yet.
struct Sections<'a> {
    key_id: Hash,
    ed25519: &'a [u8],
    ml_dsa: &'a [u8],
    manifest: &'a [u8],
    payload: &'a [u8],
}

/// Reads `N` bytes at `at`; the caller has checked that they are present.
fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// Checks the layout and splits the bundle into its sections.
fn parse(bytes: &[u8]) -> Result<Sections<'_>, VerifyError> {
    let actual = bytes.len();
    if actual > MAX_BUNDLE_LEN {
        return Err(VerifyError::TooLarge);
    }
    let truncated = |expected| VerifyError::Truncated { expected, actual };
    if actual < 10 {
        return Err(truncated(HEADER_LEN));
    }
    if field::<8>(bytes, 0) != MAGIC {
        return Err(VerifyError::BadMagic);
    }
    let version = u16::from_be_bytes(field(bytes, 8));
    if version != FORMAT_VERSION {
        return Err(VerifyError::UnsupportedVersion(version));
    }
    if actual < HEADER_LEN {
        return Err(truncated(HEADER_LEN));
    }
    let key_id = field::<32>(bytes, 10);
    let ed25519_len = u16::from_be_bytes(field(bytes, 42));
    let ml_dsa_len = u16::from_be_bytes(field(bytes, 44));
    let manifest_len = u32::from_be_bytes(field(bytes, 46));
    let payload_len = u32::from_be_bytes(field(bytes, 50));
    if usize::from(ed25519_len) != ED25519_SIGNATURE_LEN || usize::from(ml_dsa_len) != ML_DSA_65_SIGNATURE_LEN {
        return Err(VerifyError::BadSignatureLength);
    }
    let manifest_size =
        usize::try_from(manifest_len).ok().filter(|&n| n <= MAX_MANIFEST_LEN).ok_or(VerifyError::ManifestTooLarge(manifest_len))?;
    if manifest_size == 0 {
        return Err(VerifyError::EmptyManifest);
    }
    let payload_size =
        usize::try_from(payload_len).ok().filter(|&n| n <= MAX_PAYLOAD_LEN).ok_or(VerifyError::PayloadTooLarge(payload_len))?;
    // Cannot overflow: every term is bounded by the constants above.
    let payload_at = MANIFEST_AT + manifest_size;
    let expected = payload_at + payload_size;
    if actual < expected {
        return Err(truncated(expected));
    }
    if actual > expected {
        return Err(VerifyError::TrailingBytes { expected, actual });
    }
    Ok(Sections {
        key_id,
        ed25519: &bytes[SIGNATURES_AT..SIGNATURES_AT + ED25519_SIGNATURE_LEN],
        ml_dsa: &bytes[SIGNATURES_AT + ED25519_SIGNATURE_LEN..MANIFEST_AT],
        manifest: &bytes[MANIFEST_AT..payload_at],
        payload: &bytes[payload_at..],
    })
}

/// Verifies a bundle against the tile's trusted key pairs. Both signatures of the pair named by
/// the bundle must verify; then the manifest must be canonical and the payload must match its
/// size and content hash. The same checks as [`Verification`] run in one go.
pub fn verify<'a>(bytes: &'a [u8], trusted: &[TrustedKeys]) -> Result<VerifiedBundle<'a>, VerifyError> {
    let mut verification = Verification::start(bytes, trusted)?;
    loop {
        if let Progress::Verified(bundle) = verification.step(bytes, trusted, usize::MAX)? {
            return Ok(*bundle);
        }
    }
}

/// What a [`Verification`] checks next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The Ed25519 signature (one step).
    Ed25519,
    /// The ML-DSA-65 signature (one step).
    MlDsa,
    /// The manifest's decoding and the payload's size (one step).
    Manifest,
    /// The payload's SHA-256, this many bytes of it hashed so far (steps of at most the
    /// step's byte budget).
    Hash(usize),
}

/// Where a [`Verification`] stands after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Not done: the stage the next step works on.
    Pending(Stage),
    /// Every check passed (boxed: the manifest is large beside a stage).
    Verified(alloc::boxed::Box<VerifiedBundle<'a>>),
}

/// A bundle's verification in bounded steps, for a caller that must stay responsive while
/// it verifies (the slot manager, docs/slots.md "Installs"): the same checks in the same
/// order as [`verify`], each signature one step, the payload's SHA-256 in steps of a
/// byte budget. Both signatures cover the manifest only (which carries the payload's
/// content hash), so their cost does not grow with the payload; the hash does, and is the
/// part cut into steps.
///
/// It keeps no reference to the bundle: every step is given the bytes again, and must be
/// given the same bytes and trusted keys as [`Verification::start`] (other bytes are
/// checked again from their header, so a mix-up yields an error or a verdict on the
/// bytes given, never a panic).
#[derive(Clone, Debug)]
pub struct Verification {
    stage: Stage,
    manifest: Option<Manifest>,
    hasher: ContentHasher,
}

impl Verification {
    /// Checks the size, the layout and the signer (cheap: no signature yet).
    pub fn start<T: TrustedSet + ?Sized>(bytes: &[u8], trusted: &T) -> Result<Verification, VerifyError> {
        let sections = parse(bytes)?;
        if !trusted.trusts(&sections.key_id) {
            return Err(VerifyError::UnknownSigner);
        }
        Ok(Verification { stage: Stage::Ed25519, manifest: None, hasher: ContentHasher::new() })
    }

    /// Skips the two signature steps: for a caller that had both signatures of these bytes
    /// checked by [`verify_signatures`] elsewhere (the slot manager's verifier domain, on
    /// the [`signature_input`] of the same bytes) and got its verdict. Only moves a
    /// verification still at [`Stage::Ed25519`] on to [`Stage::Manifest`]; any other stage
    /// is left as it is.
    pub fn signatures_verified_elsewhere(&mut self) {
        if self.stage == Stage::Ed25519 {
            self.stage = Stage::Manifest;
        }
    }

    /// The stage the next step works on.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Does the next step: one signature, the manifest, or at most `hash_budget` bytes
    /// (at least one) of the payload's hash. An error ends the verification (later steps
    /// repeat it).
    ///
    /// With a set of key ids only (no keys: [`TrustedSet::keys`] is `None`), a signature step
    /// is refused [`VerifyError::SignaturesNotChecked`]: call
    /// [`Verification::signatures_verified_elsewhere`] first.
    pub fn step<'a, T: TrustedSet + ?Sized>(
        &mut self,
        bytes: &'a [u8],
        trusted: &T,
        hash_budget: usize,
    ) -> Result<Progress<'a>, VerifyError> {
        let sections = parse(bytes)?;
        if !trusted.trusts(&sections.key_id) {
            return Err(VerifyError::UnknownSigner);
        }
        let keys = || trusted.keys(&sections.key_id).ok_or(VerifyError::SignaturesNotChecked);
        match self.stage {
            Stage::Ed25519 => {
                let keys = keys()?;
                let message = signed_message(&sections.key_id, sections.manifest);
                let ed25519 = ed25519_dalek::Signature::from_slice(sections.ed25519).map_err(|_| VerifyError::BadEd25519Signature)?;
                keys.ed25519.verify_strict(&message, &ed25519).map_err(|_| VerifyError::BadEd25519Signature)?;
                self.stage = Stage::MlDsa;
            }
            Stage::MlDsa => {
                let keys = keys()?;
                let message = signed_message(&sections.key_id, sections.manifest);
                let ml_dsa = ml_dsa::Signature::<MlDsa65>::try_from(sections.ml_dsa).map_err(|_| VerifyError::BadMlDsaSignature)?;
                if !keys.ml_dsa.verify_with_context(&message, ML_DSA_CONTEXT, &ml_dsa) {
                    return Err(VerifyError::BadMlDsaSignature);
                }
                self.stage = Stage::Manifest;
            }
            Stage::Manifest => {
                let manifest = Manifest::decode(sections.manifest).map_err(|e| match e {
                    DecodeError::Malformed => VerifyError::MalformedManifest,
                    DecodeError::NonCanonical => VerifyError::NonCanonicalManifest,
                })?;
                if usize::try_from(manifest.payload_size).ok() != Some(sections.payload.len()) {
                    return Err(VerifyError::PayloadSizeMismatch);
                }
                self.manifest = Some(manifest);
                self.hasher = ContentHasher::new();
                self.stage = Stage::Hash(0);
            }
            Stage::Hash(done) => {
                // The manifest is Some from the Manifest stage on; its payload size is the
                // payload's length, checked there (bytes given again are checked here too).
                let manifest = self.manifest.as_ref().ok_or(VerifyError::MalformedManifest)?;
                if usize::try_from(manifest.payload_size).ok() != Some(sections.payload.len()) || done > sections.payload.len() {
                    return Err(VerifyError::PayloadSizeMismatch);
                }
                let end = done.saturating_add(hash_budget.max(1)).min(sections.payload.len());
                self.hasher.update(&sections.payload[done..end]);
                if end < sections.payload.len() {
                    self.stage = Stage::Hash(end);
                } else {
                    if self.hasher.clone().finish() != manifest.content_hash {
                        return Err(VerifyError::ContentHashMismatch);
                    }
                    let manifest = manifest.clone();
                    let bundle = VerifiedBundle { manifest, payload: sections.payload, signer: sections.key_id };
                    return Ok(Progress::Verified(alloc::boxed::Box::new(bundle)));
                }
            }
        }
        Ok(Progress::Pending(self.stage))
    }
}

/// Length of a [`signature_input`] before its manifest: the key id and both signatures.
pub const SIGNATURE_INPUT_HEAD: usize = 32 + ED25519_SIGNATURE_LEN + ML_DSA_65_SIGNATURE_LEN;
/// Largest [`signature_input`]: its head and the largest manifest.
pub const MAX_SIGNATURE_INPUT: usize = SIGNATURE_INPUT_HEAD + MAX_MANIFEST_LEN;

/// What a bundle's signatures cover and are, for a verifier in another domain
/// (docs/slots.md, "Installs"): the key id (32 bytes), the Ed25519 signature (64), the
/// ML-DSA-65 signature (3309) and the manifest, in that order, copied out of a bundle whose
/// layout checked out. [`verify_signatures`] checks it; the payload is not in it (it is
/// bound through the manifest's content hash, which the caller checks itself).
pub fn signature_input(bytes: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let sections = parse(bytes)?;
    let mut out = Vec::with_capacity(SIGNATURE_INPUT_HEAD + sections.manifest.len());
    out.extend_from_slice(&sections.key_id);
    out.extend_from_slice(sections.ed25519);
    out.extend_from_slice(sections.ml_dsa);
    out.extend_from_slice(sections.manifest);
    Ok(out)
}

/// Checks a [`signature_input`] against the trusted key pairs: its length (a manifest of
/// 1 ..= [`MAX_MANIFEST_LEN`] bytes after the head, else [`VerifyError::Truncated`],
/// [`VerifyError::EmptyManifest`] or [`VerifyError::ManifestTooLarge`]), its signer
/// ([`VerifyError::UnknownSigner`]), then the Ed25519 and the ML-DSA-65 signature over
/// [`signed_message`] ([`VerifyError::BadEd25519Signature`],
/// [`VerifyError::BadMlDsaSignature`]): the checks [`Verification`]'s first two steps make,
/// in the same order. Never panics on any input.
pub fn verify_signatures(input: &[u8], trusted: &[TrustedKeys]) -> Result<(), VerifyError> {
    if input.len() < SIGNATURE_INPUT_HEAD {
        return Err(VerifyError::Truncated { expected: SIGNATURE_INPUT_HEAD, actual: input.len() });
    }
    let manifest = &input[SIGNATURE_INPUT_HEAD..];
    if manifest.is_empty() {
        return Err(VerifyError::EmptyManifest);
    }
    if manifest.len() > MAX_MANIFEST_LEN {
        return Err(VerifyError::ManifestTooLarge(u32::try_from(manifest.len()).unwrap_or(u32::MAX)));
    }
    let key_id = field::<32>(input, 0);
    let keys = trusted.iter().find(|k| k.key_id == key_id).ok_or(VerifyError::UnknownSigner)?;
    let message = signed_message(&key_id, manifest);
    let ed25519 =
        ed25519_dalek::Signature::from_slice(&input[32..32 + ED25519_SIGNATURE_LEN]).map_err(|_| VerifyError::BadEd25519Signature)?;
    keys.ed25519.verify_strict(&message, &ed25519).map_err(|_| VerifyError::BadEd25519Signature)?;
    let ml_dsa = ml_dsa::Signature::<MlDsa65>::try_from(&input[32 + ED25519_SIGNATURE_LEN..SIGNATURE_INPUT_HEAD])
        .map_err(|_| VerifyError::BadMlDsaSignature)?;
    if !keys.ml_dsa.verify_with_context(&message, ML_DSA_CONTEXT, &ml_dsa) {
        return Err(VerifyError::BadMlDsaSignature);
    }
    Ok(())
}

/// A [`content_hash`] computed piece by piece (SHA-256 is incremental): the same value as
/// `content_hash` of the pieces joined.
#[derive(Clone, Debug, Default)]
pub struct ContentHasher(sha2::Sha256);

impl ContentHasher {
    /// An empty hash.
    pub fn new() -> ContentHasher {
        ContentHasher::default()
    }

    /// Adds the next piece.
    pub fn update(&mut self, piece: &[u8]) {
        sha2::Digest::update(&mut self.0, piece);
    }

    /// The hash of every piece added, in order.
    pub fn finish(self) -> Hash {
        sha2::Digest::finalize(self.0).into()
    }
}
