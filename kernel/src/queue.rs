//! Intrusive thread queues (endpoint and notification wait queues, scheduler ready
//! queues). Threads are named by their TCB address; the links live in the TCB, reached
//! through [`QueueLinks`], so a queue costs two words and no allocation.

/// Access to the queue links stored in each TCB. A thread is in at most one queue.
pub trait QueueLinks {
    /// `(prev, next)` of thread `tcb` (0: none).
    fn links(&self, tcb: u64) -> (u64, u64);
    /// Sets the links of thread `tcb`.
    fn set_links(&mut self, tcb: u64, prev: u64, next: u64);
}

/// A FIFO of threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// First thread (0: empty).
    pub head: u64,
    /// Last thread (0: empty).
    pub tail: u64,
}

impl Queue {
    /// An empty queue.
    pub const EMPTY: Queue = Queue { head: 0, tail: 0 };

    /// Whether no thread waits.
    pub fn is_empty(&self) -> bool {
        self.head == 0
    }

    /// Appends `tcb`.
    pub fn push_back(&mut self, links: &mut impl QueueLinks, tcb: u64) {
        links.set_links(tcb, self.tail, 0);
        if self.tail != 0 {
            let (prev, _) = links.links(self.tail);
            links.set_links(self.tail, prev, tcb);
        } else {
            self.head = tcb;
        }
        self.tail = tcb;
    }

    /// Prepends `tcb`.
    pub fn push_front(&mut self, links: &mut impl QueueLinks, tcb: u64) {
        links.set_links(tcb, 0, self.head);
        if self.head != 0 {
            let (_, next) = links.links(self.head);
            links.set_links(self.head, tcb, next);
        } else {
            self.tail = tcb;
        }
        self.head = tcb;
    }

    /// Removes `tcb`, which must be in this queue.
    pub fn remove(&mut self, links: &mut impl QueueLinks, tcb: u64) {
        let (prev, next) = links.links(tcb);
        if prev != 0 {
            let (before, _) = links.links(prev);
            links.set_links(prev, before, next);
        } else {
            self.head = next;
        }
        if next != 0 {
            let (_, after) = links.links(next);
            links.set_links(next, prev, after);
        } else {
            self.tail = prev;
        }
        links.set_links(tcb, 0, 0);
    }

    /// Removes and returns the first thread.
    pub fn pop_front(&mut self, links: &mut impl QueueLinks) -> Option<u64> {
        let head = self.head;
        if head == 0 {
            return None;
        }
        self.remove(links, head);
        Some(head)
    }
}

/// Number of thread priorities (0 lowest, 255 highest).
pub const PRIORITIES: usize = 256;

/// The scheduler's ready queues: one FIFO per priority and a bitmap of non-empty ones, with
/// a summary bit per bitmap word (as seL4's two-level bitmap), so the highest ready priority
/// is found in a few instructions, without a scan.
#[derive(Clone, Debug)]
pub struct ReadyQueues {
    queues: [Queue; PRIORITIES],
    bitmap: [u64; PRIORITIES / 64],
    /// Bit `w` set: `bitmap[w]` is not zero.
    summary: u64,
}

impl Default for ReadyQueues {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadyQueues {
    /// No thread ready.
    pub const fn new() -> ReadyQueues {
        ReadyQueues { queues: [Queue::EMPTY; PRIORITIES], bitmap: [0; PRIORITIES / 64], summary: 0 }
    }

    /// Makes `tcb` ready at `priority`, behind the threads already waiting there.
    pub fn enqueue(&mut self, links: &mut impl QueueLinks, tcb: u64, priority: u8) {
        self.queues[usize::from(priority)].push_back(links, tcb);
        self.mark(priority);
    }

    /// Makes `tcb` ready at `priority`, ahead of the threads already waiting there.
    pub fn enqueue_front(&mut self, links: &mut impl QueueLinks, tcb: u64, priority: u8) {
        self.queues[usize::from(priority)].push_front(links, tcb);
        self.mark(priority);
    }

    /// Records that `priority` has a ready thread.
    fn mark(&mut self, priority: u8) {
        self.bitmap[usize::from(priority) / 64] |= 1 << (priority % 64);
        self.summary |= 1 << (priority / 64);
    }

    /// Removes `tcb`, which must be ready at `priority`.
    pub fn dequeue(&mut self, links: &mut impl QueueLinks, tcb: u64, priority: u8) {
        let queue = &mut self.queues[usize::from(priority)];
        queue.remove(links, tcb);
        if queue.is_empty() {
            let word = usize::from(priority) / 64;
            self.bitmap[word] &= !(1 << (priority % 64));
            if self.bitmap[word] == 0 {
                self.summary &= !(1 << word);
            }
        }
    }

    /// The highest priority with a ready thread.
    #[inline]
    pub fn highest(&self) -> Option<u8> {
        if self.summary == 0 {
            return None;
        }
        let word = 63 - self.summary.leading_zeros() as usize;
        Some((word * 64 + 63 - self.bitmap[word].leading_zeros() as usize) as u8)
    }

    /// The first thread ready at `priority`.
    pub fn first(&self, priority: u8) -> Option<u64> {
        let head = self.queues[usize::from(priority)].head;
        (head != 0).then_some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Links(HashMap<u64, (u64, u64)>);

    impl QueueLinks for Links {
        fn links(&self, tcb: u64) -> (u64, u64) {
            self.0.get(&tcb).copied().unwrap_or((0, 0))
        }
        fn set_links(&mut self, tcb: u64, prev: u64, next: u64) {
            self.0.insert(tcb, (prev, next));
        }
    }

    fn drain(queue: &mut Queue, links: &mut Links) -> Vec<u64> {
        std::iter::from_fn(|| queue.pop_front(links)).collect()
    }

    #[test]
    fn fifo_order_and_removal_from_the_middle() {
        let (mut queue, mut links) = (Queue::EMPTY, Links::default());
        for tcb in [1, 2, 3, 4] {
            queue.push_back(&mut links, tcb);
        }
        queue.remove(&mut links, 3);
        queue.push_front(&mut links, 9);
        queue.remove(&mut links, 4);
        assert_eq!(drain(&mut queue, &mut links), vec![9, 1, 2]);
        assert!(queue.is_empty());
        assert_eq!(queue, Queue::EMPTY);
    }

    #[test]
    fn push_front_links_both_ends() {
        let (mut queue, mut links) = (Queue::EMPTY, Links::default());
        queue.push_front(&mut links, 5);
        assert_eq!(queue, Queue { head: 5, tail: 5 });
        queue.push_front(&mut links, 6);
        assert_eq!(queue, Queue { head: 6, tail: 5 });
        assert_eq!((links.links(6), links.links(5)), ((0, 5), (6, 0)));
        queue.remove(&mut links, 5);
        assert_eq!(queue, Queue { head: 6, tail: 6 });
        assert_eq!(links.links(6), (0, 0));
    }

    #[test]
    fn enqueue_front_goes_ahead_and_marks_its_priority() {
        for priority in [0u8, 1, 63, 64, 65, 130, 255] {
            let (mut ready, mut links) = (ReadyQueues::new(), Links::default());
            ready.enqueue_front(&mut links, 7, priority);
            assert_eq!((ready.highest(), ready.first(priority)), (Some(priority), Some(7)), "priority {priority}");
            ready.enqueue(&mut links, 8, priority);
            ready.enqueue_front(&mut links, 9, priority);
            assert_eq!(ready.first(priority), Some(9));
            for tcb in [9, 7, 8] {
                assert_eq!(ready.highest(), Some(priority));
                assert_eq!(ready.first(priority), Some(tcb));
                ready.dequeue(&mut links, tcb, priority);
            }
            assert_eq!(ready.highest(), None, "priority {priority}: the bitmap is clear again");
        }
    }

    #[test]
    fn highest_priority_first_round_robin_within() {
        let (mut ready, mut links) = (ReadyQueues::new(), Links::default());
        ready.enqueue(&mut links, 10, 5);
        ready.enqueue(&mut links, 11, 200);
        ready.enqueue(&mut links, 12, 200);
        ready.enqueue(&mut links, 13, 0);
        ready.enqueue(&mut links, 14, 64);
        assert_eq!(ready.highest(), Some(200));
        assert_eq!(ready.first(200), Some(11));
        ready.dequeue(&mut links, 11, 200);
        ready.enqueue(&mut links, 11, 200); // end of timeslice: to the back
        assert_eq!(ready.first(200), Some(12));
        ready.dequeue(&mut links, 12, 200);
        ready.dequeue(&mut links, 11, 200);
        assert_eq!(ready.highest(), Some(64));
        ready.dequeue(&mut links, 14, 64);
        assert_eq!(ready.highest(), Some(5));
        ready.dequeue(&mut links, 10, 5);
        ready.dequeue(&mut links, 13, 0);
        assert_eq!(ready.highest(), None);
    }

    /// The summary bit of a bitmap word stays set while any priority of the word is ready
    /// (and only then), whichever way threads came in.
    #[test]
    fn the_summary_follows_each_bitmap_word() {
        let (mut ready, mut links) = (ReadyQueues::new(), Links::default());
        ready.enqueue(&mut links, 1, 64);
        ready.enqueue_front(&mut links, 2, 127);
        ready.enqueue(&mut links, 3, 128);
        ready.dequeue(&mut links, 3, 128);
        assert_eq!(ready.highest(), Some(127));
        ready.dequeue(&mut links, 2, 127);
        assert_eq!(ready.highest(), Some(64));
        ready.enqueue(&mut links, 4, 63);
        ready.dequeue(&mut links, 1, 64);
        assert_eq!(ready.highest(), Some(63));
        ready.dequeue(&mut links, 4, 63);
        assert_eq!(ready.highest(), None);
    }

    #[test]
    fn many_threads_per_priority() {
        let (mut ready, mut links) = (ReadyQueues::new(), Links::default());
        for tcb in 1..=1000u64 {
            ready.enqueue(&mut links, tcb, (tcb % 256) as u8);
        }
        let mut seen = 0;
        while let Some(priority) = ready.highest() {
            let tcb = ready.first(priority).unwrap();
            assert_eq!((tcb % 256) as u8, priority);
            ready.dequeue(&mut links, tcb, priority);
            seen += 1;
        }
        assert_eq!(seen, 1000);
    }
}
