//! The tileos kernel binary: entered from the boot stub in `arch/boot.rs`, it sets up the
//! CPU, reads the boot loader's information and reports what it found on COM1.
#![no_std]
#![no_main]

extern crate tileos_rt;

mod arch;
mod destroy;
mod fastpath;
mod invoke;
mod ipc;
mod rootserver;
mod saved_reply;
#[cfg(feature = "testing")]
mod selftest;
mod state;
mod syscall;
mod thread;

use arch::{cpu, memory};
use tileos_abi::test_exit::GuestVerdict;
use tileos_kernel::multiboot;

/// Kernel version, printed in the banner.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// First Rust code, called by the boot stub in the higher half with the boot loader's
/// magic value and the physical address of its information structure.
#[unsafe(no_mangle)]
extern "C" fn kmain(multiboot_magic: u32, multiboot_info: u32) -> ! {
    // SAFETY: on the boot CPU, CPU 0, in kernel mode.
    unsafe { arch::percpu::load(0, state::cpu_address(0)) };
    arch::serial::init();
    kprintln!("tileos {VERSION} - capability microkernel for compute tiles");
    // SAFETY: first and only call, on the boot CPU, before anything uses the tables.
    unsafe {
        arch::gdt::init(0);
        arch::trap::init();
    }
    memory::remove_identity_map();

    let info = match multiboot::parse(multiboot_magic, multiboot_info.into(), &memory::DirectMap) {
        Ok(info) => info,
        Err(error) => {
            kprintln!("boot failed: {error}");
            cpu::finish(GuestVerdict::Fail)
        }
    };
    report_boot_info(&info);

    #[cfg(feature = "testing")]
    selftest::run(&info.cmdline);

    arch::paging::init();
    // SAFETY: once, at boot, on the boot CPU, after its GDT, with its boot stack.
    unsafe { arch::entry::init(0, arch::boot::kernel_stack_top()) };
    arch::apic::init();
    let rates = arch::apic::calibration();
    kprintln!(
        "timer: TSC {} kHz, LAPIC timer {} counts/ms, tick {} us ({})",
        rates.tsc_per_ms,
        rates.lapic_per_ms,
        arch::apic::TICK_US,
        if rates.measured { "calibrated against the PIT" } else { "PIT did not answer: nominal rates" }
    );
    arch::smp::start_application_processors(&info);
    if let Err(error) = rootserver::create(&info) {
        kprintln!("boot failed: {error}");
        cpu::finish(GuestVerdict::Fail)
    }
    kprintln!("tileos: boot complete, starting the root server");
    thread::run_next()
}

/// Prints the command line, memory map and module list.
fn report_boot_info(info: &multiboot::MultibootInfo) {
    let (kernel_start, kernel_end) = memory::kernel_image_range();
    if !info.loader_name.is_empty() {
        kprintln!("boot loader: {}", info.loader_name);
    }
    kprintln!("command line: \"{}\"", info.cmdline);
    kprintln!("kernel image: {kernel_start:#x}..{kernel_end:#x}");
    kprintln!("memory map ({} entries):", info.memory.len());
    let mut available = 0;
    for region in &info.memory {
        kprintln!("  {:#014x}..{:#014x} {:>8} KiB  {}", region.base, region.base + region.length, region.length / 1024, region.kind);
        if region.kind == multiboot::MemoryKind::Available {
            available += region.length;
        }
    }
    kprintln!("  available: {} MiB", available >> 20);
    kprintln!("modules ({}):", info.modules.len());
    for module in &info.modules {
        kprintln!("  {:#010x}..{:#010x} {:>8} bytes  \"{}\"", module.start, module.end, module.end - module.start, module.cmdline);
    }
}

/// Panic output hook for `tileos-rt`: the kernel log.
#[unsafe(no_mangle)]
fn tileos_panic_write(text: &str) {
    arch::serial::write_str(text);
}

/// Panic stop hook for `tileos-rt`.
#[unsafe(no_mangle)]
fn tileos_panic_halt() -> ! {
    cpu::finish(GuestVerdict::Panic)
}
