//! The BootInfo page the kernel gives the root server: where its initial capabilities are
//! and what memory exists. Its user address is passed in `rdi` at the root server's entry.

/// Fixed slots of the root server's CNode.
pub mod slot {
    /// The root server's TCB.
    pub const TCB: u64 = 1;
    /// The root server's CNode (its CSpace root).
    pub const CNODE: u64 = 2;
    /// The root server's PML4 (its VSpace root).
    pub const VSPACE: u64 = 3;
    /// IRQ control: issues IRQ handler capabilities.
    pub const IRQ_CONTROL: u64 = 4;
    /// IO port control: issues IO port range capabilities.
    pub const IO_PORT_CONTROL: u64 = 5;
    /// The frame holding this BootInfo page.
    pub const BOOT_INFO_FRAME: u64 = 6;
    /// The frame holding the root server's IPC buffer.
    pub const IPC_BUFFER_FRAME: u64 = 7;
    /// First slot allocated at boot (image frames, untypeds, module frames follow).
    pub const FIRST_FREE: u64 = 8;
}

/// User address of the root server's BootInfo page (also passed in `rdi` at entry).
pub const ROOT_BOOTINFO_VADDR: u64 = 0x0000_7FFF_FFFF_F000;
/// User address of the root server's IPC buffer.
pub const ROOT_IPC_BUFFER_VADDR: u64 = 0x0000_7FFF_FFFF_E000;
/// Top of the root server's stack (an unmapped guard page lies below the stack).
pub const ROOT_STACK_TOP: u64 = 0x0000_7FFF_FFF0_0000;
/// Size of the root server's stack.
pub const ROOT_STACK_SIZE: u64 = 256 * 1024;

/// log2 of the root server's CNode size in slots.
pub const ROOT_CNODE_RADIX: u32 = 14;
/// Most untyped regions described.
pub const MAX_UNTYPED: usize = 160;
/// Most boot modules described.
pub const MAX_MODULES: usize = 8;
/// Value of [`BootInfo::magic`].
pub const MAGIC: u64 = 0x7469_6c65_6f73_4249; // "tileosBI"

/// A half-open range of slots in the root server's CNode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SlotRange {
    /// First slot.
    pub start: u64,
    /// One past the last slot.
    pub end: u64,
}

/// One untyped capability handed to the root server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UntypedDesc {
    /// Physical address of the region.
    pub paddr: u64,
    /// log2 of its size.
    pub size_bits: u8,
    /// 1 if device memory (can only become frames; never cleared by the kernel).
    pub is_device: u8,
    /// Padding.
    pub reserved: [u8; 6],
}

/// One boot module (a file the boot loader loaded), as frames in the root server's CNode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ModuleDesc {
    /// Slots of the module's 4 KiB frames, in order.
    pub frames: SlotRange,
    /// Module size in bytes.
    pub size: u64,
    /// The module's command line, NUL-padded (its last 127 bytes if longer: the loader puts
    /// the file path first, the words that name the module come last).
    pub name: [u8; 128],
}

/// The BootInfo page.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BootInfo {
    /// [`MAGIC`].
    pub magic: u64,
    /// User address of the root server's IPC buffer.
    pub ipc_buffer: u64,
    /// Slots holding the frames of the root server's own image.
    pub image_frames: SlotRange,
    /// Slots holding untyped capabilities, described in order by `untyped`.
    pub untyped: SlotRange,
    /// Free slots the root server may use.
    pub empty: SlotRange,
    /// The root server's own command line (from its boot module), NUL-padded.
    pub cmdline: [u8; 128],
    /// Guest time-stamp counter at the kernel's first instruction (under QEMU `-icount`,
    /// an instruction count), for the boot-time benchmark.
    pub boot_tsc: u64,
    /// Number of valid entries in `modules`.
    pub module_count: u64,
    /// Boot modules after the root server itself.
    pub modules: [ModuleDesc; MAX_MODULES],
    /// Untyped regions, one per slot of `untyped`.
    pub untyped_list: [UntypedDesc; MAX_UNTYPED],
    /// Time-stamp-counter increments per millisecond, measured by the kernel at boot
    /// against the PIT (1 000 000 if the PIT did not answer).
    pub tsc_per_ms: u64,
    /// Length of the kernel's timer tick in microseconds: the unit of scheduling budgets
    /// and periods (`TcbSetSchedParams`).
    pub tick_us: u64,
    /// Slot of the IOSpace control capability, 0 when the machine has no IOMMU (no ACPI
    /// DMAR table): devices then reach all of memory by DMA.
    pub iospace_control: u64,
}

/// Address-space and CSpace layout of domains the root server builds.
pub mod domain {
    /// User address of a domain's IPC buffer.
    pub const IPC_BUFFER_VADDR: u64 = 0x0000_7FFF_FFFF_E000;
    /// Top of a domain's stack (an unmapped guard page lies below the stack).
    pub const STACK_TOP: u64 = 0x0000_7FFF_FFF0_0000;
    /// log2 of a domain's CNode size in slots (guarded so that pointers are slot numbers).
    pub const CNODE_RADIX: u32 = 8;
    /// Slot of the domain's own TCB.
    pub const TCB: u64 = 1;
    /// Slot of the domain's own CNode.
    pub const CNODE: u64 = 2;
    /// Slot of the domain's own VSpace.
    pub const VSPACE: u64 = 3;
    /// First slot of the capabilities granted to the domain (in the order its description
    /// lists them).
    pub const FIRST_GRANTED: u64 = 4;
}

/// The read-only page the root server maps into every domain at
/// [`domain_info::VADDR`]: who the domain is and where its capabilities are.
pub mod domain_info {
    /// User address of the domain information page.
    pub const VADDR: u64 = 0x0000_7FFF_FFFF_C000;
    /// User address of the domain's heap (its size is in [`DomainInfo::heap_size`]).
    pub const HEAP_VADDR: u64 = 0x0000_6000_0000_0000;
    /// Value of [`DomainInfo::magic`].
    pub const MAGIC: u64 = 0x7469_6c65_6f73_4449; // "tileosDI"
    /// Most capabilities listed.
    pub const MAX_CAPS: usize = 64;

    /// What a listed capability is.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u8)]
    pub enum CapKind {
        /// An endpoint this domain serves (receive).
        ServedEndpoint = 1,
        /// An endpoint this domain calls (badged send).
        ClientEndpoint = 2,
        /// A notification this domain waits on.
        WaitNotification = 3,
        /// A notification this domain signals (badged).
        SignalNotification = 4,
        /// An IRQ handler.
        IrqHandler = 5,
        /// An IO port range.
        IoPort = 6,
    }

    impl CapKind {
        /// The kind of a [`CapEntry::kind`] byte (`None` for a byte no kind has).
        pub const fn from_byte(byte: u8) -> Option<CapKind> {
            Some(match byte {
                1 => CapKind::ServedEndpoint,
                2 => CapKind::ClientEndpoint,
                3 => CapKind::WaitNotification,
                4 => CapKind::SignalNotification,
                5 => CapKind::IrqHandler,
                6 => CapKind::IoPort,
                _ => return None,
            })
        }

        /// Words for messages: "served endpoint", "IO port range", ….
        pub const fn describe(self) -> &'static str {
            match self {
                CapKind::ServedEndpoint => "served endpoint",
                CapKind::ClientEndpoint => "client endpoint",
                CapKind::WaitNotification => "notification to wait on",
                CapKind::SignalNotification => "notification to signal",
                CapKind::IrqHandler => "IRQ handler",
                CapKind::IoPort => "IO port range",
            }
        }
    }

    /// One capability of the domain: its kind, name (from the description) and slot.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C)]
    pub struct CapEntry {
        /// [`CapKind`] as a byte.
        pub kind: u8,
        /// Name, NUL-padded.
        pub name: [u8; 31],
        /// Slot in the domain's CNode.
        pub slot: u64,
    }

    /// Most memory regions listed.
    pub const MAX_REGIONS: usize = 16;

    /// A shared region mapped into the domain: where it is, and where it is physically
    /// (its frames are physically contiguous, so drivers can hand it to devices for DMA).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C)]
    pub struct RegionEntry {
        /// Name, NUL-padded.
        pub name: [u8; 32],
        /// User address in this domain.
        pub vaddr: u64,
        /// Physical address of the first byte.
        pub paddr: u64,
        /// Size in bytes.
        pub size: u64,
    }

    /// Most endpoint parameters listed (over all clients of all endpoints the domain serves).
    pub const MAX_PARAMS: usize = 16;
    /// Longest endpoint parameter name in bytes.
    pub const MAX_PARAM_NAME: usize = 15;

    /// One parameter of one client of an endpoint this domain serves (`params` of a client
    /// entry in the description): the server looks it up by endpoint, badge and name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C)]
    pub struct ParamEntry {
        /// The client's badge.
        pub badge: u64,
        /// The value.
        pub value: u64,
        /// Index in [`DomainInfo::caps`] of the served endpoint.
        pub cap: u8,
        /// Name, NUL-padded.
        pub name: [u8; MAX_PARAM_NAME],
    }

    /// The domain information page.
    #[derive(Clone, Copy, Debug)]
    #[repr(C)]
    pub struct DomainInfo {
        /// [`MAGIC`].
        pub magic: u64,
        /// The domain's name, NUL-padded.
        pub name: [u8; 32],
        /// How many times the domain has been (re)started; 0 for the first start.
        pub generation: u64,
        /// Size of the heap mapped at [`HEAP_VADDR`].
        pub heap_size: u64,
        /// Number of valid entries in `caps`.
        pub cap_count: u64,
        /// The capabilities.
        pub caps: [CapEntry; MAX_CAPS],
        /// Number of valid entries in `regions`.
        pub region_count: u64,
        /// The shared regions mapped into this domain.
        pub regions: [RegionEntry; MAX_REGIONS],
        /// Time-stamp-counter increments per millisecond, as the kernel measured at boot.
        pub tsc_per_ms: u64,
        /// Number of valid entries in `params`.
        pub param_count: u64,
        /// The parameters of the clients of the endpoints this domain serves.
        pub params: [ParamEntry; MAX_PARAMS],
        /// The priority the root server started the domain's thread at (its maximum
        /// controlled priority may be higher).
        pub priority: u64,
        /// Bytes of the domain's stack, mapped below
        /// [`STACK_TOP`](super::domain::STACK_TOP) (a multiple of 4096; the guard page
        /// below it not counted).
        pub stack_size: u64,
    }

    // The information page is one page; docs/abi.md §14 gives this size and every offset.
    const _: () = assert!(core::mem::size_of::<DomainInfo>() == 4072);
}
