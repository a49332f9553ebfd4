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

/// Reads `width` bytes (1, 2 or 4) from IO port `port`, for IO port capabilities: callers
/// pass only ports issued to a capability, which never include the kernel's own.
pub fn port_in(port: u16, width: u8) -> u64 {
    use x86_64::instructions::port::Port;
    // SAFETY: per the contract above; reading a device's port has no effect on kernel memory.
    unsafe {
        match width {
            1 => u64::from(Port::<u8>::new(port).read()),
            2 => u64::from(Port::<u16>::new(port).read()),
            _ => u64::from(Port::<u32>::new(port).read()),
        }
    }
}

/// Writes the low `width` bytes (1, 2 or 4) of `value` to IO port `port` (as for [`port_in`]).
pub fn port_out(port: u16, width: u8, value: u64) {
    use x86_64::instructions::port::Port;
    // SAFETY: as for `port_in`.
    unsafe {
        match width {
            1 => Port::<u8>::new(port).write(value as u8),
            2 => Port::<u16>::new(port).write(value as u16),
            _ => Port::<u32>::new(port).write(value as u32),
        }
    }
}

/// The time-stamp counter (test builds measure kernel entries with it).
#[cfg(feature = "entry-timing")]
pub fn timestamp() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
