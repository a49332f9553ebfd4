//! N-version mode (docs/slots.md, "N-version"): each request's ballot over the three
//! lineages, counted when all have answered or at its deadline, and a lineage that
//! dissents too often replaced by the spare seat.

use super::Manager;
use super::seats::{InFlight, Program, Role};
use super::{ModuleInfo, cut};
use crate::{Clock, LogStore, Message, ReplyCap, Seats};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_protocol::ProtocolError;
use tileos_protocol::slots::MAX_NAME;
use tileos_protocol::supervisor::SeatProgram;
use tileos_slots::{NVersion, RequestId, Ticks, VoteOutcome, vote};
use tileos_update_log::{EventKind, ModuleRef, UpdateEvent};

/// An N-version request's answers.
pub(super) struct Ballot {
    pub(super) answers: [Option<Vec<u8>>; 3],
    pub(super) answered: [bool; 3],
    delivered: bool,
    pub(super) deadline: Ticks,
}

/// N-version state.
pub(super) struct Lineages {
    pub(super) record: NVersion,
    /// The program answering in each lineage position (the fallback's once replaced).
    pub(super) names: [String; 3],
    /// The fallback's program name.
    pub(super) fallback: String,
    pub(super) seats: [usize; 3],
    pub(super) spare: Option<usize>,
    pub(super) ballots: BTreeMap<RequestId, Ballot>,
    pub(super) next: RequestId,
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    pub(super) fn ballot_request(&mut self, badge: u64, message: Rc<Message>, reply: ReplyCap, now: Ticks) {
        let deadline = now.saturating_add(self.config.policy.answer_deadline);
        let Some(l) = &mut self.lineages else { return };
        let id = l.next;
        l.next += 1;
        l.ballots.insert(id, Ballot { answers: [None, None, None], answered: [false; 3], delivered: false, deadline });
        let seats = l.seats;
        self.inflight.insert(InFlight { id, badge, reply, message: message.clone(), arrived: now });
        for seat in seats {
            // Every lineage's answer counts, but none may hold the client past the deadline.
            self.push_copy(seat, id, &message, deadline);
        }
    }

    /// Counts ballot `id`: delivers the majority answer as soon as there is one; once every
    /// lineage answered (or `expired`), records the vote and replaces a dissenter past the
    /// threshold.
    pub(super) fn count_ballot(&mut self, id: RequestId, expired: bool) {
        let Some(l) = &mut self.lineages else { return };
        let Some(ballot) = l.ballots.get_mut(&id) else { return };
        let answers = [ballot.answers[0].as_deref(), ballot.answers[1].as_deref(), ballot.answers[2].as_deref()];
        // Under the slot's comparator: `Equivalent` votes with the protocol's equivalence.
        let (comparator, equivalence) = (self.config.comparator, self.equivalence);
        let outcome = vote(answers, |a, b| comparator.agree(&equivalence, a, b));
        let mut deliver = None;
        if !ballot.delivered
            && let VoteOutcome::Unanimous(answer) | VoteOutcome::Majority { answer, .. } = outcome
        {
            ballot.delivered = true;
            deliver = Some(answer.to_vec());
        }
        let done = expired || ballot.answered.iter().all(|a| *a);
        let mut fail = false;
        let mut replacement = None;
        if done {
            fail = !ballot.delivered;
            if matches!(outcome, VoteOutcome::NoMajority) {
                self.stats.no_majority += 1;
            }
            replacement = l.record.record(&outcome);
            l.ballots.remove(&id);
        }
        if let Some(answer) = deliver {
            self.deliver(id, &answer);
        }
        if fail && let Some(flight) = self.inflight.remove(id) {
            self.stats.failed += 1;
            self.stats.answered += 1;
            self.host.reply(flight.reply, &Message::error(ProtocolError::Failed));
        }
        if let Some(r) = replacement {
            self.replace_lineage(r.lineage, r.dissents);
        }
    }

    /// Lineage position `k` dissented too often: the fallback takes it over in the spare
    /// seat, and its old seat becomes the spare.
    fn replace_lineage(&mut self, k: usize, dissents: u32) {
        let Some(l) = &self.lineages else { return };
        let (Some(spare), Some(&old)) = (l.spare, l.seats.get(k)) else {
            self.host.note(format_args!("slot {}: lineage {k} dissented {dissents} times, but there is no spare seat", self.config.name));
            return;
        };
        // The update-log entry first (persisted before the replacement is reported or made);
        // the replacement does not wait for the store: a refused entry is kept and tried
        // again as deferred work until the store takes it (as a breaker's).
        let cut_name = |name: &str| cut(name, MAX_NAME);
        let replaced = ModuleRef { module: cut_name(&l.names[k.min(2)]), version: String::new(), content_hash: [0; 32] };
        let fallback = ModuleInfo { name: l.fallback.clone(), version: String::new(), hash: [0; 32] };
        let note = format!(
            "lineage {k} dissented {dissents} times (replace_after {}): the fallback takes its place in seat {spare}",
            dissents.saturating_sub(1)
        );
        let lineage = u8::try_from(k).unwrap_or(u8::MAX);
        let event = UpdateEvent {
            kind: EventKind::LineageReplaced { lineage, dissents, replaced },
            ..self.event(EventKind::Install, &fallback, &note)
        };
        self.append_or_keep(event, format_args!("the replacement of lineage {k}"));
        self.host.note(format_args!("@event slot.lineage-replaced slot={} lineage={k} dissents={dissents} seat={spare}", self.config.name));
        if let Some(l) = &mut self.lineages
            && let Some(name) = l.names.get_mut(k)
        {
            name.clone_from(&l.fallback);
        }
        if let Some(s) = self.seats.get_mut(spare) {
            s.role = Role::Lineage(k);
            self.generation += 1;
            s.program = Some(Program::Named(SeatProgram::Fallback));
        }
        // Another module in the spare seat: not a restart.
        self.restart(spare, false);
        self.stop_seat(old);
        if let Some(l) = &mut self.lineages {
            if let Some(slot) = l.seats.get_mut(k) {
                *slot = spare;
            }
            l.spare = Some(old);
        }
    }
}
