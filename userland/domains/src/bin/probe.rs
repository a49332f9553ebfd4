//! Memory-grant test domain; what it does depends on its name in the description:
//! "hpet-reader" reads the HPET's capability register through its device memory grant,
//! "writer" fills the shared region "shared" with a pattern, "reader" checks it. Then each
//! touches memory it was not granted, which must fault (the supervisor reports it): the
//! HPET reader reads the shared region, the writer reads the HPET, the reader writes its
//! read-only mapping of the shared region.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_sys::log;

/// Where the scenario maps the HPET and the shared region.
const HPET: u64 = 0x6000_0000;
const SHARED: u64 = 0x5000_0000;
/// Where the scenario maps the 257-page region "big".
const BIG: u64 = 0x5100_0000;
const BIG_SIZE: u64 = 0x10_1000;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    match tileos_sys::domain::name() {
        "hpet-reader" => {
            // SAFETY: the description maps the HPET's register page here, uncached.
            let capabilities = unsafe { (HPET as *const u64).read_volatile() };
            log!("hpet-reader: HPET capabilities {capabilities:#x}, vendor {:#x}", capabilities >> 16 & 0xFFFF);
            log!("hpet-reader: reading the shared region, not granted here, at {SHARED:#x}");
            // SAFETY: deliberately faults: nothing is mapped there in this domain.
            let value = unsafe { (SHARED as *const u64).read_volatile() };
            log!("hpet-reader: read {value:#x} from the shared region (ISOLATION BROKEN)");
        }
        "writer" => {
            for index in 0..512u64 {
                // SAFETY: the description maps the 4 KiB shared region here, writable.
                unsafe { ((SHARED + index * 8) as *mut u64).write_volatile(0x5EED_0000 + index) };
            }
            // SAFETY: the description maps "big" here, writable, BIG_SIZE bytes.
            unsafe { ((BIG + BIG_SIZE - 8) as *mut u64).write_volatile(0xB16) };
            log!("writer: filled the shared region");
            log!("writer: reading the HPET, not granted here, at {HPET:#x}");
            // SAFETY: deliberately faults: nothing is mapped there in this domain.
            let value = unsafe { (HPET as *const u64).read_volatile() };
            log!("writer: read {value:#x} from the HPET (ISOLATION BROKEN)");
        }
        "reader" => {
            // SAFETY: the description maps the shared region here, read-only.
            let good =
                (0..512u64).filter(|&index| unsafe { ((SHARED + index * 8) as *const u64).read_volatile() } == 0x5EED_0000 + index).count();
            let listed =
                tileos_sys::domain::region("shared").is_some_and(|(vaddr, paddr, size)| vaddr == SHARED && paddr != 0 && size == 4096);
            log!("reader: {good} of 512 shared words as written; region listed with its physical address: {listed}");
            // SAFETY: the description maps "big" here, read-only, BIG_SIZE bytes.
            let last = unsafe { ((BIG + BIG_SIZE - 8) as *const u64).read_volatile() };
            let big = tileos_sys::domain::region("big").is_some_and(|(_, paddr, size)| paddr != 0 && size == BIG_SIZE);
            log!("reader: 257-page region listed: {big}, last word {last:#x}");
            log!("reader: writing its read-only mapping of the shared region at {SHARED:#x}");
            // SAFETY: deliberately faults: the reader's mapping is read-only.
            unsafe { (SHARED as *mut u64).write_volatile(0) };
            log!("reader: wrote the shared region (ISOLATION BROKEN)");
        }
        other => log!("probe: no test for a domain named \"{other}\""),
    }
    let _ = tileos_sys::domain::own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}
