//! The `dma-victim` domain of the IOMMU boot test (`qemu/runner/tests/iommu.rs`): it fills
//! its private page (the shared region "victim-page", mapped into it alone) with a
//! pattern, sends the page's physical address to the hostile NVMe driver `dma-attack` on
//! the endpoint "attack", and after the driver's answer (the status of its device's write
//! to that address) checks that every byte of the page is still the pattern.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_sys::domain::stop;
use tileos_sys::log;

/// The byte the page is filled with.
const PATTERN: u8 = 0x5A;

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(attacker), Some(page)) = (tileos_sys::domain::client_endpoint("attack"), tileos_sys::domain::take_region("victim-page"))
    else {
        log!("dma-victim: FAIL: needs the client endpoint \"attack\" and the shared region \"victim-page\"");
        stop();
    };
    page.fill(0, page.len(), PATTERN);
    let paddr = page.bus_address(0);
    let answer = attacker.call(0, &[paddr]);
    let changed = (0..page.len()).filter(|&index| page.read8(index) != PATTERN).count();
    if changed == 0 {
        log!("dma-victim: page at {paddr:#x} unchanged after the attack (device status {:#x})", answer.words[0]);
    } else {
        log!("dma-victim: WRONG: {changed} bytes of the page at {paddr:#x} changed by the device's write");
    }
    stop();
}
