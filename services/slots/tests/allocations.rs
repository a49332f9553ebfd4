//! The serving path allocates nothing once the slot has warmed up: a request, its served
//! answer and every mirrored answer reuse the slot's kept storage (docs/slots.md, "The
//! client never waits for a challenger"). Counted with a global allocator that counts, so
//! this file holds this one test; only the test's own thread is counted (the harness's
//! other threads may allocate meanwhile: counting them made the test fail now and then).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use tileos_slots::{Answered, Comparator, ExactOnly, Responder, Slot, SlotPolicy};

/// The system allocator, counting allocations and reallocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (the test's thread only).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Counts one allocation if this thread is counted.
fn count() {
    if COUNTED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// `rounds` requests at once: each served, then copied to the two challengers, which agree;
/// answers of up to 968 bytes (the longest message the manager compares).
fn rounds(s: &mut Slot<ExactOnly>, first: u64, rounds: u64, in_flight: u64) {
    let answer = [0x5au8; 968];
    let mut requests = Vec::with_capacity(in_flight as usize);
    for round in first..first + rounds {
        let now = round * 10;
        requests.clear();
        for _ in 0..in_flight {
            let mirror = s.request(now);
            assert_eq!(mirror.copies, 2);
            requests.push(mirror.request);
        }
        for &request in &requests {
            let length = 8 + (request as usize * 8) % 960;
            assert_eq!(s.answer(request, Responder::Module(0), &answer[..length], now + 1).0, Answered::Deliver);
            for challenger in [1, 2] {
                let (answered, out) = s.answer(request, Responder::Module(challenger), &answer[..length], now + 2);
                assert_eq!(answered, Answered::Compared { agree: true });
                assert!(out.transitions.is_empty());
            }
        }
    }
}

#[test]
fn requests_and_answers_allocate_nothing_once_the_slot_has_warmed_up() {
    COUNTED.with(|counted| counted.set(true));
    let policy = SlotPolicy { min_agreeing: u64::MAX, min_soak: 0, max_challengers: 2, ..SlotPolicy::default() };
    let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
    for _ in 0..2 {
        let id = s.install(0).unwrap();
        let _ = s.started(id, 0).unwrap();
    }
    // Warm-up: the exchanges, their buffers (to the longest answer) and the copies' list.
    rounds(&mut s, 1, 300, 4);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    rounds(&mut s, 301, 1000, 4);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    // The test's own list of request numbers allocates once per call of `rounds`.
    assert_eq!(after - before, 1, "the slot allocated {} times in 4,000 requests", after - before - 1);
    assert_eq!(s.counters().requests, 4 * 1300);
}
