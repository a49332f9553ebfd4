//! The settled serving module's program saved on the store (docs/slots.md, "A settled
//! promotion outlives a manager restart"): when a staged module settles, its ELF is saved
//! in bounded deferred steps ([`PROGRAM_SAVE_STEP`] bytes each, then the durable commit),
//! so that a restarted manager that keeps the module serving holds its program again and
//! rebuilds it, not the incumbent, after a fault, and a boot starts it again in place of
//! the incumbent ([`Manager::restore_at_boot`]).

use super::seats::{Program, Role};
use super::{Manager, ModuleInfo};
use crate::{Clock, LogStore, Seats};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_protocol::supervisor::{SeatProgram, SeatSchedule};
use tileos_slots::{ModuleId, ORIGINAL_INCUMBENT};

/// The seat a boot starts the saved program in (the first challenger seat: free at a boot).
const RESTORED_SEAT: u8 = 1;

/// Bytes of the program sent to the store per deferred step: a step's span stays well
/// under the bound on a client's wait (a part is a copy into the shared region and one
/// store call).
pub const PROGRAM_SAVE_STEP: usize = 2048;

/// A settled module's program being saved: `sent` bytes so far (`None`: not begun).
pub(super) struct ProgramSave {
    module: ModuleId,
    elf: Rc<Vec<u8>>,
    sent: Option<usize>,
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// Module `module` settled: if it serves and runs a staged program (a bundle's ELF),
    /// that program is to be saved (a save of another module's under way is dropped: the
    /// store keeps the one committed before it).
    pub(super) fn save_settled_program(&mut self, module: ModuleId) {
        if module != self.slot.serving() {
            return;
        }
        let program = self.seat_of(Role::Module(module)).and_then(|seat| self.seats.get(seat)).and_then(|s| s.program.clone());
        self.program_save = match program {
            Some(Program::Staged(elf)) => Some(ProgramSave { module, elf, sent: None }),
            _ => None,
        };
    }

    /// Whether a step of the program's save is due (the last of the deferred work).
    pub(super) fn program_save_due(&self) -> bool {
        self.program_save.is_some()
    }

    /// One step of the save: its begin, one part of [`PROGRAM_SAVE_STEP`] bytes, or the
    /// commit (`@event slot.program-saved`). A refusal ends the save, noted: a restart then
    /// keeps the module without its program, as before the save.
    pub(super) fn program_save_step(&mut self) {
        let Some(mut save) = self.program_save.take() else { return };
        if self.slot.serving() != save.module {
            // It no longer serves (rolled back, or replaced by a later promotion's).
            return;
        }
        let (length, name) = (save.elf.len(), self.config.name.clone());
        let result = match save.sent {
            None => self.store.save_begin(length).map(|()| Some(0)),
            Some(sent) if sent < length => {
                let end = (sent + PROGRAM_SAVE_STEP).min(length);
                let part = save.elf.get(sent..end).unwrap_or_default();
                self.store.save_part(part).map(|()| Some(end))
            }
            Some(_) => self.store.save_commit().map(|()| None),
        };
        match result {
            Ok(Some(sent)) => {
                save.sent = Some(sent);
                self.program_save = Some(save);
            }
            Ok(None) => {
                self.host.note(format_args!("@event slot.program-saved slot={name} module={} bytes={length}", save.module));
            }
            Err(error) => self.host.note(format_args!(
                "slot {name}: module {}'s program ({length} bytes) not saved on the store ({}): a restarted manager would keep it without it",
                save.module, error.0
            )),
        }
    }

    /// The program a restarted manager keeps serving with the module whose content hash
    /// is `hash`: the saved one if the store holds it and it hashes to `hash`, otherwise
    /// [`Program::Kept`] (noted why).
    pub(super) fn kept_program(&mut self, hash: &[u8; 32]) -> Program {
        match self.saved_program_of(hash) {
            Ok(elf) => Program::Staged(Rc::new(elf)),
            Err(why) => {
                self.host.note(format_args!(
                    "slot {}: the kept module's program is not held ({why}): if it is lost, the incumbent serves again",
                    self.config.name
                ));
                Program::Kept
            }
        }
    }

    /// The program saved on the store, if its SHA-256 is `hash` (the content hash the signed
    /// update log names: it vouches for the bytes); otherwise why not.
    fn saved_program_of(&mut self, hash: &[u8; 32]) -> Result<Vec<u8>, String> {
        match self.store.saved_program() {
            Ok(Some(elf)) if tileos_module_bundle::content_hash(&elf) == *hash => Ok(elf),
            Ok(Some(elf)) => Err(format!("the program on the store ({} bytes) is another module's", elf.len())),
            Ok(None) => Err(String::from("no program is saved")),
            Err(error) => Err(format!("the saved program does not read: {}", error.0)),
        }
    }

    /// At a boot, when the reloaded log names `module` serving (a settled promotion): its
    /// program is read from the store and, if its SHA-256 is the log's content hash (the
    /// signed log vouches for it), started in seat 1 as module 0, serving, its state fresh
    /// (module states are not persisted); the incumbent's seat 0, started by the root server
    /// at boot, is stopped. Returns the seat, or why the incumbent serves instead.
    pub(super) fn restore_at_boot(&mut self, module: &ModuleInfo) -> Result<usize, String> {
        let elf = self.saved_program_of(&module.hash)?;
        let seat = usize::from(RESTORED_SEAT);
        if self.seats.get(seat).is_none_or(|s| s.role != Role::Empty) {
            return Err(format!("seat {seat} is not free"));
        }
        self.load(RESTORED_SEAT, &elf)
            .and_then(|()| self.start(RESTORED_SEAT, SeatProgram::Staged, false))
            .map_err(|e| format!("seat {seat} could not start it: {e}"))?;
        self.set_schedule(seat, SeatSchedule::Serving);
        self.free_the_incumbents_seat("at the boot");
        if let Some(s) = self.seats.get_mut(seat) {
            (s.role, s.program) = (Role::Module(ORIGINAL_INCUMBENT), Some(Program::Staged(Rc::new(elf))));
        }
        self.generation += 1;
        self.modules.insert(ORIGINAL_INCUMBENT, module.clone());
        Ok(seat)
    }
}
