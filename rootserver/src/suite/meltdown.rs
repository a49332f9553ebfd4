//! Suite part five: kernel memory under the Meltdown mitigation (issue 18, docs/security.md).
//! A thread of the root server reads kernel addresses from user mode, one per fault: the
//! kernel image (boot stub, text, read-only data, data, bss: every page of its first 2 MiB),
//! the direct physical map, and the descriptor tables `sidt`/`sgdt` name. With the mitigation
//! (the default kernel) a kernel page is *not present* in the user's page tables (page-fault
//! error code P = 0); only the entry trampoline's few pages are present, supervisor-only
//! (P = 1), the IDT and GDT among them. Without it (`no-kpti` kernel, `no-kpti` on the root
//! server's command line) every such read is a protection fault (P = 1).

use super::ipc;
use super::{CNODE, DEPTH, Env, VSPACE, check, expect_ok};
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::fault;
use tileos_abi::invocation::Label;
use tileos_abi::object::{ObjectType, Rights};
use tileos_sys::{invoke, recv};

/// Where the kernel image starts: `KERNEL_VMA` + 1 MiB (kernel/link.ld).
const KERNEL_IMAGE: u64 = 0xffff_ffff_8010_0000;
/// Bytes of the kernel image the sweep reads, a page at a time (the image is smaller).
const KERNEL_SWEEP: u64 = 2 << 20;
/// The direct map of physical memory (kernel/src/arch/memory.rs).
const PHYS_MAP: u64 = 0xffff_8000_0000_0000;
/// Pages the entry trampoline may occupy (kernel/src/arch/kpti.rs: one of code, six of data).
const TRAMPOLINE_PAGES_MAX: usize = 8;
/// Page-fault error code bits: P (the page was present), U (the access was from user mode).
const PRESENT: u64 = 1;
const USER: u64 = 1 << 2;

/// The address [`reader`] reads next.
static PROBE: AtomicU64 = AtomicU64::new(0);

/// Reads the byte at [`PROBE`], then stops on `ud2` (a read that succeeds is a user
/// exception, not a page fault). Uses no stack.
#[unsafe(naked)]
extern "C" fn reader() -> ! {
    core::arch::naked_asm!("mov rax, [rip + {probe}]", "mov al, [rax]", "ud2", probe = sym PROBE);
}

/// The reader thread and the endpoint its faults arrive on.
struct Prober {
    thread: u64,
    fault_ep: u64,
    started: bool,
}

impl Prober {
    /// The page-fault error code of a user-mode read of `address`, or `None` if the read
    /// did not page-fault (it succeeded, or faulted otherwise).
    fn read(&mut self, address: u64) -> Option<u64> {
        PROBE.store(address, Ordering::Relaxed);
        if self.started {
            // Restart the stopped reader at its first instruction, then answer its fault.
            let _ = invoke(self.thread, Label::TcbWriteRegisters, &[0, 1, reader as *const () as u64], &[]);
            tileos_sys::reply(0, &[]);
        }
        // (The first time, the reader runs once the root server waits: it is runnable at a
        // lower priority.)
        self.started = true;
        let message = recv(self.fault_ep, true);
        (message.info.label() == fault::VM_FAULT && message.words[1] == address).then_some(message.words[3])
    }
}

/// The descriptor-table base `sidt` (`table` 1) or `sgdt` (0) stores.
fn descriptor_table(table: u8) -> u64 {
    let mut pointer = [0u8; 10];
    // SAFETY: stores 10 bytes (limit, base) into `pointer`; both are allowed in user mode
    // (the kernel does not set CR4.UMIP).
    unsafe {
        if table == 1 {
            core::arch::asm!("sidt [{0}]", in(reg) pointer.as_mut_ptr(), options(nostack));
        } else {
            core::arch::asm!("sgdt [{0}]", in(reg) pointer.as_mut_ptr(), options(nostack));
        }
    }
    u64::from_le_bytes(pointer[2..10].try_into().unwrap_or([0; 8]))
}

/// Runs the checks; `kpti`: the kernel under test has the mitigation.
pub fn tests(env: &mut Env, kpti: bool) {
    let fault_ep = env.make(ObjectType::Endpoint, 0);
    let badged = env.slots.take();
    expect_ok(
        "meltdown_fault_endpoint_mint",
        invoke(CNODE, Label::CNodeMint, &[badged, DEPTH, fault_ep, DEPTH, Rights::ALL.0 as u64, 0x3D], &[CNODE]),
    );
    // The reader's IPC buffer frame (unused: it makes no system call).
    let buffers = env.make(ObjectType::Frame4K, 0);
    let thread = ipc::spawn_in(env, buffers, VSPACE, 40, reader, 100, badged);
    let mut prober = Prober { thread, fault_ep, started: false };
    let mode = if kpti { "not_present" } else { "protection" };
    let expected = if kpti { 0 } else { PRESENT };

    // The trampoline's pages: present (supervisor-only) with and without the mitigation.
    let (idt, gdt) = (descriptor_table(1) & !0xFFF, descriptor_table(0) & !0xFFF);
    let tables = [prober.read(idt), prober.read(gdt)];
    check(
        "meltdown_trampoline_descriptor_tables_present_supervisor_only",
        tables.iter().all(|code| code.is_some_and(|code| code & (PRESENT | USER) == PRESENT | USER)),
        format_args!("IDT page {idt:#x}: {:?}, GDT page {gdt:#x}: {:?} (error codes)", tables[0], tables[1]),
    );

    // Every page of the kernel image's first 2 MiB but the trampoline's.
    let (mut other, mut trampoline, mut first_bad) = (0usize, 0usize, None);
    for address in (KERNEL_IMAGE..KERNEL_IMAGE + KERNEL_SWEEP).step_by(4096) {
        match prober.read(address) {
            Some(code) if code & (PRESENT | USER) == expected | USER => other += 1,
            Some(code) if kpti && code & (PRESENT | USER) == PRESENT | USER => trampoline += 1,
            result => {
                first_bad.get_or_insert((address, result));
            }
        }
    }
    let name = if kpti { "meltdown_kernel_image_not_present_but_the_trampoline" } else { "meltdown_kernel_image_protection_fault" };
    check(
        name,
        first_bad.is_none()
            && trampoline <= TRAMPOLINE_PAGES_MAX
            && (kpti == (trampoline > 0))
            && other + trampoline == (KERNEL_SWEEP / 4096) as usize,
        format_args!(
            "{other} pages faulted as expected ({mode}), {trampoline} present pages (trampoline, at most {TRAMPOLINE_PAGES_MAX}); first unexpected: {first_bad:x?}"
        ),
    );

    // The direct map: the kernel image through it, and a page every 64 MiB up to 1 GiB.
    let addresses = [PHYS_MAP, PHYS_MAP + (1 << 20)].into_iter().chain((1..16).map(|step| PHYS_MAP + step * (64 << 20)));
    let mut first_bad = None;
    for address in addresses {
        let result = prober.read(address);
        if result.is_none_or(|code| code & (PRESENT | USER) != expected | USER) {
            first_bad.get_or_insert((address, result));
        }
    }
    let name = if kpti { "meltdown_direct_map_not_present" } else { "meltdown_direct_map_protection_fault" };
    check(name, first_bad.is_none(), format_args!("first unexpected (address, error code): {first_bad:x?}"));
    let _ = invoke(thread, Label::TcbSuspend, &[], &[]);
}
