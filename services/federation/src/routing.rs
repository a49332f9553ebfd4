//! Contact-graph routing: the earliest arrival of a bundle at a destination node over a
//! plan of scheduled contacts (Dijkstra over contacts, as in CCSDS SABR / ION's CGR), and
//! the contact-plan bundle format.
//!
//! A contact is a one-way link window: `from` can send to `to` between `start_ms` and
//! `end_ms` at `rate_bytes_per_s`, and what it sends arrives `owlt_ms` (one-way light time)
//! later. A bundle of `size` bytes reaching node `from` at time `t` crosses contact `c` if
//! it can be sent completely before `c` ends: transmission starts at
//! `max(t, c.start + booked(c) / rate)` (after the bytes already booked on `c`: the
//! queue), takes `size / rate`, and arrives at `c.to` one light time after it ends. The
//! search settles contacts in order of that arrival time, so the first contact into the
//! destination it settles gives the earliest arrival; its path's first contact names the
//! next hop. Arrival must also come before the bundle's deadline (its expiry).

use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::vec::Vec;
use core::cmp::Reverse;

use serde::{Deserialize, Serialize};

use crate::config::{ContactProblem, NodeNumber};

/// One scheduled, one-way link window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Contact {
    /// The sending node.
    pub from: NodeNumber,
    /// The receiving node.
    pub to: NodeNumber,
    /// When it opens (node time, ms).
    pub start_ms: u64,
    /// When it closes (node time, ms).
    pub end_ms: u64,
    /// Its data rate in bytes per second.
    pub rate_bytes_per_s: u64,
    /// One-way light time: how long a byte takes to arrive, in ms.
    pub owlt_ms: u64,
}

impl Contact {
    /// Checks the contact's fields.
    pub fn check(&self) -> Result<(), ContactProblem> {
        if self.end_ms <= self.start_ms {
            return Err(ContactProblem::Empty);
        }
        if self.rate_bytes_per_s == 0 {
            return Err(ContactProblem::ZeroRate);
        }
        if self.from == self.to || self.from == 0 || self.to == 0 {
            return Err(ContactProblem::BadNodes);
        }
        Ok(())
    }

    /// Whether the contact is open at `now_ms`.
    pub fn is_open(&self, now_ms: u64) -> bool {
        self.start_ms <= now_ms && now_ms < self.end_ms
    }

    /// Bytes the contact can still carry from `now_ms` on: rate × remaining duration.
    pub fn remaining_volume(&self, now_ms: u64) -> u64 {
        let from = now_ms.max(self.start_ms);
        let ms = self.end_ms.saturating_sub(from);
        (u128::from(self.rate_bytes_per_s) * u128::from(ms) / 1000).try_into().unwrap_or(u64::MAX)
    }

    /// Milliseconds to transmit `bytes` (rounded up).
    fn transmit_ms(&self, bytes: u64) -> u64 {
        let ms = (u128::from(bytes) * 1000).div_ceil(u128::from(self.rate_bytes_per_s.max(1)));
        ms.try_into().unwrap_or(u64::MAX)
    }
}

/// What [`earliest_arrival`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The neighbour to hand the bundle to.
    pub next_hop: NodeNumber,
    /// When the bundle would arrive at the destination (ms).
    pub arrival_ms: u64,
    /// The contacts of the path, as indices into the plan, first hop first.
    pub contacts: Vec<usize>,
}

/// A bundle to route: where from, where to, how big, by when.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    /// The node the bundle is at.
    pub from: NodeNumber,
    /// Its destination node.
    pub to: NodeNumber,
    /// When the search starts (ms).
    pub now_ms: u64,
    /// Encoded bundle size in bytes.
    pub size: u64,
    /// Latest useful arrival (the bundle's expiry), ms.
    pub deadline_ms: u64,
}

/// The earliest-arrival route for `query` over `plan`, given `booked` bytes already queued
/// on contacts (by plan index), or `None` if no sequence of contacts delivers it in time.
/// Work: O(C² log C) for C contacts.
pub fn earliest_arrival(plan: &[Contact], query: &Query, booked: &BTreeMap<usize, u64>) -> Option<Route> {
    // best[c]: earliest arrival at plan[c].to through contact c; prev[c]: the contact before.
    let mut best: Vec<Option<u64>> = alloc::vec![None; plan.len()];
    let mut prev: Vec<Option<usize>> = alloc::vec![None; plan.len()];
    let mut settled = alloc::vec![false; plan.len()];
    let mut queue = BinaryHeap::new();
    let mut relax = |index: usize, ready_ms: u64, before: Option<usize>, best: &mut Vec<Option<u64>>, queue: &mut BinaryHeap<_>| {
        let Some(arrival) = crossing(&plan[index], ready_ms, query.size, booked.get(&index).copied().unwrap_or(0)) else {
            return;
        };
        if arrival > query.deadline_ms || best[index].is_some_and(|b| b <= arrival) {
            return;
        }
        best[index] = Some(arrival);
        prev[index] = before;
        queue.push(Reverse((arrival, index)));
    };
    for (index, contact) in plan.iter().enumerate() {
        if contact.from == query.from {
            relax(index, query.now_ms, None, &mut best, &mut queue);
        }
    }
    while let Some(Reverse((arrival, index))) = queue.pop() {
        if settled[index] {
            continue;
        }
        settled[index] = true;
        let at = plan[index].to;
        if at == query.to {
            return Some(path(plan, &prev, index, arrival));
        }
        for (next, contact) in plan.iter().enumerate() {
            if contact.from == at && !settled[next] && contact.to != query.from {
                relax(next, arrival, Some(index), &mut best, &mut queue);
            }
        }
    }
    None
}

/// When a bundle of `size` bytes ready at `contact.from` at `ready_ms` arrives at
/// `contact.to`, behind `booked` bytes, or `None` if it cannot be sent before the end.
fn crossing(contact: &Contact, ready_ms: u64, size: u64, booked: u64) -> Option<u64> {
    let free_ms = contact.start_ms.saturating_add(contact.transmit_ms(booked));
    let start = ready_ms.max(free_ms);
    let done = start.checked_add(contact.transmit_ms(size))?;
    if done > contact.end_ms {
        return None;
    }
    done.checked_add(contact.owlt_ms)
}

/// Walks `prev` back from the last contact to build the route.
fn path(plan: &[Contact], prev: &[Option<usize>], last: usize, arrival_ms: u64) -> Route {
    let mut contacts = alloc::vec![last];
    let mut at = last;
    // A path never repeats a contact, so it has at most plan.len() of them.
    while let Some(before) = prev[at] {
        if contacts.len() > plan.len() {
            break;
        }
        contacts.push(before);
        at = before;
    }
    contacts.reverse();
    Route { next_hop: plan[contacts[0]].to, arrival_ms, contacts }
}

/// Version byte of a contact-plan bundle's payload.
pub const PLAN_VERSION: u8 = 1;
/// Most contacts a contact-plan bundle may carry.
pub const MAX_PLAN_CONTACTS: usize = 4096;

/// Encodes a contact plan as the payload of a contact-plan bundle: [`PLAN_VERSION`], then
/// the postcard encoding of the contact list.
pub fn encode_plan(contacts: &[Contact]) -> Vec<u8> {
    let mut out = alloc::vec![PLAN_VERSION];
    // Encoding a slice of plain integers into a growable vector cannot fail.
    if let Ok(bytes) = postcard::to_allocvec(contacts) {
        out.extend_from_slice(&bytes);
    }
    out
}

/// Why a contact-plan payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The first byte is not [`PLAN_VERSION`].
    Version,
    /// The rest is not a postcard contact list, or has bytes after it.
    Malformed,
    /// More than [`MAX_PLAN_CONTACTS`] contacts.
    TooLarge,
    /// Contact `index` fails [`Contact::check`].
    BadContact {
        /// Its position.
        index: usize,
        /// What is wrong.
        problem: ContactProblem,
    },
}

/// Decodes and checks a contact-plan bundle's payload.
pub fn decode_plan(payload: &[u8]) -> Result<Vec<Contact>, PlanError> {
    let (&version, body) = payload.split_first().ok_or(PlanError::Version)?;
    if version != PLAN_VERSION {
        return Err(PlanError::Version);
    }
    // Each contact takes at least 6 bytes: refuse oversized plans before decoding them.
    if body.len() / 6 > MAX_PLAN_CONTACTS + 1 {
        return Err(PlanError::TooLarge);
    }
    let contacts: Vec<Contact> = match postcard::take_from_bytes(body) {
        Ok((contacts, [])) => contacts,
        _ => return Err(PlanError::Malformed),
    };
    if contacts.len() > MAX_PLAN_CONTACTS {
        return Err(PlanError::TooLarge);
    }
    for (index, contact) in contacts.iter().enumerate() {
        contact.check().map_err(|problem| PlanError::BadContact { index, problem })?;
    }
    Ok(contacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(from: NodeNumber, to: NodeNumber, start_ms: u64, end_ms: u64, rate: u64, owlt_ms: u64) -> Contact {
        Contact { from, to, start_ms, end_ms, rate_bytes_per_s: rate, owlt_ms }
    }

    fn query(from: NodeNumber, to: NodeNumber, size: u64) -> Query {
        Query { from, to, now_ms: 0, size, deadline_ms: u64::MAX }
    }

    /// The direct contact 1→3 is one hop but has a 20-minute light time; 1→2→3 opens a
    /// minute later and takes two hops of 1.3 s each: it arrives first and is chosen.
    #[test]
    fn earliest_arrival_beats_fewer_hops() {
        let plan = [
            contact(1, 3, 0, 3_600_000, 1_000, 1_200_000),
            contact(1, 2, 0, 3_600_000, 100_000, 1_300),
            contact(2, 3, 60_000, 3_600_000, 100_000, 1_300),
        ];
        let route = earliest_arrival(&plan, &query(1, 3, 10_000), &BTreeMap::new()).expect("a route");
        assert_eq!(route.next_hop, 2);
        assert_eq!(route.contacts, [1, 2]);
        // Ready at 2 at 100 + 1,300 ms; waits for the contact at 60,000; 100 ms to send; 1,300 ms light time.
        assert_eq!(route.arrival_ms, 60_000 + 100 + 1_300);
        // Had the bundle been due sooner than that, the direct contact could not help either.
        let late = Query { deadline_ms: 61_000, ..query(1, 3, 10_000) };
        assert_eq!(earliest_arrival(&plan, &late, &BTreeMap::new()), None);
    }

    #[test]
    fn volume_and_queueing_push_bundles_to_later_contacts() {
        // 1→2 carries 1,000 bytes per second for 10 s: 10,000 bytes; a second contact later.
        let plan = [contact(1, 2, 0, 10_000, 1_000, 0), contact(1, 2, 20_000, 30_000, 1_000, 0)];
        let first = earliest_arrival(&plan, &query(1, 2, 6_000), &BTreeMap::new()).unwrap();
        assert_eq!((first.contacts.as_slice(), first.arrival_ms), (&[0][..], 6_000));
        // With 6,000 bytes already booked on the first contact, another 6,000 do not fit.
        let booked = BTreeMap::from([(0, 6_000)]);
        let second = earliest_arrival(&plan, &query(1, 2, 6_000), &booked).unwrap();
        assert_eq!((second.contacts.as_slice(), second.arrival_ms), (&[1][..], 26_000));
        // Larger than any contact's volume: no route.
        assert_eq!(earliest_arrival(&plan, &query(1, 2, 10_001), &BTreeMap::new()), None);
    }

    #[test]
    fn contacts_that_closed_or_lead_nowhere_give_no_route() {
        let plan = [contact(1, 2, 0, 1_000, 1_000, 0), contact(3, 4, 0, 10_000, 1_000, 0)];
        let later = Query { now_ms: 2_000, ..query(1, 2, 10) };
        assert_eq!(earliest_arrival(&plan, &later, &BTreeMap::new()), None);
        assert_eq!(earliest_arrival(&plan, &query(1, 4, 10), &BTreeMap::new()), None);
    }

    #[test]
    fn plans_round_trip_and_bad_ones_are_refused() {
        let plan = [contact(1, 2, 0, 1_000, 1_000, 5)];
        assert_eq!(decode_plan(&encode_plan(&plan)), Ok(plan.to_vec()));
        assert_eq!(decode_plan(&[]), Err(PlanError::Version));
        assert_eq!(decode_plan(&[9, 0]), Err(PlanError::Version));
        let mut trailing = encode_plan(&plan);
        trailing.push(0);
        assert_eq!(decode_plan(&trailing), Err(PlanError::Malformed));
        let empty = [contact(1, 2, 5, 5, 1, 0)];
        assert_eq!(decode_plan(&encode_plan(&empty)), Err(PlanError::BadContact { index: 0, problem: ContactProblem::Empty }));
    }
}
