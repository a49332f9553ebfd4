//! A specialist's lineage and provenance in the signed routing policy against its adapter's
//! signed bundle manifest (docs/inference.md "Lineages on the tile"): checked at adapter
//! acceptance, before the battery, so an adapter whose own manifest contradicts the policy
//! is never accepted and never answers for the specialist.
//!
//! The rule, for every specialist of the policy whose `adapter=` is the adapter:
//! - the manifest's lineage (`Lineage::id`) equals the specialist's `lineage=`;
//! - the manifest's provenance text (`Provenance::model_id`, items separated by `", "`)
//!   holds exactly one item `provenance TAG`, and `TAG` equals the specialist's
//!   `provenance=` (no item: [`Mismatch::ProvenanceMissing`]; two or more:
//!   [`Mismatch::ProvenanceAmbiguous`]).
//!
//! An adapter no specialist names has nothing to match (it is checked by nobody here). The
//! manifest is only read after its bundle verified ([`check_bundle`]): signatures and the
//! payload's hash fail first.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tileos_module_bundle::{Manifest, TrustedKeys, VerifyError, verify};
use tileos_router::policy::Policy;

/// The prefix of the provenance item in a manifest's provenance text.
pub const PROVENANCE_ITEM: &str = "provenance ";

/// What the manifest claims, as the inference domain passes it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The manifest's lineage (`Lineage::id`).
    pub lineage: &'a str,
    /// The manifest's provenance text (`Provenance::model_id`).
    pub provenance: &'a str,
}

impl<'a> Claim<'a> {
    /// The claim of a verified manifest.
    pub fn of(manifest: &'a Manifest) -> Self {
        Claim { lineage: &manifest.lineage.id, provenance: &manifest.provenance.model_id }
    }
}

/// How a specialist's policy entry and its adapter's manifest disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The manifest's lineage is another than the policy's.
    LineageMismatch {
        /// The specialist.
        specialist: String,
        /// The policy's lineage.
        policy: String,
        /// The manifest's lineage.
        manifest: String,
    },
    /// The manifest's provenance tag is another than the policy's.
    ProvenanceMismatch {
        /// The specialist.
        specialist: String,
        /// The policy's provenance.
        policy: String,
        /// The manifest's provenance tag.
        manifest: String,
    },
    /// The manifest's provenance text has no `provenance TAG` item.
    ProvenanceMissing {
        /// The specialist.
        specialist: String,
        /// The policy's provenance.
        policy: String,
    },
    /// The manifest's provenance text has more than one `provenance TAG` item.
    ProvenanceAmbiguous {
        /// The specialist.
        specialist: String,
        /// The policy's provenance.
        policy: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::LineageMismatch { specialist, policy, manifest } => {
                write!(f, "specialist '{specialist}': policy lineage '{policy}', manifest lineage '{manifest}'")
            }
            Mismatch::ProvenanceMismatch { specialist, policy, manifest } => {
                write!(f, "specialist '{specialist}': policy provenance '{policy}', manifest provenance '{manifest}'")
            }
            Mismatch::ProvenanceMissing { specialist, policy } => {
                write!(f, "specialist '{specialist}': policy provenance '{policy}', manifest names none")
            }
            Mismatch::ProvenanceAmbiguous { specialist, policy } => {
                write!(f, "specialist '{specialist}': policy provenance '{policy}', manifest names several")
            }
        }
    }
}

/// Why [`check_bundle`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The bundle did not verify; its manifest was not read.
    Bundle(VerifyError),
    /// The verified manifest contradicts the policy.
    Mismatch(Mismatch),
}

/// The provenance tag(s) of a manifest's provenance text.
fn tags(provenance: &str) -> impl Iterator<Item = &str> {
    provenance.split(", ").filter_map(|item| item.strip_prefix(PROVENANCE_ITEM))
}

/// Checks `claim`, the manifest of adapter `adapter`, against every specialist of `policy`
/// whose adapter it is, in the policy's order; the first disagreement is the answer.
pub fn check(policy: &Policy, adapter: &str, claim: Claim<'_>) -> Result<(), Mismatch> {
    for s in policy.specialists.iter().filter(|s| s.adapter == adapter) {
        if s.lineage != claim.lineage {
            return Err(Mismatch::LineageMismatch {
                specialist: s.name.clone(),
                policy: s.lineage.clone(),
                manifest: claim.lineage.into(),
            });
        }
        let found: Vec<&str> = tags(claim.provenance).take(2).collect();
        match found.as_slice() {
            [] => return Err(Mismatch::ProvenanceMissing { specialist: s.name.clone(), policy: s.provenance.clone() }),
            [tag] if *tag == s.provenance => {}
            [tag] => {
                return Err(Mismatch::ProvenanceMismatch {
                    specialist: s.name.clone(),
                    policy: s.provenance.clone(),
                    manifest: (*tag).into(),
                });
            }
            _ => return Err(Mismatch::ProvenanceAmbiguous { specialist: s.name.clone(), policy: s.provenance.clone() }),
        }
    }
    Ok(())
}

/// Verifies adapter `adapter`'s `bundle` against `trusted` (both signatures, the payload's
/// size and hash), then [`check`]s its manifest against `policy`.
pub fn check_bundle(policy: &Policy, adapter: &str, bundle: &[u8], trusted: &[TrustedKeys]) -> Result<(), Refusal> {
    let verified = verify(bundle, trusted).map_err(Refusal::Bundle)?;
    check(policy, adapter, Claim::of(&verified.manifest)).map_err(Refusal::Mismatch)
}
