//! The big kernel lock (docs/architecture.md, "Concurrency"): a ticket lock, taken first
//! at every kernel entry and released last before the kernel leaves to user mode or idles,
//! as seL4's SMP kernel does. Tickets are served in the order they were drawn, so no CPU
//! waits longer than the kernel paths of the CPUs ahead of it (each one bounded: the
//! kernel is non-preemptible with preemption points in long operations).

use core::sync::atomic::{AtomicU32, Ordering};

/// A FIFO spin lock: a CPU draws the next ticket and waits until it is served.
pub struct TicketLock {
    next: AtomicU32,
    serving: AtomicU32,
}

impl Default for TicketLock {
    fn default() -> Self {
        Self::new()
    }
}

impl TicketLock {
    /// An unlocked lock.
    pub const fn new() -> TicketLock {
        TicketLock { next: AtomicU32::new(0), serving: AtomicU32::new(0) }
    }

    /// Waits until this CPU holds the lock (tickets wrap around: 2^32 waiters never exist).
    #[inline(always)]
    pub fn acquire(&self) {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        while self.serving.load(Ordering::Acquire) != ticket {
            core::hint::spin_loop();
        }
    }

    /// Releases the lock; only its holder may call this.
    #[inline(always)]
    pub fn release(&self) {
        // Only the holder writes `serving`, so a load and a store suffice.
        let served = self.serving.load(Ordering::Relaxed);
        self.serving.store(served.wrapping_add(1), Ordering::Release);
    }

    /// Whether some CPU holds the lock (for assertions and tests).
    pub fn is_held(&self) -> bool {
        self.next.load(Ordering::Relaxed) != self.serving.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_and_serves_every_waiter() {
        let lock = Arc::new(TicketLock::new());
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let inside = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter, inside) = (lock.clone(), counter.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        lock.acquire();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                        // A non-atomic read-modify-write: lost updates would show a race.
                        let value = counter.load(Ordering::Relaxed);
                        counter.store(value + 1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        lock.release();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 40_000);
        assert!(!lock.is_held());
    }

    #[test]
    fn held_until_released() {
        let lock = TicketLock::new();
        assert!(!lock.is_held());
        lock.acquire();
        assert!(lock.is_held());
        lock.release();
        assert!(!lock.is_held());
        lock.acquire();
        lock.release();
        assert!(!lock.is_held());
    }
}
