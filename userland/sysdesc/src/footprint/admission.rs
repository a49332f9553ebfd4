//! Admission: which domains the root server can build, decided in description order against
//! four budgets: the RAM left for domains, the free slots of its CNode, the kernel's address
//! spaces (ASIDs) and its own heap. A domain is admitted only if all four hold what it needs;
//! one that does not fit is refused with the budget that ran out and the figures, and the
//! next domain is tried (a smaller one may still fit).
//!
//! This is the arithmetic alone, tested on the host; the root server fills [`Budget`] from
//! what is really left at boot (`rootserver/src/system/build.rs`, `admit`), and the image
//! builder refuses at build time a description with more domains than [`ADDRESS_SPACES`] or
//! whose estimated root-server heap ([`heap_estimate`]) exceeds [`ROOT_HEAP_BYTES`].

/// Address spaces the kernel gives domains: it has 4,096 ASIDs, 0 means none, and the root
/// server's own address space takes one (`kernel/src/state.rs`, `ASID_COUNT`).
pub const ADDRESS_SPACES: u64 = 4096 - 1 - 1;

/// The root server's heap: it holds the decoded description, the supervisor's records of
/// every domain and what a build or a staged module needs while it runs
/// (`rootserver/src/system/mod.rs`, `HEAP_PAGES`).
pub const ROOT_HEAP_BYTES: u64 = 4 << 20;

/// Root-server heap per domain, all of it (decoded description, supervisor records and what
/// admission charges), for the image builder's estimate ([`heap_estimate`]), measured on the
/// generated many-domain tiles (console, echo server, witness and N echo clients): 2,359 KiB
/// in use at 2,468 domains (979 bytes each), 131 KiB at 153 domains, of which 105,664 bytes
/// (690 each) before admission, which then charges each such domain 344 bytes and keeps 16
/// per domain back: 1,050 bytes; rounded up, so that the builder refuses no fewer of these
/// than the root server would. A description with much more per domain (long client lists,
/// parameters, many grants) needs more: the root server still refuses, by name, what its
/// heap cannot hold.
pub const HEAP_PER_DOMAIN_MEASURED: u64 = 1100;

/// Root-server heap the image builder estimates a description of `domains` domains needs
/// besides what is fixed: [`HEAP_PER_DOMAIN_MEASURED`] per domain, plus 64 KiB of fixed
/// records and [`HEAP_RESERVE`].
pub fn heap_estimate(domains: u64) -> u64 {
    domains.saturating_mul(HEAP_PER_DOMAIN_MEASURED).saturating_add(HEAP_FIXED + HEAP_RESERVE)
}

/// Root-server heap in fixed use before the first domain (allocator, boot records): an
/// upper bound of what the generated tiles show (under 16 KiB beyond their domains).
const HEAP_FIXED: u64 = 64 * 1024;

/// Root-server heap admission keeps back from the domains: what one build (its grant list,
/// names and log lines) and the supervisor's work (replies, staging records) take while they
/// run, and room for the allocator's fragmentation.
pub const HEAP_RESERVE: u64 = 128 * 1024;

/// What is left for the domains not yet admitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of RAM.
    pub memory: u64,
    /// Free slots of the root server's CNode.
    pub slots: u64,
    /// Address spaces (each built domain takes one).
    pub address_spaces: u64,
    /// Bytes of the root server's heap.
    pub heap: u64,
    /// Domains admitted so far.
    pub admitted: u64,
}

/// What one domain needs of each budget (and one address space).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Need {
    /// Bytes of RAM: its footprint.
    pub memory: u64,
    /// Slots of the root server's CNode it holds while built.
    pub slots: u64,
    /// Bytes of the root server's heap its records take once admitted.
    pub heap: u64,
}

/// Why a domain is refused: the first budget, in the order RAM, slots, address spaces,
/// heap, that cannot hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too little RAM left.
    Memory {
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// Too few slots of the root server's CNode left.
    Slots {
        /// Slots it needs.
        needed: u64,
        /// Slots left.
        available: u64,
    },
    /// Every address space the kernel has for domains is taken.
    AddressSpaces {
        /// Address spaces domains can have in all (the domains admitted before).
        limit: u64,
    },
    /// Too little of the root server's heap left.
    Heap {
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Refusal::Memory { needed, available } => {
                write!(f, "no memory for it: it needs {} KiB, {} KiB of RAM are left", needed.div_ceil(1024), available / 1024)
            }
            Refusal::Slots { needed, available } => {
                write!(f, "no slots for it: it needs about {needed} slots of the root server's CNode, {available} are left")
            }
            Refusal::AddressSpaces { limit } => {
                write!(f, "no address space for it: the kernel has {limit} for domains (ASIDs) and all are taken")
            }
            Refusal::Heap { needed, available } => {
                write!(f, "no root-server heap for it: its records need {needed} bytes, {available} bytes of the heap are left")
            }
        }
    }
}

impl Budget {
    /// Admits a domain needing `need` (takes it from every budget), or says which budget
    /// cannot hold it (and takes nothing).
    pub fn admit(&mut self, need: Need) -> Result<(), Refusal> {
        if need.memory > self.memory {
            return Err(Refusal::Memory { needed: need.memory, available: self.memory });
        }
        if need.slots > self.slots {
            return Err(Refusal::Slots { needed: need.slots, available: self.slots });
        }
        if self.address_spaces == 0 {
            return Err(Refusal::AddressSpaces { limit: self.admitted });
        }
        if need.heap > self.heap {
            return Err(Refusal::Heap { needed: need.heap, available: self.heap });
        }
        self.memory -= need.memory;
        self.slots -= need.slots;
        self.address_spaces -= 1;
        self.heap -= need.heap;
        self.admitted += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLENTY: Budget = Budget { memory: 1 << 30, slots: 1 << 14, address_spaces: ADDRESS_SPACES, heap: 1 << 22, admitted: 0 };
    const SMALL: Need = Need { memory: 97 * 1024, slots: 3, heap: 512 };

    #[test]
    fn an_admitted_domain_takes_from_every_budget() {
        let mut budget = PLENTY;
        assert_eq!(budget.admit(SMALL), Ok(()));
        assert_eq!(
            budget,
            Budget {
                memory: PLENTY.memory - 97 * 1024,
                slots: PLENTY.slots - 3,
                address_spaces: ADDRESS_SPACES - 1,
                heap: PLENTY.heap - 512,
                admitted: 1
            }
        );
    }

    #[test]
    fn the_address_spaces_stop_the_4095th_domain_and_name_the_limit() {
        let mut budget = PLENTY;
        for _ in 0..ADDRESS_SPACES {
            assert_eq!(budget.admit(Need { memory: 0, slots: 0, heap: 0 }), Ok(()));
        }
        let before = budget;
        assert_eq!(budget.admit(Need::default()), Err(Refusal::AddressSpaces { limit: 4094 }));
        assert_eq!(budget, before, "a refusal takes nothing");
    }

    #[test]
    fn the_heap_refuses_a_domain_it_cannot_hold_and_a_smaller_one_still_fits() {
        let mut budget = Budget { heap: 1000, ..PLENTY };
        assert_eq!(budget.admit(SMALL), Ok(()));
        assert_eq!(budget.admit(SMALL), Err(Refusal::Heap { needed: 512, available: 488 }));
        assert_eq!(budget.admit(Need { heap: 488, ..SMALL }), Ok(()));
        assert_eq!(budget.heap, 0);
        let refusal = budget.admit(SMALL).unwrap_err();
        assert_eq!(alloc::format!("{refusal}"), "no root-server heap for it: its records need 512 bytes, 0 bytes of the heap are left");
    }

    #[test]
    fn the_first_budget_that_cannot_hold_it_is_named() {
        let mut empty = Budget::default();
        assert_eq!(empty.admit(SMALL), Err(Refusal::Memory { needed: 97 * 1024, available: 0 }));
        let mut no_slots = Budget { slots: 2, ..PLENTY };
        assert_eq!(no_slots.admit(SMALL), Err(Refusal::Slots { needed: 3, available: 2 }));
        let mut no_asid = Budget { address_spaces: 0, heap: 0, admitted: 20, ..PLENTY };
        assert_eq!(no_asid.admit(SMALL), Err(Refusal::AddressSpaces { limit: 20 }));
        assert_eq!(
            alloc::format!("{}", Refusal::AddressSpaces { limit: ADDRESS_SPACES }),
            "no address space for it: the kernel has 4094 for domains (ASIDs) and all are taken"
        );
    }

    #[test]
    fn the_builder_estimate_passes_the_measured_tiles_and_stops_below_the_address_spaces() {
        // The 2,468-domain tile booted with 2,359 KiB of the heap in use.
        assert!(heap_estimate(2468) <= ROOT_HEAP_BYTES);
        assert!(heap_estimate(2468) >= 2359 * 1024);
        // Past about 3,600 generated domains the estimate no longer fits the 4 MiB heap.
        let most = (0..=ADDRESS_SPACES).take_while(|&n| heap_estimate(n) <= ROOT_HEAP_BYTES).last().unwrap();
        assert_eq!(most, (ROOT_HEAP_BYTES - HEAP_FIXED - HEAP_RESERVE) / HEAP_PER_DOMAIN_MEASURED);
        assert!(most < ADDRESS_SPACES);
        assert_eq!(heap_estimate(u64::MAX), u64::MAX);
    }
}
