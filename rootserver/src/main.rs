//! The root server: the first user-space task. The kernel starts it with every capability
//! (untyped memory, IRQ and IO-port control, its own CNode/VSpace/TCB) described in the
//! BootInfo page.
//!
//! Normally it builds the tile from the system description in the boot module
//! `tile-archive` and supervises the domains (`system`). With `test=kernel` on its command
//! line it runs the in-guest kernel test suite instead (with `untimed` too: without the checks
//! that time kernel entries, as the GRUB boot test runs it; with `no-kpti` for a kernel built
//! without the Meltdown mitigation), with `bench` the kernel benchmarks.
#![no_std]
#![no_main]

extern crate alloc as alloc_crate;
extern crate tileos_rt;

mod alloc;
mod bench;
mod clock;
mod fuzz;
mod iommu;
mod loader;
mod pci;
mod suite;
mod system;
mod vspace;

use tileos_abi::bootinfo::{BootInfo, MAGIC};
use tileos_sys::println;

/// Entry point: the kernel passes the BootInfo address in `rdi`.
#[unsafe(no_mangle)]
extern "C" fn _start(boot_info: u64) -> ! {
    // SAFETY: rdtsc is allowed in user mode; read first, for the boot-time benchmark.
    let entry_tsc = unsafe { core::arch::x86_64::_rdtsc() };
    // SAFETY: the kernel maps the BootInfo page read-only at this address.
    let info = unsafe { &*(boot_info as *const BootInfo) };
    tileos_sys::set_ipc_buffer(info.ipc_buffer);
    if info.magic != MAGIC {
        println!("rootserver: BootInfo magic is wrong ({:#x}); stopping", info.magic);
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    }
    clock::init(info);
    let cmdline = core::str::from_utf8(&info.cmdline).unwrap_or("").trim_end_matches('\0');
    let ram: u64 = info.untyped_list[..(info.untyped.end - info.untyped.start) as usize]
        .iter()
        .filter(|u| u.is_device == 0)
        .map(|u| 1u64 << u.size_bits)
        .sum();
    println!(
        "rootserver: started (\"{cmdline}\"): {} untyped ({} KiB RAM), {} image frames, {} boot module(s), free slots {}..{}",
        info.untyped.end - info.untyped.start,
        ram / 1024,
        info.image_frames.end - info.image_frames.start,
        info.module_count,
        info.empty.start,
        info.empty.end
    );
    if cmdline.split_whitespace().any(|word| word == "test=kernel") {
        let has = |option: &str| cmdline.split_whitespace().any(|word| word == option);
        suite::run(info, has("untimed"), !has("no-kpti"))
    }
    if cmdline.split_whitespace().any(|word| word == "bench") {
        bench::run(info, entry_tsc)
    }
    if cmdline.split_whitespace().any(|word| word == "fuzz") {
        fuzz::run(info, cmdline)
    }
    system::run(info, alloc::Allocator::new(info), entry_tsc)
}
