//! The supervisor control protocol (`tileos_protocol::supervisor`) on the supervisor
//! endpoint, for the domains the description lists as its clients (their badges carry
//! [`SUPERVISOR_CLIENT_BIT`]): the status of every domain, and a restart on request (for
//! clients with full access), answered once the domain runs again.

use super::build::Kill;
use super::seats::SeatRequest;
use super::supervise::Supervision;
use super::{PendingRestart, State};
use tileos_abi::invocation::{CNodeSaveCaller, Slot};
use tileos_protocol::supervisor::{self as control, DomainStatus, Refusal, Response, Supervisor};
use tileos_sys::cap::CNode;
use tileos_sys::{event, println};
use tileos_sysdesc::{Access, RestartPolicy, SUPERVISOR_CLIENT_BIT};

impl Supervision<'_, '_> {
    /// Serves one control request `message`.
    pub(super) fn serve_control(&mut self, message: &tileos_sys::Message) {
        let description = self.description;
        let request = tileos_sys::rpc::decode_request::<Supervisor>(message);
        let caller = description
            .supervisor_endpoint()
            .and_then(|endpoint| endpoint.clients.iter().find(|c| c.badge == message.badge & !SUPERVISOR_CLIENT_BIT));
        let client = caller.map_or("?", |c| description.domains[c.domain as usize].name.as_str());
        let status_only = caller.is_none_or(|c| c.access == Access::StatusOnly);
        match request {
            Ok(control::Request::Status { first }) => {
                let domains = (first as usize..description.domains.len())
                    .take(control::MAX_STATUS)
                    .map(|index| DomainStatus {
                        name: description.domains[index].name.as_str().try_into().unwrap_or_default(),
                        state: self.tile.states[index].state,
                        generation: self.tile.states[index].generation,
                        restarts: self.tile.states[index].restarts,
                    })
                    .collect();
                let total = description.domains.len() as u16;
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Status { total, domains }));
            }
            Ok(control::Request::Restart { domain: name }) if status_only => {
                println!("supervisor: restart of domain \"{name}\" asked by \"{client}\" refused: it may only read the status");
                event!("restart.refused", domain = name, client = client, reason = "status-only");
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(Refusal::NotAllowed)));
            }
            Ok(control::Request::Restart { domain: name }) => self.restart_on_request(name.as_str(), client),
            Ok(
                request @ (control::Request::SeatLoad { .. }
                | control::Request::SeatChunk { .. }
                | control::Request::SeatStart { .. }
                | control::Request::SeatBegin { .. }
                | control::Request::SeatContinue { .. }
                | control::Request::SeatStop { .. }
                | control::Request::SeatSchedule { .. }
                | control::Request::SeatServing { .. }
                | control::Request::ServingSeat),
            ) => {
                // Only a slot's manager, identified by its own supervisor-client badge, and
                // only for its own slot's seats.
                let managed = caller.and_then(|c| description.slots.iter().position(|slot| slot.manager == c.domain));
                let response = match managed {
                    None => {
                        println!("supervisor: seat request from \"{client}\" refused: it is no slot's manager");
                        event!("seat.refused", client = client, reason = "NotSlotManager");
                        Response::Refused(Refusal::NotSlotManager)
                    }
                    Some(slot) => match SeatRequest::of(request) {
                        Some(seat_request) => self.serve_seat(slot, client, seat_request),
                        None => Response::Refused(Refusal::NotSlotManager),
                    },
                };
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(response));
            }
            Ok(control::Request::SlotConfig { offset }) => {
                // The caller's own slot only, as the description has it (postcard), in pieces.
                let managed = caller.and_then(|c| description.slots.iter().find(|slot| slot.manager == c.domain));
                let response = match managed {
                    None => {
                        println!("supervisor: slot configuration asked by \"{client}\" refused: it is no slot's manager");
                        Response::Refused(Refusal::NotSlotManager)
                    }
                    Some(slot) => {
                        let encoded = postcard::to_allocvec(slot).unwrap_or_default();
                        let start = (offset as usize).min(encoded.len());
                        let end = start.saturating_add(control::SEAT_CHUNK).min(encoded.len());
                        let bytes = tileos_protocol::heapless::Vec::from_slice(&encoded[start..end]).unwrap_or_default();
                        Response::SlotConfig { length: encoded.len() as u32, bytes }
                    }
                };
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(response));
            }
            Ok(control::Request::FederationConfig { offset }) => {
                // The federation domain only, as the description has it (postcard), in pieces.
                let federation = description.federation.as_ref().filter(|f| caller.is_some_and(|c| c.domain == f.domain));
                let response = match federation {
                    None => {
                        println!("supervisor: federation configuration asked by \"{client}\" refused: it is not the federation domain");
                        event!("federation-config.refused", client = client, reason = "NotFederationDomain");
                        Response::Refused(Refusal::NotFederationDomain)
                    }
                    Some(federation) => {
                        let encoded = postcard::to_allocvec(federation).unwrap_or_default();
                        let start = (offset as usize).min(encoded.len());
                        let end = start.saturating_add(control::SEAT_CHUNK).min(encoded.len());
                        let bytes = tileos_protocol::heapless::Vec::from_slice(&encoded[start..end]).unwrap_or_default();
                        Response::FederationConfig { length: encoded.len() as u32, bytes }
                    }
                };
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(response));
            }
            Ok(control::Request::Figures { first }) => tileos_sys::rpc::answer::<Supervisor>(None, Ok(self.figures(first))),
            Ok(control::Request::Observe { reporter, calls, p50_ticks, p99_ticks }) => {
                let response = self.observe(caller.map(|c| c.domain), client, reporter, calls, p50_ticks, p99_ticks);
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(response));
            }
            Ok(control::Request::PendingRollback) => {
                let response = self.pending_rollback(caller.map(|c| c.domain), client);
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(response));
            }
            Ok(control::Request::SlotEvidence { compared, disagreeing }) => {
                let response = self.slot_evidence(caller.map(|c| c.domain), client, compared, disagreeing);
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(response));
            }
            Err(error) => {
                println!("supervisor: malformed request from \"{client}\": {error:?}");
                tileos_sys::rpc::answer::<Supervisor>(None, Err::<Response, _>(error));
            }
        }
    }

    /// Why domain `index` may not be killed for a restart now, if it may not.
    pub(super) fn restart_refusal(&self, index: usize) -> Option<Refusal> {
        // A slot's seat is never restarted by the supervisor (its manager starts what runs
        // there): as if its restart policy were "never".
        let seat = self.description.seat(index as u32).is_some();
        match (self.description.domains[index].restart, self.tile.states[index].state) {
            (RestartPolicy::Never, _) => Some(Refusal::RestartPolicyNever),
            _ if seat => Some(Refusal::RestartPolicyNever),
            (_, State::Running) => None,
            (_, other) => Some(Refusal::NotRunning(other)),
        }
    }

    /// Kills domain `name` for a restart asked by `client`, whose reply capability is saved
    /// and answered when the domain runs again (or refused at once, saying why).
    fn restart_on_request(&mut self, name: &str, client: &str) {
        let description = self.description;
        let Some(index) = description.domains.iter().position(|d| d.name == name) else {
            println!("supervisor: restart of unknown domain \"{name}\" asked by \"{client}\" refused");
            tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(Refusal::UnknownDomain)));
            return;
        };
        if let Some(refusal) = self.restart_refusal(index) {
            println!("supervisor: restart of domain \"{name}\" asked by \"{client}\" refused: {refusal:?}");
            tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(refusal)));
            return;
        }
        // A slot to save the caller's reply capability in, before anything is killed.
        let saved = match self.free_reply_slots.pop().map_or_else(|| self.alloc.slots.try_take(), Ok) {
            Ok(saved) => saved,
            Err(error) => {
                println!("supervisor: restart of domain \"{name}\" asked by \"{client}\" refused: {error}");
                tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(Refusal::RestartFailed)));
                return;
            }
        };
        println!("supervisor: domain \"{name}\" killed on request of \"{client}\" (generation {})", self.tile.states[index].generation);
        event!("domain.killed", domain = name, client = client, generation = self.tile.states[index].generation);
        // Save the caller's reply capability: it is answered once the domain runs again, and
        // the loop receives in the meantime.
        if let Err(error) = CNode::ROOT.invoke(CNodeSaveCaller { dest: Slot::at(saved) }) {
            println!("supervisor: cannot save the caller of \"{client}\": {error:?}");
        }
        match self.tile.kill_for_restart(self.alloc, index) {
            Kill::Restart { deadline } => self.pending.push(PendingRestart { index, deadline, waiter: Some(saved) }),
            Kill::GaveUp => {
                let restarts = self.tile.states[index].restarts;
                tileos_sys::rpc::answer::<Supervisor>(Some(saved), Ok(Response::GaveUp { restarts }));
                self.free_reply_slots.push(saved);
            }
            Kill::Failed => {
                tileos_sys::rpc::answer::<Supervisor>(Some(saved), Ok(Response::Refused(Refusal::RestartFailed)));
                self.free_reply_slots.push(saved);
            }
        }
    }
}
