//! The inference protocol: an inference domain (`userland/services/inference`,
//! docs/inference.md "On the tile") answers on the endpoint named [`Inference::NAME`](crate::Protocol::NAME)
//! (`"inference"`; a tile with several inference domains names each endpoint in its
//! description).
//!
//! [`Request::Generate`] names an adapter (or none: the base alone), a prompt and the most
//! bytes to generate; the domain loads the adapter from the store as a signed bundle when it
//! is not the one loaded (a hot swap: the base, mapped read-only and shared by every
//! inference domain, is never reloaded) and answers greedily decoded text with the SHA-256
//! of the base and adapter that served it and the domain's counters. [`Request::Status`]
//! answers the counters and the identity of the base region without generating anything.
//! The model is byte-level, so a token is one ASCII byte.

use serde::{Deserialize, Serialize};

/// The inference protocol.
pub struct Inference;

impl crate::Protocol for Inference {
    const NAME: &'static str = "inference";
    type Request = Request;
    type Response = Response;
}

/// Longest adapter name (`t1`, `t2`, `t3`, `t1-backdoor`, …).
pub const MAX_ADAPTER_NAME: usize = 32;
/// Most prompt bytes a request can carry. The model accepts fewer ([`MODEL_MAX_PROMPT`]);
/// a longer prompt up to this size is refused with [`Error::PromptTooLong`], a prompt
/// beyond it does not decode (a malformed message).
pub const MAX_PROMPT_WIRE: usize = 256;
/// Most prompt bytes the model accepts (its context is 64 tokens: BOS, prompt, EOS, answer).
pub const MODEL_MAX_PROMPT: usize = 61;
// An oversized prompt must reach the domain to get a precise refusal.
const _: () = assert!(MAX_PROMPT_WIRE > MODEL_MAX_PROMPT);
/// Most bytes one request may ask to generate (and the capacity of an answer).
pub const MAX_NEW_TOKENS: usize = 61;

/// An adapter's name: the key of its signed bundle in the domain's store namespace is
/// `adapter/NAME`.
pub type AdapterName = heapless::String<MAX_ADAPTER_NAME>;
/// A prompt as carried on the wire (printable ASCII is checked by the domain).
pub type Prompt = heapless::Vec<u8, MAX_PROMPT_WIRE>;
/// Generated text: one byte per token.
pub type Text = heapless::Vec<u8, MAX_NEW_TOKENS>;
/// A SHA-256 digest.
pub type Digest = [u8; 32];
/// Longest manifest provenance text an answer carries ([`AdapterClaim::provenance`]).
pub const MAX_PROVENANCE: usize = 160;

/// What the loaded adapter's signed bundle manifest says of its origin, passed on by the
/// domain that verified the bundle, for the verify domain to compare with the routing
/// policy (docs/inference.md "Lineages on the tile").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterClaim {
    /// The manifest's lineage (`Lineage::id`).
    pub lineage: heapless::String<MAX_ADAPTER_NAME>,
    /// The manifest's provenance text (`Provenance::model_id`).
    pub provenance: heapless::String<MAX_PROVENANCE>,
}

/// A request to an inference domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Requests are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Generate an answer. Answer: [`Response::Generated`] or [`Response::Refused`].
    Generate {
        /// The adapter to apply; `None` runs the base alone.
        adapter: Option<AdapterName>,
        /// The question, printable ASCII, 1 to [`MODEL_MAX_PROMPT`] bytes.
        prompt: Prompt,
        /// Most bytes to generate, 1 to [`MAX_NEW_TOKENS`].
        max_new: u16,
    },
    /// The domain's counters and base identity. Answer: [`Response::Status`].
    Status,
}

/// What an inference domain has done since it started (a restart starts from zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests answered with text.
    pub generated: u64,
    /// Requests refused.
    pub refused: u64,
    /// Tokens (bytes) generated in all.
    pub tokens: u64,
    /// Adapter swaps (a request for the adapter already loaded swaps nothing).
    pub swaps: u64,
    /// Bytes read from the store by those swaps (whole signed bundles).
    pub adapter_bytes_read: u64,
    /// Whole reads of the base file (every weight checked, the file hashed), counted where
    /// they happen (`tileos_inference::service::BaseFile::load`): 1 for a domain that read
    /// it once, at start.
    pub base_loads: u64,
    /// Bytes of the base file those reads covered.
    pub base_bytes_read: u64,
}

/// The identity of the base this domain serves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseIdentity {
    /// SHA-256 of the base's safetensors file (as in `weights/manifest.json`).
    pub sha256: Digest,
    /// The physical address of the shared region's first frame, as the root server gave it
    /// to this domain: two domains reporting the same address read the same frames.
    pub region_paddr: u64,
    /// The region's size in bytes.
    pub region_bytes: u64,
    /// The base file's length in bytes (inside the region).
    pub file_bytes: u64,
}

/// A generated answer and what served it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    /// The answer, without the end-of-answer byte.
    pub text: Text,
    /// Whether the model ended the answer itself; false when `max_new` or the context ran
    /// out first.
    pub ended: bool,
    /// The adapter applied (`None`: the base alone).
    pub adapter: Option<AdapterName>,
    /// SHA-256 of that adapter's safetensors file (the bundle's payload).
    pub adapter_sha256: Option<Digest>,
    /// That adapter's manifest claim; `None` for the base alone, or when the manifest's
    /// lineage is over [`MAX_ADAPTER_NAME`] or its provenance over [`MAX_PROVENANCE`] bytes
    /// (not cut: a claim is carried whole or not at all).
    pub adapter_claim: Option<AdapterClaim>,
    /// SHA-256 of the base's file.
    pub base_sha256: Digest,
    /// Whether this request swapped the adapter in.
    pub swapped: bool,
    /// The counters after this request.
    pub counters: Counters,
}

/// The domain's state without generating.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The base.
    pub base: BaseIdentity,
    /// The adapter loaded now, if any.
    pub loaded: Option<AdapterName>,
    /// The counters.
    pub counters: Counters,
}

/// Why a signed adapter or base bundle was refused (`tileos-module-bundle`'s verification
/// faults, then the module name, then the weights file's own checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundleFault {
    /// Larger than a bundle may be.
    TooLarge,
    /// Shorter than its headers say.
    Truncated,
    /// Not a bundle (its magic number is wrong).
    BadMagic,
    /// A signature field has the wrong length.
    BadSignatureLength,
    /// The manifest is empty.
    EmptyManifest,
    /// Bytes after the payload.
    TrailingBytes,
    /// Signed by a key the domain does not trust (e.g. unsigned or self-signed).
    UnknownSigner,
    /// The Ed25519 signature does not verify (forged or altered).
    BadEd25519Signature,
    /// The ML-DSA signature does not verify (forged or altered).
    BadMlDsaSignature,
    /// The manifest does not decode.
    MalformedManifest,
    /// The manifest is not in canonical encoding.
    NonCanonicalManifest,
    /// The payload's size differs from the manifest's.
    PayloadSizeMismatch,
    /// The payload's hash differs from the manifest's.
    ContentHashMismatch,
    /// The bundle's manifest names another module than `adapter/NAME` (or, for the base,
    /// `model/base`).
    WrongModule,
    /// The payload is not a valid adapter file (malformed safetensors, missing, misshaped,
    /// mistyped or non-finite tensor); the domain's log names the tensor.
    BadAdapterFile,
    /// A bundle format version the domain does not read.
    UnsupportedVersion,
    /// The payload of the base's bundle is not a valid base file (malformed safetensors,
    /// missing, misshaped, mistyped or non-finite tensor); the loader's log names the tensor.
    BadBaseFile,
}

impl BundleFault {
    /// Every fault in declaration order: a fault's code ([`BundleFault::code`]) is its index.
    pub const ALL: [BundleFault; 17] = [
        BundleFault::TooLarge,
        BundleFault::Truncated,
        BundleFault::BadMagic,
        BundleFault::BadSignatureLength,
        BundleFault::EmptyManifest,
        BundleFault::TrailingBytes,
        BundleFault::UnknownSigner,
        BundleFault::BadEd25519Signature,
        BundleFault::BadMlDsaSignature,
        BundleFault::MalformedManifest,
        BundleFault::NonCanonicalManifest,
        BundleFault::PayloadSizeMismatch,
        BundleFault::ContentHashMismatch,
        BundleFault::WrongModule,
        BundleFault::BadAdapterFile,
        BundleFault::UnsupportedVersion,
        BundleFault::BadBaseFile,
    ];

    /// The fault as a number (the base region's fault word, [`base_region::FAULT_OFFSET`]).
    pub fn code(self) -> u64 {
        self as u64
    }

    /// The fault of code `code`, if it names one.
    pub fn from_code(code: u64) -> Option<BundleFault> {
        usize::try_from(code).ok().and_then(|i| Self::ALL.get(i)).copied()
    }
}

/// Why an inference domain refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The prompt is empty.
    EmptyPrompt,
    /// The prompt is longer than the model accepts.
    PromptTooLong {
        /// Its length.
        len: u32,
        /// [`MODEL_MAX_PROMPT`].
        max: u32,
    },
    /// A prompt byte is not printable ASCII.
    PromptByte {
        /// Its index.
        index: u32,
        /// The byte.
        byte: u8,
    },
    /// `max_new` is 0 or above [`MAX_NEW_TOKENS`].
    MaxNew {
        /// What was asked.
        requested: u16,
        /// [`MAX_NEW_TOKENS`].
        max: u16,
    },
    /// The store holds no bundle `adapter/NAME`.
    UnknownAdapter(AdapterName),
    /// The adapter's bundle was refused; the loaded adapter (if any) stays loaded.
    AdapterRejected {
        /// Which adapter.
        adapter: AdapterName,
        /// Why.
        fault: BundleFault,
    },
    /// The store could not be read (it is down or answered an error); nothing changed.
    StoreUnavailable,
    /// The caller's badge is not one the description lets ask this domain.
    NotPermitted {
        /// The caller's badge.
        badge: u64,
    },
    /// This domain serves no base: the model loader refused the base's signed bundle
    /// (docs/inference.md "The signed base"); every request is refused until a tile boots
    /// with a base that verifies.
    NoBase {
        /// Why the loader refused it.
        fault: BundleFault,
    },
}

/// What an inference domain answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Responses are encoded into one message and dropped at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The answer.
    Generated(Generated),
    /// The state.
    Status(Status),
    /// Refused, nothing generated; the domain keeps serving.
    Refused(Error),
}

/// The layout of the shared base region (docs/inference.md "On the tile"): the loader
/// domain, which maps it read-write, verifies the base's signed bundle, writes its
/// safetensors file at [`FILE_OFFSET`](base_region::FILE_OFFSET), then its length, then [`READY`](base_region::READY) last; every
/// inference domain maps it read-only and waits for [`READY`](base_region::READY) before it reads the file. A
/// bundle that does not verify is never written: the loader writes the fault's code
/// ([`crate::inference::BundleFault::code`]) at [`FAULT_OFFSET`](base_region::FAULT_OFFSET), then [`REFUSED`](base_region::REFUSED).
pub mod base_region {
    /// Offset of the ready word (little-endian `u64`).
    pub const READY_OFFSET: usize = 0;
    /// Offset of the file's length in bytes (little-endian `u64`).
    pub const LENGTH_OFFSET: usize = 8;
    /// Offset of the file (a page in, so the weights are page-aligned).
    pub const FILE_OFFSET: usize = 4096;
    /// The ready word's value once the file and its length are written (`"tilebase"`).
    pub const READY: u64 = u64::from_le_bytes(*b"tilebase");
    /// The ready word's value when the loader refused the base (`"nobase!!"`).
    pub const REFUSED: u64 = u64::from_le_bytes(*b"nobase!!");
    /// Offset of the refusal's fault code (little-endian `u64`), valid once the ready word
    /// is [`REFUSED`].
    pub const FAULT_OFFSET: usize = 16;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    fn roundtrip<T: Serialize + serde::de::DeserializeOwned + PartialEq + core::fmt::Debug>(value: T) {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&value, &mut words).unwrap();
        assert_eq!(decode::<T>(MESSAGE, &words[..length]), Ok(value));
    }

    #[test]
    fn the_largest_messages_fit_one_message() {
        let name = AdapterName::try_from("x".repeat(MAX_ADAPTER_NAME).as_str()).unwrap();
        let counters = Counters {
            generated: u64::MAX,
            refused: u64::MAX,
            tokens: u64::MAX,
            swaps: u64::MAX,
            adapter_bytes_read: u64::MAX,
            base_loads: u64::MAX,
            base_bytes_read: u64::MAX,
        };
        roundtrip(Request::Generate {
            adapter: Some(name.clone()),
            prompt: Prompt::from_slice(&[0xff; MAX_PROMPT_WIRE]).unwrap(),
            max_new: u16::MAX,
        });
        roundtrip(Response::Generated(Generated {
            text: Text::from_slice(&[0xff; MAX_NEW_TOKENS]).unwrap(),
            ended: true,
            adapter: Some(name.clone()),
            adapter_sha256: Some([0xff; 32]),
            adapter_claim: Some(AdapterClaim {
                lineage: heapless::String::try_from("x".repeat(MAX_ADAPTER_NAME).as_str()).unwrap(),
                provenance: heapless::String::try_from("x".repeat(MAX_PROVENANCE).as_str()).unwrap(),
            }),
            base_sha256: [0xff; 32],
            swapped: true,
            counters,
        }));
        roundtrip(Response::Status(Status {
            base: BaseIdentity { sha256: [0xff; 32], region_paddr: u64::MAX, region_bytes: u64::MAX, file_bytes: u64::MAX },
            loaded: Some(name.clone()),
            counters,
        }));
        roundtrip(Response::Refused(Error::AdapterRejected { adapter: name, fault: BundleFault::BadAdapterFile }));
        roundtrip(Response::Refused(Error::NoBase { fault: BundleFault::BadBaseFile }));
    }

    #[test]
    fn a_fault_code_names_its_fault_and_no_other_code_names_one() {
        for (index, fault) in BundleFault::ALL.iter().enumerate() {
            assert_eq!(fault.code(), index as u64);
            assert_eq!(BundleFault::from_code(index as u64), Some(*fault));
        }
        assert_eq!(BundleFault::from_code(BundleFault::ALL.len() as u64), None);
        assert_eq!(BundleFault::from_code(u64::MAX), None);
    }
}
