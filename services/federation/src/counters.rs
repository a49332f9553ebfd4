//! What the node counts: bundles through it, bundles dropped, and bad input refused, each
//! by reason.

use core::fmt;

/// Why input was refused. Every refusal is counted under its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A TCPCL contact header with the wrong magic or version.
    TcpclContactHeader,
    /// An unacceptable TCPCL SESS_INIT (bad node ID encoding, critical extension, MRU 0).
    TcpclSessionInit,
    /// A TCPCL message of unknown type or out of place.
    TcpclMessage,
    /// A TCPCL segment or extension list beyond our limits.
    TcpclTooLarge,
    /// A peer whose node ID is not `ipn:N.0` of a configured neighbour (or not the one dialled).
    UnknownPeer,
    /// A bundle that does not decode (CBOR, CRC, EIDs, block structure).
    MalformedBundle,
    /// A bundle whose primary block has neither CRC nor BIB.
    UnprotectedPrimary,
    /// A bundle without clock and without a valid bundle age block.
    BadBundleAge,
    /// A bundle for this node's replication service whose payload is not a replication
    /// message of a neighbour.
    MalformedReplication,
    /// A contact-plan bundle that does not decode, or from a node not allowed to send one.
    BadContactPlan,
    /// A fragment the reassembler refused (inconsistent, out of range, too large, buffer full).
    Reassembly,
    /// The spool is full (bundle count or bytes).
    SpoolFull,
    /// The store failed to keep the bundle.
    StoreFailed,
    /// A stored record that does not decode, found (and deleted) by recovery.
    CorruptRecord,
}

impl Refusal {
    /// Every reason, in counter order.
    pub const ALL: [Refusal; 14] = [
        Refusal::TcpclContactHeader,
        Refusal::TcpclSessionInit,
        Refusal::TcpclMessage,
        Refusal::TcpclTooLarge,
        Refusal::UnknownPeer,
        Refusal::MalformedBundle,
        Refusal::UnprotectedPrimary,
        Refusal::BadBundleAge,
        Refusal::MalformedReplication,
        Refusal::BadContactPlan,
        Refusal::Reassembly,
        Refusal::SpoolFull,
        Refusal::StoreFailed,
        Refusal::CorruptRecord,
    ];

    /// A short name for logs and replicated counters.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TcpclContactHeader => "tcpcl-contact-header",
            Refusal::TcpclSessionInit => "tcpcl-sess-init",
            Refusal::TcpclMessage => "tcpcl-message",
            Refusal::TcpclTooLarge => "tcpcl-too-large",
            Refusal::UnknownPeer => "unknown-peer",
            Refusal::MalformedBundle => "malformed-bundle",
            Refusal::UnprotectedPrimary => "unprotected-primary",
            Refusal::BadBundleAge => "bad-bundle-age",
            Refusal::MalformedReplication => "malformed-replication",
            Refusal::BadContactPlan => "bad-contact-plan",
            Refusal::Reassembly => "reassembly",
            Refusal::SpoolFull => "spool-full",
            Refusal::StoreFailed => "store-failed",
            Refusal::CorruptRecord => "corrupt-record",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a held bundle was dropped without being delivered or forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Its lifetime ended.
    Expired,
    /// It is larger than any contact can carry and must not be fragmented.
    Unforwardable,
    /// The next hop refused it as not acceptable (malformed, unauthorised).
    RefusedByPeer,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 3] = [DropReason::Expired, DropReason::Unforwardable, DropReason::RefusedByPeer];

    /// A short name for logs and replicated counters.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Expired => "expired",
            DropReason::Unforwardable => "unforwardable",
            DropReason::RefusedByPeer => "refused-by-peer",
        }
    }
}

/// The node's counters since it started (volatile; their replicated totals are in the
/// replicated state, `bundles.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bundles accepted from peers (stored and acknowledged).
    pub received: u64,
    /// Bundles created by local applications.
    pub created: u64,
    /// Bundles handed on and acknowledged by the next hop.
    pub forwarded: u64,
    /// Bundles delivered to local applications.
    pub delivered: u64,
    /// Fragments made when a bundle did not fit a contact.
    pub fragments_made: u64,
    /// Bundles put back together from fragments.
    pub reassembled: u64,
    /// Bundles (or fragments) for this node that arrived again after being delivered
    /// (acknowledged and dropped).
    pub duplicates: u64,
    /// Replication messages received and applied.
    pub replication_received: u64,
    /// Replication messages sent.
    pub replication_sent: u64,
    /// Bytes of replication payload sent (delta-intervals and acknowledgements).
    pub replication_bytes: u64,
    /// Bytes full-state synchronisation would have sent instead: the encoded state
    /// ([`FederatedState::encoded_len`](crate::FederatedState::encoded_len)) once per
    /// neighbour with a session per replication round, the rounds in which deltas are
    /// shipped (a full-state node has no acknowledgements, and sends every round because it
    /// cannot know what its neighbour lacks).
    pub replication_full_bytes: u64,
    /// Sessions that ended without an orderly SESS_TERM (timeouts, dropped connections).
    pub sessions_lost: u64,
    /// Sessions ended because the same neighbour had another (both dialled at once).
    pub duplicate_sessions: u64,
    /// Transfers the peer refused (retried later, or dropped if "not acceptable").
    pub refused_by_peer: u64,
    refused: [u64; Refusal::ALL.len()],
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// Inputs refused for `reason`.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason.index()]
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Bundles dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[DropReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)]
    }

    pub(crate) fn refuse(&mut self, reason: Refusal) {
        let slot = &mut self.refused[reason.index()];
        *slot = slot.saturating_add(1);
    }

    pub(crate) fn drop_bundle(&mut self, reason: DropReason) {
        let index = DropReason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.dropped[index] = self.dropped[index].saturating_add(1);
    }
}
