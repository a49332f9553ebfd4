//! The inference domain's logic (`userland/services/inference` is the glue): the inference
//! protocol (`tileos_protocol::inference`) served over one borrowed base, with adapters
//! fetched as signed bundles and hot-swapped per request.
//!
//! Every request is checked before anything changes, in this order: the caller's badge,
//! `max_new`, the prompt, then the adapter (fetched and verified only when it is not the one
//! loaded). A refused request leaves the loaded adapter and the base as they were.
//!
//! The base's bytes reach the service only as a [`BaseFile`], and a whole read of them
//! (checking every weight and hashing the file) only through [`BaseFile::load`], which
//! counts it: [`Counters::base_loads`] and [`Counters::base_bytes_read`] are that count,
//! not constants. [`Service::new`] loads the base once; a swap reads only the adapter's
//! bundle, whose length is what [`Counters::adapter_bytes_read`] adds up. What the count
//! cannot see: code that reads the base's bytes without going through a [`BaseFile`] (the
//! domain's glue holds the region's slice before it makes one), and the forward pass's
//! reads of the weights it multiplies (those go through the [`Base`]'s views).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use tileos_module_bundle::{Evidence, Lineage, Manifest, Provenance, TestCounts, TrustedKeys, VerifyError, Version, content_hash, verify};
use tileos_protocol::inference::{
    AdapterClaim, AdapterName, BaseIdentity, BundleFault, Counters, Digest, Error, Generated, MAX_NEW_TOKENS, Request, Response, Status,
    Text,
};

use crate::config::MAX_PROMPT;
use crate::{Adapter, Base, Engine};

// The protocol states the model's limits; they must be the core's.
const _: () = assert!(tileos_protocol::inference::MODEL_MAX_PROMPT == MAX_PROMPT);
const _: () = assert!(MAX_NEW_TOKENS <= crate::config::CONTEXT);

/// Largest adapter bundle fetched (an adapter file is 25,712 bytes; its bundle adds the
/// manifest and two signatures, about 3.5 KiB). A larger value in the store is refused
/// without being read.
pub const MAX_ADAPTER_BUNDLE: u64 = 64 * 1024;

/// The store key of adapter `name`'s bundle.
pub fn adapter_key(name: &str) -> String {
    let mut key = String::new();
    let _ = write!(key, "adapter/{name}");
    key
}

/// The manifest of adapter `name`'s bundle over its safetensors file `payload`: module
/// `adapter/NAME`, lineage `NAME` (one lineage per adapter: its own training run,
/// docs/inference.md "Lineages on the tile"), provenance the shipped recipe
/// (`weights/manifest.json`) and the corpus the adapter was trained on
/// ([`adapter_corpus`]), then its provenance class ([`adapter_provenance`]) as the item
/// `provenance TAG`, which the verify domain compares with the routing policy's
/// (`tileos_verify_service::provenance`). What the image build signs (with the dev key:
/// DEV ONLY) and the domain checks.
pub fn adapter_manifest(name: &str, payload: &[u8]) -> Manifest {
    let mut m = weights_manifest(adapter_key(name), name, payload);
    let _ = write!(m.provenance.model_id, ", corpus {}, provenance {}", adapter_corpus(name), adapter_provenance(name));
    m
}

/// The provenance class an adapter of the shipped recipe is signed with: `tile-b` for t2b
/// (its own draw of the T2 generator), `tile` for every other adapter (the dev tile's one
/// operator; docs/inference.md "Lineages on the tile").
pub fn adapter_provenance(name: &str) -> &str {
    match name {
        "t2b" => "tile-b",
        _ => "tile",
    }
}

/// The trainer's dataset an adapter of the shipped recipe was trained on (t1b shares t1's
/// corpus, t2c t2's; t2b has its own draw of the T2 generator); any other name is its own.
pub fn adapter_corpus(name: &str) -> &str {
    match name {
        "t1b" => "t1",
        "t2c" => "t2",
        other => other,
    }
}

/// The module name of the base's bundle.
pub const BASE_MODULE: &str = "model/base";

/// The manifest of the base's bundle over its safetensors file `payload`: module
/// [`BASE_MODULE`], lineage `base`, provenance the shipped recipe. What the image build
/// signs (DEV ONLY key) and the model loader checks ([`check_base_bundle`]).
pub fn base_manifest(payload: &[u8]) -> Manifest {
    weights_manifest(BASE_MODULE.into(), "base", payload)
}

/// The manifest of a weights file of the shipped recipe.
fn weights_manifest(module: String, lineage: &str, payload: &[u8]) -> Manifest {
    Manifest {
        name: module,
        version: Version { major: 1, minor: 0, patch: 0 },
        lineage: Lineage { id: lineage.into(), parent: None, generation: 0 },
        provenance: Provenance {
            model_id: "tileos-trainer recipe seed 17 (candle-core 0.9.1, weights/manifest.json)".into(),
            prompt_hash: [0; 32],
            toolchain: "tileos-trainer".into(),
        },
        content_hash: content_hash(payload),
        payload_size: payload.len() as u32,
        capabilities: Vec::new(),
        evidence: Evidence { proofs: Vec::new(), fuzz: Vec::new(), tests: TestCounts { passed: 0, failed: 0, ignored: 0 } },
    }
}

/// Checks the base's signed bundle before any byte of it is served (the model loader,
/// docs/inference.md "The signed base"): the bundle verifies against `trusted` (both
/// signatures, size and SHA-256 of the payload), its manifest names [`BASE_MODULE`], and
/// the payload is a valid base file ([`Base::parse`]). Gives the payload, or the fault
/// with its detail (the module the manifest named, the tensor at fault).
pub fn check_base_bundle<'a>(bundle: &'a [u8], trusted: &[TrustedKeys]) -> Result<&'a [u8], (BundleFault, Option<String>)> {
    let verified = verify(bundle, trusted).map_err(|e| (bundle_fault(e), None))?;
    if verified.manifest.name != BASE_MODULE {
        return Err((BundleFault::WrongModule, Some(verified.manifest.name)));
    }
    Base::parse(verified.payload).map_err(|e| (BundleFault::BadBaseFile, Some(alloc::format!("{e}"))))?;
    Ok(verified.payload)
}

/// The answer of an inference domain that has no base because the loader refused it with
/// `fault`: badges outside `permitted` are refused by badge first, as [`Service::handle`]
/// does, every other request with [`Error::NoBase`].
pub fn refuse_without_base(permitted: &[u64], badge: u64, fault: BundleFault) -> Response {
    if permitted.contains(&badge) { Response::Refused(Error::NoBase { fault }) } else { Response::Refused(Error::NotPermitted { badge }) }
}

/// What fetching a bundle from the store gave.
#[derive(Debug)]
pub enum Fetched {
    /// The bundle's bytes.
    Bundle(Vec<u8>),
    /// No value under the key.
    NotFound,
    /// The value is longer than [`MAX_ADAPTER_BUNDLE`] (its length); it was not read.
    TooLarge(u64),
    /// The store could not be read.
    Unavailable,
}

/// The adapter swapped in last.
struct Loaded {
    name: AdapterName,
    adapter: Adapter,
    sha256: Digest,
    claim: Option<AdapterClaim>,
}

/// The base's safetensors file in the frames it is read from. Its bytes are read whole only
/// by [`BaseFile::load`], which counts each such read.
#[derive(Debug)]
pub struct BaseFile<'b> {
    bytes: &'b [u8],
    loads: u64,
    bytes_read: u64,
}

impl<'b> BaseFile<'b> {
    /// The base file `bytes`, not read yet.
    pub fn new(bytes: &'b [u8]) -> Self {
        BaseFile { bytes, loads: 0, bytes_read: 0 }
    }

    /// Reads the whole file: checks it as the base ([`Base::parse`]: header, every tensor's
    /// dtype, shape and every weight) and hashes it (SHA-256). Counts one load and the
    /// file's bytes, whether or not the check passes (the bytes were read either way).
    pub fn load(&mut self) -> Result<(Base<'b>, Digest), crate::Error> {
        self.loads += 1;
        self.bytes_read += self.bytes.len() as u64;
        let base = Base::parse(self.bytes)?;
        Ok((base, content_hash(self.bytes)))
    }

    /// Whole reads so far ([`BaseFile::load`] calls).
    pub fn loads(&self) -> u64 {
        self.loads
    }

    /// Bytes those reads covered.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The file's length in bytes (reads nothing).
    pub fn file_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// An inference server over one base.
pub struct Service<'b> {
    engine: Engine<'b>,
    file: BaseFile<'b>,
    base: BaseIdentity,
    trusted: Vec<TrustedKeys>,
    permitted: Vec<u64>,
    loaded: Option<Loaded>,
    counters: Counters,
}

/// What a request did, beside its answer (for the domain's log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered; whether it swapped the adapter.
    Served {
        /// It swapped.
        swapped: bool,
    },
    /// Refused; for an adapter whose file failed its checks, the core's description (which
    /// names the tensor).
    Refused(Option<String>),
}

impl<'b> Service<'b> {
    /// A server over the base in `file`, which is loaded here ([`BaseFile::load`]: checked
    /// and hashed, counted in `file`), answering the badges in `permitted` and trusting
    /// adapter bundles signed by `trusted`. `region_paddr` and `region_bytes` identify the
    /// frames the base is read from. The base's counters are `file`'s: a file loaded
    /// before it is given here shows as a second load. Fails with the core's error when the
    /// file is no valid base.
    pub fn new(
        mut file: BaseFile<'b>,
        region_paddr: u64,
        region_bytes: u64,
        trusted: Vec<TrustedKeys>,
        permitted: Vec<u64>,
    ) -> Result<Self, crate::Error> {
        let (base, sha256) = file.load()?;
        let identity = BaseIdentity { sha256, region_paddr, region_bytes, file_bytes: file.file_bytes() };
        Ok(Service { engine: Engine::new(&base), file, base: identity, trusted, permitted, loaded: None, counters: Counters::default() })
    }

    /// The base's identity (hash and frames).
    pub fn base(&self) -> BaseIdentity {
        self.base
    }

    /// The counters so far; the base's are read from its [`BaseFile`].
    pub fn counters(&self) -> Counters {
        Counters { base_loads: self.file.loads(), base_bytes_read: self.file.bytes_read(), ..self.counters }
    }

    /// Answers `request` from `badge`; `fetch` reads a key's bundle from the store.
    pub fn handle(&mut self, badge: u64, request: &Request, fetch: impl FnOnce(&str) -> Fetched) -> (Response, Outcome) {
        match self.serve(badge, request, fetch) {
            Ok((response, swapped)) => (response, Outcome::Served { swapped }),
            Err((error, detail)) => {
                self.counters.refused += 1;
                (Response::Refused(error), Outcome::Refused(detail))
            }
        }
    }

    fn serve(
        &mut self,
        badge: u64,
        request: &Request,
        fetch: impl FnOnce(&str) -> Fetched,
    ) -> Result<(Response, bool), (Error, Option<String>)> {
        if !self.permitted.contains(&badge) {
            return Err((Error::NotPermitted { badge }, None));
        }
        let (adapter, prompt, max_new) = match request {
            Request::Status => {
                let loaded = self.loaded.as_ref().map(|l| l.name.clone());
                return Ok((Response::Status(Status { base: self.base, loaded, counters: self.counters() }), false));
            }
            Request::Generate { adapter, prompt, max_new } => (adapter, prompt, *max_new),
        };
        if max_new == 0 || usize::from(max_new) > MAX_NEW_TOKENS {
            return Err((Error::MaxNew { requested: max_new, max: MAX_NEW_TOKENS as u16 }, None));
        }
        crate::check_prompt(prompt).map_err(|e| (prompt_error(e), None))?;
        let swapped = match adapter {
            Some(name) if self.loaded.as_ref().map(|l| &l.name) != Some(name) => {
                self.swap(name, fetch)?;
                true
            }
            _ => false,
        };
        let held = adapter.as_ref().and(self.loaded.as_ref());
        let generation =
            self.engine.generate(held.map(|l| &l.adapter), prompt, usize::from(max_new)).map_err(|e| (prompt_error(e), None))?;
        self.counters.generated += 1;
        self.counters.tokens += generation.answer.len() as u64;
        let text = Text::from_slice(&generation.answer).unwrap_or_default();
        Ok((
            Response::Generated(Generated {
                text,
                ended: generation.ended,
                adapter: held.map(|l| l.name.clone()),
                adapter_sha256: held.map(|l| l.sha256),
                adapter_claim: held.and_then(|l| l.claim.clone()),
                base_sha256: self.base.sha256,
                swapped,
                counters: self.counters(),
            }),
            swapped,
        ))
    }

    /// Fetches, verifies and parses adapter `name`; only a fully checked adapter replaces the
    /// loaded one.
    fn swap(&mut self, name: &AdapterName, fetch: impl FnOnce(&str) -> Fetched) -> Result<(), (Error, Option<String>)> {
        let key = adapter_key(name);
        let rejected = |fault| Error::AdapterRejected { adapter: name.clone(), fault };
        let bundle = match fetch(&key) {
            Fetched::Bundle(bytes) => bytes,
            Fetched::NotFound => return Err((Error::UnknownAdapter(name.clone()), None)),
            Fetched::TooLarge(_) => return Err((rejected(BundleFault::TooLarge), None)),
            Fetched::Unavailable => return Err((Error::StoreUnavailable, None)),
        };
        self.counters.adapter_bytes_read += bundle.len() as u64;
        let verified = verify(&bundle, &self.trusted).map_err(|e| (rejected(bundle_fault(e)), None))?;
        if verified.manifest.name != key {
            return Err((rejected(BundleFault::WrongModule), Some(verified.manifest.name)));
        }
        let adapter = Adapter::parse(verified.payload).map_err(|e| (rejected(BundleFault::BadAdapterFile), Some(alloc::format!("{e}"))))?;
        let m = &verified.manifest;
        let claim = match (m.lineage.id.as_str().try_into(), m.provenance.model_id.as_str().try_into()) {
            (Ok(lineage), Ok(provenance)) => Some(AdapterClaim { lineage, provenance }),
            _ => None,
        };
        self.loaded = Some(Loaded { name: name.clone(), adapter, sha256: content_hash(verified.payload), claim });
        self.counters.swaps += 1;
        Ok(())
    }
}

/// The protocol's error for a prompt the core refused.
fn prompt_error(error: crate::Error) -> Error {
    match error {
        crate::Error::EmptyPrompt => Error::EmptyPrompt,
        crate::Error::PromptTooLong { len, max } => Error::PromptTooLong { len: len as u32, max: max as u32 },
        crate::Error::PromptByte { index, byte } => Error::PromptByte { index: index as u32, byte },
        // `Engine::generate` refuses nothing but prompts.
        other => unreachable!("the engine refused a checked prompt: {other}"),
    }
}

/// The protocol's name for a bundle verification fault.
fn bundle_fault(error: VerifyError) -> BundleFault {
    match error {
        VerifyError::TooLarge | VerifyError::ManifestTooLarge(_) | VerifyError::PayloadTooLarge(_) => BundleFault::TooLarge,
        VerifyError::Truncated { .. } => BundleFault::Truncated,
        VerifyError::BadMagic => BundleFault::BadMagic,
        VerifyError::UnsupportedVersion(_) => BundleFault::UnsupportedVersion,
        VerifyError::BadSignatureLength => BundleFault::BadSignatureLength,
        VerifyError::EmptyManifest => BundleFault::EmptyManifest,
        VerifyError::TrailingBytes { .. } => BundleFault::TrailingBytes,
        // A verification by key ids only refuses its signature steps so; this service
        // verifies with the keys in hand, where it never happens.
        VerifyError::UnknownSigner | VerifyError::SignaturesNotChecked => BundleFault::UnknownSigner,
        VerifyError::BadEd25519Signature => BundleFault::BadEd25519Signature,
        VerifyError::BadMlDsaSignature => BundleFault::BadMlDsaSignature,
        VerifyError::MalformedManifest => BundleFault::MalformedManifest,
        VerifyError::NonCanonicalManifest => BundleFault::NonCanonicalManifest,
        VerifyError::PayloadSizeMismatch => BundleFault::PayloadSizeMismatch,
        VerifyError::ContentHashMismatch => BundleFault::ContentHashMismatch,
    }
}
