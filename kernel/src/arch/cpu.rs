//! Small CPU services for the rest of the kernel: halting, and ending QEMU in test images.

/// Stops this CPU for good (interrupts stay disabled, so `hlt` never returns).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::hlt();
    }
}

/// Ends the QEMU run with `verdict` through the isa-debug-exit device. Test images only:
/// release images never touch the port and halt instead.
pub fn finish(verdict: tileos_abi::test_exit::GuestVerdict) -> ! {
    #[cfg(feature = "testing")]
    {
        use x86_64::instructions::port::Port;
        // SAFETY: isa-debug-exit is in every test machine definition; the write ends QEMU.
        unsafe { Port::<u8>::new(tileos_abi::test_exit::PORT).write(verdict as u8) };
    }
    #[cfg(not(feature = "testing"))]
    let _ = verdict; // release images have no exit device
    halt_forever()
}

/// The time-stamp counter (test builds measure kernel entries with it).
#[cfg(feature = "entry-timing")]
pub fn timestamp() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
