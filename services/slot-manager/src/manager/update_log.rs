//! The update log (docs/slots.md, "The update log", "The update log's entries"): the
//! entries appended and persisted through [`LogStore`], hashed into the tree in steps, and
//! entries kept to be tried again. Every install, promotion and rollback is logged here.

use super::Manager;
use super::{ModuleInfo, cut, refused};
use crate::{Clock, LogStore, Seats};
use alloc::format;
use alloc::string::String;
use tileos_protocol::slots::{self, MAX_NAME, RefusalKind};
use tileos_slots::{Outcome, Reason, State, Ticks};
use tileos_update_log::{EventKind, LogError, MAX_TREE_SIZE, UpdateEvent, UpdateLog};

/// Longest note of a log entry (entries must fit one [`slots::Response::Entry`]).
const MAX_NOTE: usize = 300;

/// Entries the manager writes by itself (a breaker's rollback, a lineage's replacement, a
/// withdrawal, a restart's) kept while the store refuses them; one more drops the oldest,
/// counted in `log_failures`.
pub const MAX_UNLOGGED: usize = 32;

/// The least time between two tries of the kept entries as deferred work, so that a store
/// that refuses every write is not asked in a loop while the tile idles.
pub const LOG_RETRY_INTERVAL: Ticks = 100_000;

/// SHA-256 computations of the update log's tree per deferred hashing step
/// ([`Manager::deferred`]): an entry's leaf hash (its ≤ [`tileos_update_log::MAX_ENTRY_LEN`]
/// bytes, a few hundred for the manager's entries) and the interior nodes it completes (65
/// bytes each), whatever the log's size. An entry needs 1 + (the trailing one bits of its
/// index) of them, two on average, at most 1 + log₂ n.
pub const HASH_UNITS_PER_STEP: usize = 2;

/// The update log's persisted entries as the manager holds them ([`Manager::log`]): every
/// persisted entry, hashed into the tree or still pending ([`UpdateLog::pending`]).
#[derive(Clone, Copy, Debug)]
pub struct PersistedLog<'a> {
    pub(super) tree: &'a UpdateLog,
}

impl<'a> PersistedLog<'a> {
    /// Entries persisted so far.
    pub fn size(&self) -> u64 {
        self.tree.appended()
    }

    /// The encoded entry at `index`, hashed into the tree or not yet.
    pub fn entry(&self, index: u64) -> Option<&'a [u8]> {
        self.tree.appended_entry(index)
    }

    /// The tree (its size and heads leave out the entries still to be hashed in).
    pub fn tree(&self) -> &'a UpdateLog {
        self.tree
    }
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The log's clock in milliseconds: after the last persisted entry's, then the manager's
    /// monotonic clock (so it never goes back across reboots).
    pub(super) fn log_time(&self) -> u64 {
        self.log_base_ms.saturating_add(self.clock.now() / 1000)
    }

    /// Appends an entry (after the kept ones, [`Manager::flush_log`]): persisted, and
    /// hashed into the tree at a later step ([`Manager::hash_entries`]). Refused while an
    /// earlier entry still waits for the store, so that the log keeps the events' order.
    pub(super) fn append(&mut self, kind: EventKind, info: &ModuleInfo, note: &str) -> Result<u64, String> {
        if let Err(reason) = self.flush_log() {
            return Err(format!("{} earlier entries wait to be persisted: {reason}", self.unlogged.len()));
        }
        let event = self.event(kind, info, note);
        self.append_event(&event)
    }

    /// The log entry of `kind` for module `info` with `note`, stamped now.
    pub(super) fn event(&self, kind: EventKind, info: &ModuleInfo, note: &str) -> UpdateEvent {
        UpdateEvent {
            kind,
            timestamp_ms: self.log_time(),
            slot: cut(&self.config.name, MAX_NAME),
            module: cut(&info.name, MAX_NAME),
            version: cut(&info.version, MAX_NAME),
            content_hash: info.hash,
            note: cut(note, MAX_NOTE),
        }
    }

    /// Persists `event`; it is hashed into the tree at a later step ([`Manager::hash_entries`]).
    /// Returns its index.
    fn append_event(&mut self, event: &UpdateEvent) -> Result<u64, String> {
        let entry = event.encode().map_err(|e| format!("{e}"))?;
        // The next index: after the entries already in the tree and those waiting for it.
        let index = self.log.appended();
        if index >= MAX_TREE_SIZE {
            return Err(format!("{}", LogError::Full));
        }
        self.store.append(index, &entry).map_err(|e| e.0)?;
        // Encoded within `MAX_ENTRY_LEN` and its index checked: the log takes it.
        if let Err(error) = self.log.push_entry(entry) {
            self.stats.log_failures += 1;
            self.host.note(format_args!("slot {}: a persisted update-log entry was not taken by the tree: {error}", self.config.name));
        }
        Ok(index)
    }

    /// Does up to `max_units` hashes of the persisted entries that wait for them
    /// ([`UpdateLog::hash_pending`]: an entry's leaf, then each node it completes), in order:
    /// at most [`HASH_UNITS_PER_STEP`] as a deferred step of its own
    /// ([`Manager::do_deferred`]), all of them first thing in a control request, so that
    /// whoever reads the log, its head or a proof sees every persisted entry. The line says
    /// how long the hashing took (`ticks=`, [`Clock::cycles`]).
    pub(super) fn hash_entries(&mut self, max_units: usize) {
        let start = self.clock.cycles();
        let units = self.log.hash_pending(max_units);
        let ticks = self.clock.cycles().wrapping_sub(start);
        if units > 0 {
            self.host.note(format_args!(
                "@event slot.log-hashed slot={} units={units} size={} pending={} ticks={ticks}",
                self.config.name,
                self.log.size(),
                self.log.pending()
            ));
        }
    }

    /// A refusal of a state-changing request, logged (refusals are entries of kind `Install`
    /// whose note starts with "refused"); if the log cannot be persisted, a `Store` refusal.
    pub(super) fn refuse_logged(&mut self, kind: RefusalKind, info: &ModuleInfo, reason: &str) -> slots::Response {
        self.host.note(format_args!("@event slot.refused slot={} kind={kind:?} reason=\"{reason}\"", self.config.name));
        match self.append(EventKind::Install, info, &format!("refused ({kind:?}): {reason}")) {
            Ok(_) => refused(kind, reason),
            Err(error) => refused(RefusalKind::Store, &format!("the update log was not persisted ({error}); refused: {reason}")),
        }
    }

    /// The circuit breaker's rollbacks in `out` (a fault, a disagreement with the warm
    /// module or a latency regression of the promoted one) are *written before they are
    /// acted on*: each entry is persisted and added to the tree here, before the manager
    /// announces, delivers, hands over or reschedules anything of the rollback, so a
    /// manager that faults while carrying it out leaves it in the log. The breaker does not
    /// wait for the store: if the entry cannot be persisted, the rollback goes ahead and the
    /// entry is kept for the deferred work, which tries it again until the store takes it
    /// ([`Manager::append_or_keep`]). The durable write lands in the call of whichever client
    /// waits when the breaker trips (a rollback is rare; the breaker's decision was already
    /// made inside that call).
    pub(super) fn log_breaker_rollbacks(&mut self, out: &Outcome) {
        for t in &out.transitions {
            if t.to != State::RolledBack || !matches!(t.reason, Reason::CircuitBreaker(_)) {
                continue;
            }
            let event = self.event(EventKind::Rollback, &self.module_info(t.module), &format!("{:?}", t.reason));
            self.append_or_keep(event, format_args!("the breaker's rollback of module {}", t.module));
        }
    }

    /// Appends `event` after the kept entries ([`Manager::flush_log`]); if the store refuses
    /// it (or them), keeps it, in order, for the deferred work, which tries the kept entries
    /// again until the store takes them ([`LOG_RETRY_INTERVAL`] apart), and says so, naming
    /// the entry as `what`. Past [`MAX_UNLOGGED`] kept entries the oldest is dropped,
    /// counted and said.
    pub(super) fn append_or_keep(&mut self, event: UpdateEvent, what: core::fmt::Arguments<'_>) {
        let result = self.flush_log().and_then(|()| self.append_event(&event).map(|_| ()));
        let Err(reason) = result else { return };
        if self.unlogged.len() >= MAX_UNLOGGED
            && let Some(dropped) = self.unlogged.pop_front()
        {
            self.stats.log_failures += 1;
            self.host.note(format_args!(
                "slot {}: update log entry dropped unpersisted ({} {}, {MAX_UNLOGGED} entries waited for the store)",
                self.config.name,
                dropped.kind.name(),
                dropped.module
            ));
        }
        self.unlogged.push_back(event);
        self.log_retry_at = self.clock.now().saturating_add(LOG_RETRY_INTERVAL);
        self.host.note(format_args!(
            "slot {}: {what} was not persisted ({reason}): kept ({} waiting), tried again as deferred work",
            self.config.name,
            self.unlogged.len()
        ));
        self.defer();
    }

    /// Appends the kept entries, in order, until the store refuses one: it stays first, the
    /// next try is [`LOG_RETRY_INTERVAL`] later ([`Manager::log_retry_due`]), and the
    /// refusal is returned. `Ok` when none is kept any more.
    pub(super) fn flush_log(&mut self) -> Result<(), String> {
        let mut persisted = 0;
        while let Some(event) = self.unlogged.pop_front() {
            if let Err(reason) = self.append_event(&event) {
                self.unlogged.push_front(event);
                self.stats.log_retries_failed += 1;
                self.log_retry_at = self.clock.now().saturating_add(LOG_RETRY_INTERVAL);
                self.host.note(format_args!(
                    "@event slot.log-kept slot={} waiting={} reason=\"{reason}\"",
                    self.config.name,
                    self.unlogged.len()
                ));
                return Err(reason);
            }
            persisted += 1;
        }
        if persisted > 0 {
            self.host.note(format_args!("@event slot.log-kept-persisted slot={} entries={persisted}", self.config.name));
        }
        Ok(())
    }

    /// Whether kept entries wait and may be tried again now ([`LOG_RETRY_INTERVAL`] after
    /// the last refusal).
    pub(super) fn log_retry_due(&self) -> bool {
        !self.unlogged.is_empty() && self.clock.now() >= self.log_retry_at
    }
}
