//! Supervising the running tile: the root server's receive loop on the supervisor endpoint.
//! A fault message (badge: the domain's index + 1) stops the domain and, by its restart
//! policy, kills it for a restart after its back-off or leaves it stopped; a killed domain
//! is built again once its back-off is over, and whoever asked for the restart is answered
//! then. Requests of the control protocol go to [`super::control`].

use super::build::{Kill, Tile};
use super::{PendingRestart, State};
use crate::alloc::Allocator;
use crate::pci::REPORT_BADGE;
use ::alloc_crate::format;
use ::alloc_crate::vec::Vec;
use core::arch::x86_64::_rdtsc;
use tileos_abi::fault;
use tileos_abi::invocation::{CNodeDelete, Slot};
use tileos_protocol::supervisor::{Refusal, Response, Supervisor};
use tileos_sys::cap::CNode;
use tileos_sys::{event, println};
use tileos_sysdesc::archive::Archive;
use tileos_sysdesc::{RestartPolicy, SUPERVISOR_CLIENT_BIT, SystemDescription};

/// The supervisor's state: the tile, and the restarts under way.
pub(super) struct Supervision<'s, 'd> {
    pub(super) tile: &'s mut Tile<'d>,
    pub(super) alloc: &'s mut Allocator,
    pub(super) archive: &'s Archive<'d>,
    pub(super) description: &'d SystemDescription,
    /// Killed domains waiting out their back-off.
    pub(super) pending: Vec<PendingRestart>,
    /// Root-server slots that held a restart requester's reply capability, empty again.
    pub(super) free_reply_slots: Vec<u64>,
    /// The module ELF each slot's manager is staging (index: slot).
    pub(super) staging: Vec<Option<super::seats::Staging>>,
    /// The seat build under way in each slot, if any (`SeatBegin`; index: slot).
    pub(super) seat_builds: Vec<Option<::alloc_crate::boxed::Box<super::seats::SeatBuild>>>,
    /// The immune system's record of each slot (index: slot): the rollback asked of it, its
    /// manager's comparison totals.
    pub(super) slot_immunity: Vec<super::immune::SlotImmunity>,
    /// The seat each slot's manager recorded last as the one whose answers it delivers,
    /// and whether its module serves settled (`SeatServing`; index: slot; seat 0, not
    /// settled, at boot): kept across the manager's restarts, so that a restarted manager
    /// knows which module to keep serving or take the slot's state from.
    pub(super) serving_seats: Vec<(u8, bool)>,
}

impl<'s, 'd> Supervision<'s, 'd> {
    /// Supervision of `tile`, built from `description` and the programs in `archive`.
    pub(super) fn new(
        tile: &'s mut Tile<'d>,
        alloc: &'s mut Allocator,
        archive: &'s Archive<'d>,
        description: &'d SystemDescription,
    ) -> Self {
        let staging = description.slots.iter().map(|_| None).collect();
        let seat_builds = description.slots.iter().map(|_| None).collect();
        let slot_immunity = description.slots.iter().map(|_| Default::default()).collect();
        let serving_seats = description.slots.iter().map(|_| (0, false)).collect();
        Supervision {
            tile,
            alloc,
            archive,
            description,
            pending: Vec::new(),
            free_reply_slots: Vec::new(),
            staging,
            seat_builds,
            slot_immunity,
            serving_seats,
        }
    }

    /// Serves the supervisor endpoint forever, the `deferred` messages (received during the
    /// boot) first.
    pub(super) fn run(mut self, mut deferred: Vec<tileos_sys::Message>) -> ! {
        loop {
            self.finish_restarts();
            let message = if let Some(message) = deferred.pop() {
                message
            } else if self.pending.is_empty() {
                tileos_sys::recv(self.tile.supervisor, true)
            } else {
                // Back-offs are running: poll, so that they end on time.
                let message = tileos_sys::recv(self.tile.supervisor, false);
                if message.badge == 0 {
                    tileos_sys::yield_now();
                    continue;
                }
                message
            };
            if message.badge == REPORT_BADGE {
                // A restarted pci domain reports the bus again.
                self.tile.pci.take_report(&message);
            } else if message.badge & SUPERVISOR_CLIENT_BIT != 0 {
                self.serve_control(&message);
            } else {
                self.on_fault(&message);
            }
        }
    }

    /// Builds again every killed domain whose back-off is over, and answers whoever asked.
    fn finish_restarts(&mut self) {
        // SAFETY: rdtsc is allowed in user mode.
        let now = unsafe { _rdtsc() };
        while let Some(position) = self.pending.iter().position(|p| p.deadline <= now) {
            let PendingRestart { index, waiter, .. } = self.pending.swap_remove(position);
            let domain = &self.description.domains[index];
            let elf = self.archive.entry(domain.program as usize).map(|entry| entry.data).unwrap_or(&[]);
            let max_restarts = match domain.restart {
                RestartPolicy::Always { max_restarts, .. } => max_restarts,
                RestartPolicy::Never => 0,
            };
            let answer = match self.tile.rebuild(self.alloc, index, elf) {
                Ok(()) => {
                    let state = &self.tile.states[index];
                    println!(
                        "supervisor: domain \"{}\" restarted with fresh memory (generation {}, restart {} of {max_restarts})",
                        domain.name, state.generation, state.restarts
                    );
                    event!(
                        "domain.restarted",
                        domain = domain.name,
                        generation = state.generation,
                        restart = state.restarts,
                        max = max_restarts
                    );
                    Response::Restarted { generation: state.generation, restarts: state.restarts }
                }
                Err(error) => {
                    println!("supervisor: domain \"{}\" could not be restarted: {error}", domain.name);
                    Response::Refused(Refusal::RestartFailed)
                }
            };
            if let Some(slot) = waiter {
                tileos_sys::rpc::answer::<Supervisor>(Some(slot), Ok(answer));
                // The send used the reply capability up (or found the slot empty): reusable.
                let _ = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(slot) });
                self.free_reply_slots.push(slot);
            }
        }
    }

    /// A fault message of the domain its badge names: stops it, and restarts it by its
    /// policy.
    fn on_fault(&mut self, message: &tileos_sys::Message) {
        let description = self.description;
        let Some(index) = (message.badge as usize).checked_sub(1).filter(|&i| i < description.domains.len()) else {
            println!("supervisor: message with unknown badge {:#x} ignored", message.badge);
            return;
        };
        let domain = &description.domains[index];
        self.tile.states[index].faults = self.tile.states[index].faults.saturating_add(1);
        // A slot manager's seat build under way is abandoned: whatever runs next asks afresh.
        for slot_index in (0..description.slots.len()).filter(|&s| description.slots[s].manager as usize == index) {
            self.abandon_seat_build(slot_index, "its manager faulted");
        }

        let state = &self.tile.states[index];
        // The fault in the event line: its kind and the one figure tests look at.
        let (fault_kind, fault_detail) = match message.info.label() {
            fault::VM_FAULT => ("page-fault", format!("address={:#x}", message.words[1])),
            fault::USER_EXCEPTION => ("exception", format!("vector={}", message.words[3])),
            fault::CAP_FAULT => ("capability-fault", format!("pointer={:#x}", message.words[1])),
            fault::UNKNOWN_SYSCALL => ("unknown-syscall", format!("number={}", message.words[3])),
            other => ("other", format!("label={other}")),
        };
        let kind = match message.info.label() {
            fault::VM_FAULT => format!("page fault at address {:#x} (rip {:#x})", message.words[1], message.words[0]),
            fault::USER_EXCEPTION => format!("CPU exception {} at rip {:#x}", message.words[3], message.words[0]),
            fault::CAP_FAULT => format!("capability fault on pointer {:#x} at rip {:#x}", message.words[1], message.words[0]),
            fault::UNKNOWN_SYSCALL => format!("unknown system call {} at rip {:#x}", message.words[3], message.words[0]),
            other => format!("fault {other}"),
        };
        println!("supervisor: domain \"{}\" (generation {}) stopped: {kind}", domain.name, state.generation);
        println!(
            "{} {fault_detail}",
            tileos_sys::event_line!("domain.stopped", domain = domain.name, generation = state.generation, fault = fault_kind)
        );
        if let Some((slot, seat)) = description.seat(index as u32) {
            // A seat's module is never restarted by the supervisor: its manager decides.
            self.on_seat_fault(slot, seat, index, fault_kind);
            return;
        }
        match domain.restart {
            RestartPolicy::Never => {
                self.tile.states[index].state = State::Stopped;
                println!("supervisor: domain \"{}\" left stopped (restart policy: never)", domain.name)
            }
            RestartPolicy::Always { max_restarts, .. } => {
                if state.restarts >= max_restarts {
                    self.tile.states[index].state = State::GivenUp;
                    println!("supervisor: domain \"{}\": gave up after {max_restarts} restarts; last fault: {kind}", domain.name);
                    event!("domain.gave-up", domain = domain.name, restarts = max_restarts, fault = fault_kind);
                    return;
                }
                if let Kill::Restart { deadline } = self.tile.kill_for_restart(self.alloc, index) {
                    self.pending.push(PendingRestart { index, deadline, waiter: None });
                }
            }
        }
    }
}
