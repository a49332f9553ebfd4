//! The shadow model of the fuzzer's mappings (docs/fuzzing.md, "Shadow model").
//!
//! The model owns 64 KiB of untyped memory (slot [`UNTYPED`]), the slots [`FIRST`]..=255
//! and a 64 KiB window of its address space at [`AREA`] (one page table, mapped at the
//! start of a 2 MiB span no random operation may name: `sanitize` in `main.rs` moves every
//! random operation off these slots and that span). Random model operations — retype a page
//! table or frames, map and unmap the page table, map frames or copies of their
//! capabilities with read-only or read-write rights, unmap them, copy, delete and revoke
//! capabilities, unmap or delete the page table while frames are mapped through it (then
//! unmap those frames: no page may be visible after, not even when the page table is mapped
//! again), revoke the
//! untyped memory with everything in it, write a pattern through a writable mapping — each
//! must succeed, and the model records what every page of the window must show: nothing
//! (a read must page-fault), or a frame's contents (zero after Retype, else the last
//! pattern written), read-only or writable.
//!
//! After operations that remove mappings, and every [`CHECK_EVERY`] iterations, the model
//! reads every page it believes mapped (all 512 words), writes a word of a page it believes
//! read-only (must fault) and reads every page it believes unmapped (must fault). Some
//! patterns look like page-table entries (present, writable, user, physical addresses from
//! 0): a page table made from memory that was not cleared would map them, and the probes
//! would find the pages.

use crate::Rng;
use crate::snippets::{ARMED, PAGE_FAULT, TAKEN};
use tileos_abi::invocation::Label;
use tileos_abi::object::ObjectType;
use tileos_sys::{invoke, println};

/// The model's untyped memory (64 KiB), granted by the root server.
pub const UNTYPED: u64 = 15;
/// First slot of the model's objects: the page table, then [`FRAMES`] frames, then
/// [`COPIES`] copies of frame capabilities.
pub const FIRST: u64 = 240;
const PAGE_TABLE: u64 = FIRST;
const FRAMES: usize = 8;
const COPIES: usize = 7;
/// The window of pages checked.
pub const AREA: u64 = 0x2000_0000;
const PAGES: usize = 16;
/// Pages of the untyped memory (one object each).
const UNTYPED_PAGES: u64 = 16;
/// Iterations between full checks.
pub const CHECK_EVERY: u64 = 32;
const CNODE: u64 = 2;
const VSPACE: u64 = 3;
/// Rights: Read, Read + Write, all.
const READ: u64 = 2;
const READ_WRITE: u64 = 3;
const ALL_RIGHTS: u64 = 15;

/// True if `slot` belongs to the model (no random operation may name it).
pub fn owns_slot(slot: u64) -> bool {
    slot == UNTYPED || (FIRST..=255).contains(&slot)
}

/// True if `address` lies in the 2 MiB span of the model's page table.
pub fn owns_address(address: u64) -> bool {
    address >> 21 == AREA >> 21
}

/// A frame object: its identity and what it holds (`stamp` 0: zeros, as Retype leaves it).
#[derive(Clone, Copy)]
struct Object {
    id: u64,
    stamp: u64,
}

/// A capability slot of the model: which frame object (index into `objects`), its rights,
/// and the page it maps, if any.
#[derive(Clone, Copy)]
struct Cap {
    object: usize,
    rights: u64,
    page: Option<usize>,
    /// Rights of the mapping (meaningful while `page` is set).
    mapping: u64,
}

pub struct Model {
    /// Page table: retyped, mapped at AREA.
    table: bool,
    table_mapped: bool,
    /// Untyped pages used since the last revoke.
    used: u64,
    /// Frame objects, by original slot.
    objects: [Option<Object>; FRAMES],
    /// Capabilities: originals (0..FRAMES), copies (FRAMES..).
    caps: [Option<Cap>; FRAMES + COPIES],
    next_id: u64,
    /// Counters: pages read and checked, probes of unmapped or read-only pages, operations.
    pub pages_checked: u64,
    pub probes: u64,
    pub operations: u64,
}

/// Word `index` of a page holding pattern (`id`, `stamp`).
fn pattern(object: Object, index: u64) -> u64 {
    if object.stamp == 0 {
        return 0;
    }
    if object.stamp.is_multiple_of(3) {
        // Looks like a page-table entry: present | writable | user, frames from 0.
        return ((object.stamp.wrapping_add(index) % 0x8000) << 12) | 7;
    }
    let mut z = object.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ object.stamp.rotate_left(17) ^ index;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

fn page_address(page: usize) -> u64 {
    AREA + page as u64 * 4096
}

/// Reads the word at `address` armed: `Ok(value)` or `Err(vector)`.
fn probe_read(address: u64) -> Result<u64, u64> {
    let value: u64;
    let r12 = crate::snippets::armed!("mov {0}, [{0}]"; inout(reg) address => value,);
    if r12 == ARMED { Ok(value) } else { Err(r12 & !TAKEN) }
}

/// Writes `value` at `address` armed: `Ok(())` or `Err(vector)`.
fn probe_write(address: u64, value: u64) -> Result<(), u64> {
    let r12 = crate::snippets::armed!("mov qword ptr [{0}], {1}"; in(reg) address, in(reg) value,);
    if r12 == ARMED { Ok(()) } else { Err(r12 & !TAKEN) }
}

impl Model {
    pub const fn new() -> Model {
        Model {
            table: false,
            table_mapped: false,
            used: 0,
            objects: [None; FRAMES],
            caps: [None; FRAMES + COPIES],
            next_id: 1,
            pages_checked: 0,
            probes: 0,
            operations: 0,
        }
    }

    fn slot(cap: usize) -> u64 {
        FIRST + 1 + cap as u64
    }

    /// What page `page` must show: the object and whether it is writable, or nothing.
    fn expected(&self, page: usize) -> Option<(Object, bool)> {
        if !(self.table && self.table_mapped) {
            return None;
        }
        self.caps.iter().flatten().find(|cap| cap.page == Some(page)).map(|cap| {
            let object = self.objects[cap.object].expect("a capability of a live object");
            (object, cap.mapping & READ_WRITE == READ_WRITE)
        })
    }

    /// One random operation; false (after printing why) if the kernel's answer or a check
    /// broke the model.
    /// `detach`: the page table may be unmapped (else only deleted).
    pub fn step(&mut self, rng: &mut Rng, iteration: u64, trace: bool, detach: bool) -> bool {
        let kind = rng.below(16);
        let result = match kind {
            0..=1 => self.ensure_table(),
            2..=3 => self.retype_frame(rng),
            4..=7 => self.map(rng),
            8 => self.unmap(rng),
            9 => self.copy(rng),
            10 => self.delete_copy(rng),
            11 => self.revoke_or_delete_original(rng),
            12 => self.unmap_or_delete_table(rng, detach),
            13 => self.revoke_all(rng),
            _ => self.write(rng),
        };
        match result {
            Ok(Some(what)) => {
                self.operations += 1;
                if trace {
                    println!("fuzz model {iteration}: {what}; table {} mapped {}", self.table, self.table_mapped);
                    for (index, cap) in self.caps.iter().enumerate() {
                        if let Some(cap) = cap {
                            let object = self.objects[cap.object].map_or((0, 0), |o| (o.id, o.stamp));
                            println!(
                                "  slot {} object {object:x?} rights {} page {:?} mapping rights {}",
                                Self::slot(index),
                                cap.rights,
                                cap.page,
                                cap.mapping
                            );
                        }
                    }
                }
                // Operations that take mappings away: check at once.
                !matches!(kind, 8 | 10..=13) || self.check(iteration)
            }
            Ok(None) => true,
            Err((what, error)) => {
                println!(
                    "fuzz failure: iteration {iteration}: model operation {what} failed with error {error} (the model expects success)"
                );
                false
            }
        }
    }

    fn invoke(what: &'static str, cptr: u64, label: Label, args: &[u64], caps: &[u64]) -> Result<(), (&'static str, u64)> {
        invoke(cptr, label, args, caps).map(|_| ()).map_err(|error| (what, error.label))
    }

    fn ensure_table(&mut self) -> Result<Option<&'static str>, (&'static str, u64)> {
        if !self.table {
            if self.used == UNTYPED_PAGES {
                return Ok(None);
            }
            Self::invoke(
                "retype page table",
                UNTYPED,
                Label::UntypedRetype,
                &[ObjectType::PageTable as u64, 0, 0, 0, PAGE_TABLE, 1],
                &[CNODE],
            )?;
            self.used += 1;
            self.table = true;
            return Ok(Some("retype page table"));
        }
        if !self.table_mapped {
            Self::invoke("map page table", PAGE_TABLE, Label::PagingStructureMap, &[AREA], &[VSPACE])?;
            self.table_mapped = true;
            return Ok(Some("map page table"));
        }
        Ok(None)
    }

    fn retype_frame(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let free = rng.below(FRAMES as u64) as usize;
        if self.used == UNTYPED_PAGES || self.caps[free].is_some() {
            return Ok(None);
        }
        Self::invoke("retype frame", UNTYPED, Label::UntypedRetype, &[ObjectType::Frame4K as u64, 0, 0, 0, Self::slot(free), 1], &[CNODE])?;
        self.used += 1;
        self.objects[free] = Some(Object { id: self.next_id, stamp: 0 });
        self.next_id += 1;
        self.caps[free] = Some(Cap { object: free, rights: ALL_RIGHTS, page: None, mapping: 0 });
        Ok(Some("retype frame"))
    }

    fn map(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let index = rng.below((FRAMES + COPIES) as u64) as usize;
        let page = rng.below(PAGES as u64) as usize;
        let Some(cap) = self.caps[index] else { return Ok(None) };
        if !(self.table && self.table_mapped) || cap.page.is_some() || self.caps.iter().flatten().any(|c| c.page == Some(page)) {
            return Ok(None);
        }
        let rights = rng.pick(&[READ, READ_WRITE]) & cap.rights;
        Self::invoke("map frame", Self::slot(index), Label::FrameMap, &[page_address(page), rights, 0], &[VSPACE])?;
        self.caps[index] = Some(Cap { mapping: rights, page: Some(page), ..cap });
        Ok(Some("map frame"))
    }

    fn unmap(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let index = rng.below((FRAMES + COPIES) as u64) as usize;
        let Some(cap) = self.caps[index].filter(|cap| cap.page.is_some()) else { return Ok(None) };
        Self::invoke("unmap frame", Self::slot(index), Label::FrameUnmap, &[], &[])?;
        self.caps[index] = Some(Cap { page: None, ..cap });
        Ok(Some("unmap frame"))
    }

    fn copy(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let original = rng.below(FRAMES as u64) as usize;
        let copy = FRAMES + rng.below(COPIES as u64) as usize;
        if self.caps[original].is_none() || self.caps[copy].is_some() {
            return Ok(None);
        }
        let rights = rng.pick(&[READ, READ_WRITE, ALL_RIGHTS]);
        Self::invoke(
            "copy frame capability",
            CNODE,
            Label::CNodeCopy,
            &[Self::slot(copy), 64, Self::slot(original), 64, rights],
            &[CNODE],
        )?;
        self.caps[copy] = Some(Cap { object: original, rights, page: None, mapping: 0 });
        Ok(Some("copy frame capability"))
    }

    fn delete_copy(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let copy = FRAMES + rng.below(COPIES as u64) as usize;
        if self.caps[copy].is_none() {
            return Ok(None);
        }
        Self::invoke("delete frame capability copy", CNODE, Label::CNodeDelete, &[Self::slot(copy), 64], &[])?;
        self.caps[copy] = None;
        Ok(Some("delete frame capability copy"))
    }

    /// Revokes an original frame capability (deleting its copies and their mappings), and
    /// half of the time deletes it too (the frame object dies).
    fn revoke_or_delete_original(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let original = rng.below(FRAMES as u64) as usize;
        if self.caps[original].is_none() {
            return Ok(None);
        }
        Self::invoke("revoke frame capability", CNODE, Label::CNodeRevoke, &[Self::slot(original), 64], &[])?;
        for cap in self.caps[FRAMES..].iter_mut() {
            if cap.is_some_and(|cap| cap.object == original) {
                *cap = None;
            }
        }
        if rng.percent(50) {
            return Ok(Some("revoke frame capability"));
        }
        Self::invoke("delete frame capability", CNODE, Label::CNodeDelete, &[Self::slot(original), 64], &[])?;
        self.caps[original] = None;
        self.objects[original] = None;
        Ok(Some("revoke and delete frame capability"))
    }

    /// Unmaps the page table or deletes it, while frames are mapped through it; then unmaps
    /// every frame capability mapped through it (whatever the kernel answers). From then on
    /// no page of the window may be visible, also after the page table is mapped again: an
    /// entry left in a detached page table for a frame whose capability was unmapped (and
    /// that may be deleted and reused next) is a stale entry.
    fn unmap_or_delete_table(&mut self, rng: &mut Rng, detach: bool) -> Result<Option<&'static str>, (&'static str, u64)> {
        if !self.table {
            return Ok(None);
        }
        if self.table_mapped && rng.percent(50) && detach {
            Self::invoke("unmap page table", PAGE_TABLE, Label::PagingStructureUnmap, &[], &[])?;
            self.table_mapped = false;
            self.forget_mappings();
            return Ok(Some("unmap page table"));
        }
        Self::invoke("delete page table", CNODE, Label::CNodeDelete, &[PAGE_TABLE, 64], &[])?;
        self.table = false;
        self.table_mapped = false;
        self.forget_mappings();
        Ok(Some("delete page table"))
    }

    fn forget_mappings(&mut self) {
        for index in 0..FRAMES + COPIES {
            if let Some(cap) = self.caps[index].filter(|cap| cap.page.is_some()) {
                let _ = invoke(Self::slot(index), Label::FrameUnmap, &[], &[]);
                self.caps[index] = Some(Cap { page: None, ..cap });
            }
        }
    }

    /// Revokes the untyped memory: every model object is destroyed.
    fn revoke_all(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        if self.used < UNTYPED_PAGES && !rng.percent(10) {
            return Ok(None);
        }
        Self::invoke("revoke untyped memory", CNODE, Label::CNodeRevoke, &[UNTYPED, 64], &[])?;
        *self = Model {
            next_id: self.next_id,
            pages_checked: self.pages_checked,
            probes: self.probes,
            operations: self.operations,
            ..Model::new()
        };
        Ok(Some("revoke untyped memory"))
    }

    /// Writes a new pattern over a whole page the model believes writable.
    fn write(&mut self, rng: &mut Rng) -> Result<Option<&'static str>, (&'static str, u64)> {
        let page = rng.below(PAGES as u64) as usize;
        let Some((object, true)) = self.expected(page) else { return Ok(None) };
        let index = self.objects.iter().position(|o| o.is_some_and(|o| o.id == object.id)).expect("mapped object");
        let object = Object { stamp: rng.next() | 1, ..object };
        let words = page_address(page) as *mut u64;
        for word in 0..512 {
            // SAFETY: the model says this page is mapped writable; if the kernel disagrees
            // the write faults and the root server fails the run (not armed).
            unsafe { words.add(word).write_volatile(pattern(object, word as u64)) };
        }
        self.objects[index] = Some(object);
        Ok(Some("write pattern"))
    }

    /// Reads every page of the window and compares with the model; false (after printing
    /// why) at the first difference.
    pub fn check(&mut self, iteration: u64) -> bool {
        for page in 0..PAGES {
            let address = page_address(page);
            match (self.expected(page), probe_read(address)) {
                (None, Err(PAGE_FAULT)) => self.probes += 1,
                (None, Err(vector)) => {
                    println!(
                        "fuzz failure: iteration {iteration}: model: reading unmapped page {address:#x} gave vector {vector}, not a page fault"
                    );
                    return false;
                }
                (None, Ok(value)) => {
                    println!("fuzz failure: iteration {iteration}: ISOLATION: page {address:#x} must be unmapped but reads {value:#x}");
                    return false;
                }
                (Some(_), Err(vector)) => {
                    println!("fuzz failure: iteration {iteration}: model: mapped page {address:#x} faulted (vector {vector})");
                    return false;
                }
                (Some((object, writable)), Ok(_)) => {
                    let words = address as *const u64;
                    for word in 0..512u64 {
                        // SAFETY: the first word just read without a fault: the page is mapped.
                        let value = unsafe { words.add(word as usize).read_volatile() };
                        if value != pattern(object, word) {
                            // SAFETY: as above.
                            let differ =
                                (0..512u64).filter(|&w| unsafe { words.add(w as usize).read_volatile() } != pattern(object, w)).count();
                            let cap = self.caps.iter().position(|cap| cap.is_some_and(|cap| cap.page == Some(page))).expect("a mapping");
                            let physical = invoke(Self::slot(cap), Label::FrameGetAddress, &[], &[]).map(|reply| reply.words[0]);
                            println!(
                                "fuzz failure: iteration {iteration}: model: page {address:#x} word {word} is {value:#x}, must be {:#x} (frame {} at {physical:x?}, pattern {:#x}; {differ} of 512 words differ)",
                                pattern(object, word),
                                object.id,
                                object.stamp
                            );
                            return false;
                        }
                    }
                    self.pages_checked += 1;
                    if !writable {
                        match probe_write(address + 8, 0xDEAD_BEEF) {
                            Err(PAGE_FAULT) => self.probes += 1,
                            outcome => {
                                println!(
                                    "fuzz failure: iteration {iteration}: ISOLATION: write to read-only page {address:#x}: {outcome:?}"
                                );
                                return false;
                            }
                        }
                    }
                }
            }
        }
        true
    }
}
