//! Status values a test image writes to QEMU's `isa-debug-exit` device (I/O port
//! [`PORT`]). QEMU then exits with status `2 * value + 1`, which the boot-test runner
//! decodes with [`GuestVerdict::from_qemu_status`].

/// I/O port of QEMU's `isa-debug-exit` device in every tileos machine definition.
pub const PORT: u16 = 0xf4;

/// The guest's own verdict, as written to [`PORT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GuestVerdict {
    /// Every check the guest ran passed.
    Pass = 0x10,
    /// A check failed; the serial log says which.
    Fail = 0x11,
    /// The kernel took a CPU exception in kernel mode and printed a report.
    KernelException = 0x12,
    /// Kernel or user code panicked; the serial log has file, line and message.
    Panic = 0x13,
}

impl GuestVerdict {
    /// Every verdict, for decoding.
    pub const ALL: [GuestVerdict; 4] = [GuestVerdict::Pass, GuestVerdict::Fail, GuestVerdict::KernelException, GuestVerdict::Panic];

    /// Decodes QEMU's process exit status (`2 * value + 1`); `None` for any other status,
    /// e.g. QEMU's own errors or a guest that was shut down without a verdict.
    pub fn from_qemu_status(status: i32) -> Option<GuestVerdict> {
        Self::ALL.into_iter().find(|v| 2 * (*v as i32) + 1 == status)
    }
}
