//! Boot self-tests of test images, chosen by `tileos.test=<name>` on the kernel command
//! line. Each one provokes a failure on purpose so the boot tests can check that the kernel
//! reports it properly; without the option, boot simply continues.

use crate::kprintln;
use core::arch::global_asm;

// A function consisting of a single undefined instruction, so the test knows the exact
// RIP the exception report must show.
global_asm!(".section .text", ".global selftest_invalid_opcode", "selftest_invalid_opcode:", "    ud2",);

unsafe extern "C" {
    fn selftest_invalid_opcode();
}

/// A canonical kernel-half address that the kernel never maps (PML4 slot 510).
const UNMAPPED_KERNEL_ADDRESS: u64 = 0xffff_ff00_0000_0000;

/// Runs the self-test named on the command line, if any.
pub fn run(cmdline: &str) {
    let Some(name) = cmdline.split_whitespace().find_map(|word| word.strip_prefix("tileos.test=")) else {
        return;
    };
    kprintln!("selftest: {name}");
    match name {
        "boot" => {
            kprintln!("tileos: boot complete (kernel-only self-test)");
            crate::cpu::finish(tileos_abi::test_exit::GuestVerdict::Pass);
        }
        "invalid-opcode" => {
            kprintln!("selftest: executing ud2 at {:#x}", selftest_invalid_opcode as *const () as usize);
            // SAFETY: deliberately faults; the exception handler reports and stops.
            unsafe { selftest_invalid_opcode() };
        }
        "page-fault" => {
            kprintln!("selftest: reading unmapped address {UNMAPPED_KERNEL_ADDRESS:#x}");
            // SAFETY: deliberately faults; the exception handler reports and stops.
            let value = unsafe { (UNMAPPED_KERNEL_ADDRESS as *const u64).read_volatile() };
            kprintln!("selftest: read returned {value:#x}, expected a page fault");
        }
        "panic" => panic!("selftest panic requested on the command line"),
        "hang" => {
            kprintln!("selftest: hanging on purpose");
            crate::cpu::halt_forever();
        }
        unknown => kprintln!("selftest: unknown test '{unknown}', ignored"),
    }
}
