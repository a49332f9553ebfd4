//! The protocol between the in-guest fuzzer domain and the root server's fuzz mode
//! (docs/fuzzing.md), in one place for both sides.
//!
//! The fuzzer reports progress, its end and a broken check as *marker* system calls:
//! unknown syscall numbers whose top 16 bits say which marker and whose low 48 bits carry
//! an iteration count. The root server receives them as fault messages.

/// The marker part of a syscall number (the low 48 bits are a count).
pub const MARK_MASK: u64 = 0xFFFF_0000_0000_0000;
/// Progress marker, `MARK_PROGRESS | iterations done`: the root server checks the witness,
/// the canaries and the kernel image, and replies.
pub const MARK_PROGRESS: u64 = 0x7A11_0000_0000_0000;
/// Final marker, `MARK_DONE | iterations`: never answered; the fuzzer's counters travel in
/// its registers.
pub const MARK_DONE: u64 = 0x7D0E_0000_0000_0000;
/// Failure marker, `MARK_FAIL | iteration`: a check of the fuzzer's broke (it printed
/// `fuzz failure: …` first). Never answered.
pub const MARK_FAIL: u64 = 0xFA11_0000_0000_0000;

/// `r12` of the fuzzer while it runs a snippet that may fault.
pub const ARMED: u64 = 0xA4ED_5AFE_0000_0000;
/// `r12` the root server writes back after an armed fault: `TAKEN | vector`.
pub const TAKEN: u64 = 0x7A4E_0000_0000_0000;
/// Bit of the second fuzzer thread's `rdx` at entry that makes it the runner.
pub const RUNNER_FLAG: u64 = 1 << 63;

/// Whether syscall `number` would be read as a marker.
pub const fn is_marker(number: u64) -> bool {
    matches!(number & MARK_MASK, MARK_PROGRESS | MARK_DONE | MARK_FAIL)
}

/// A drawn syscall number moved off the marker prefixes (bit 48 flipped: flipping bit 63
/// would turn MARK_PROGRESS into MARK_FAIL and back); other numbers unchanged.
pub const fn off_markers(number: u64) -> u64 {
    if is_marker(number) { number ^ 1 << 48 } else { number }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_marker_prefix_survives_the_guard() {
        for marker in [MARK_PROGRESS, MARK_DONE, MARK_FAIL] {
            for count in [0, 1, 0x92B3_7DE9_4B5C, !MARK_MASK] {
                let number = marker | count;
                assert!(is_marker(number));
                assert!(!is_marker(off_markers(number)), "{number:#x} stays a marker");
            }
        }
        assert_eq!(off_markers(8), 8);
    }
}
