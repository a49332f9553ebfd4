//! Suite part four: the hardware state at the kernel boundary (issue 11, docs/security.md).
//! Each check is an attack that once crashed the kernel or crossed between threads:
//! RFLAGS.NT at a system call and at an interrupt, a thread whose VSpace capability is
//! revoked, vector registers across every kind of system call and across the kernel log,
//! and a `syscall` whose return address is not canonical. (Segment selectors are checked
//! across domains by the isolation tile: `qemu/runner/tests/tile.rs`.)

use super::ipc::{self, THREAD_BUFFERS};
use super::{CNODE, DEPTH, Env, VSPACE, check, expect_ok};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::fault;
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::message::MessageInfo;
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::syscall::Syscall;
use tileos_sys::{invoke, probe, recv};

/// The last page below the end of the canonical lower half.
const TOP_PAGE: u64 = 0x0000_7FFF_FFFF_F000;
/// Where the root server maps the code page to write it.
const CODE_WINDOW: u64 = THREAD_BUFFERS + 0x3000;
/// Where the `syscall` at the very end of [`TOP_PAGE`] starts (`mov eax, imm32` comes first).
const TOP_SYSCALL_START: u64 = TOP_PAGE + 0xFF9;

/// Set by [`escape_attempt`] if it ever runs in the root server's address space.
static ESCAPED: AtomicU64 = AtomicU64::new(0);
/// Vector registers read back by [`vector_reader`], and its done flag.
static VECTORS_SEEN: [AtomicU64; 33] = [const { AtomicU64::new(0) }; 33];

/// Runs in a thread whose VSpace capability was revoked: must never execute (its first
/// instruction fetch must fault in the kernel-only address space).
extern "C" fn escape_attempt() -> ! {
    ESCAPED.store(1, Ordering::Relaxed);
    loop {
        tileos_sys::yield_now();
    }
}

/// Loads xmm0–xmm15 from the pattern, then executes `ud2` with no fault handler: the kernel
/// logs the fault (with `core`'s SSE formatting) and stops the thread.
extern "C" fn vector_faulter() -> ! {
    let pattern = probe::vector_pattern(0xFA17);
    // SAFETY: loads the vector registers, then faults on purpose.
    unsafe {
        asm!(
            tileos_sys::load_vectors_from_i!(),
            "ud2",
            i = in(reg) pattern.as_ptr(),
            options(noreturn, nostack),
        );
    }
}

/// Resumed (by register write) where [`vector_faulter`] stopped: stores its vector registers
/// before anything else can touch them, then waits.
#[unsafe(naked)]
extern "C" fn vector_reader() -> ! {
    core::arch::naked_asm!(
        "lea rax, [rip + {seen}]",
        "movdqu [rax], xmm0", "movdqu [rax + 16], xmm1", "movdqu [rax + 32], xmm2", "movdqu [rax + 48], xmm3",
        "movdqu [rax + 64], xmm4", "movdqu [rax + 80], xmm5", "movdqu [rax + 96], xmm6", "movdqu [rax + 112], xmm7",
        "movdqu [rax + 128], xmm8", "movdqu [rax + 144], xmm9", "movdqu [rax + 160], xmm10", "movdqu [rax + 176], xmm11",
        "movdqu [rax + 192], xmm12", "movdqu [rax + 208], xmm13", "movdqu [rax + 224], xmm14", "movdqu [rax + 240], xmm15",
        "mov qword ptr [rax + 256], 1",
        "2: mov eax, {yield_}",
        "syscall",
        "jmp 2b",
        seen = sym VECTORS_SEEN,
        yield_ = const Syscall::Yield as u64,
    );
}

/// Runs the boundary checks. Test threads use stack/buffer indices from 10 up (the IPC
/// part uses 0–9).
pub fn tests(env: &mut Env) {
    let fault_ep = env.make(ObjectType::Endpoint, 0);
    let badged_fault = env.slots.take();
    expect_ok(
        "boundary_fault_endpoint_mint",
        invoke(CNODE, Label::CNodeMint, &[badged_fault, DEPTH, fault_ep, DEPTH, Rights::ALL.0 as u64, 0xB0], &[CNODE]),
    );
    let buffers = env.make(ObjectType::Frame4K, 0);
    expect_ok(
        "boundary_buffer_frame_map",
        invoke(buffers, Label::FrameMap, &[THREAD_BUFFERS + 0x1000, Rights::ALL.0 as u64, 0], &[VSPACE]),
    );

    nested_task_flag();
    revoked_vspace(env, buffers, fault_ep, badged_fault);
    vector_registers(env, buffers, fault_ep);
    non_canonical_return(env, buffers, fault_ep, badged_fault);
}

/// Item 1: RFLAGS.NT set by user code at a `syscall` and at a timer interrupt; `iretq` with
/// NT faults in 64-bit mode, so the kernel must clear it on the way out.
fn nested_task_flag() {
    let after = probe::yield_with_nested_task_flag();
    check("nested_task_flag_at_syscall_is_cleared", after & probe::NESTED_TASK == 0, format_args!("rflags after the syscall {after:#x}"));
    // Long enough for several timer ticks (1 ms each) under QEMU.
    let spun = probe::spin_with_nested_task_flag(200_000_000);
    check(
        "nested_task_flag_at_interrupt_is_cleared",
        spun & probe::NESTED_TASK == 0,
        format_args!("rflags after spinning through timer interrupts {spun:#x} (NT survived every interrupt return)"),
    );
}

/// Item 3: a thread whose VSpace capability is revoked after it was made runnable runs in
/// the kernel-only address space (its first fetch faults), never in another thread's.
fn revoked_vspace(env: &mut Env, buffers: u64, fault_ep: u64, badged_fault: u64) {
    let vspace = env.make(ObjectType::Pml4, 0);
    let thread = ipc::spawn_in(env, buffers, vspace, 10, escape_attempt, 100, badged_fault);
    expect_ok("revoked_vspace_revoke_while_runnable", invoke(CNODE, Label::CNodeRevoke, &[vspace, DEPTH], &[]));
    let message = recv(fault_ep, true);
    let entry = escape_attempt as *const () as u64;
    check(
        "revoked_vspace_thread_faults_instead_of_running_in_another_address_space",
        ESCAPED.load(Ordering::Relaxed) == 0
            && message.info.label() == fault::VM_FAULT
            && message.words[0] == entry
            && message.words[1] == entry,
        format_args!("escaped {}, fault {message:?}", ESCAPED.load(Ordering::Relaxed)),
    );
    let _ = invoke(thread, Label::TcbSuspend, &[], &[]);
}

/// Item 4: every kind of system call keeps all sixteen xmm registers, and so does the
/// kernel's log of another thread's fault.
fn vector_registers(env: &mut Env, buffers: u64, fault_ep: u64) {
    let notification = env.make(ObjectType::Notification, 0);
    let victim = env.slots.take();
    expect_ok("vector_victim_copy", invoke(CNODE, Label::CNodeCopy, &[victim, DEPTH, notification, DEPTH, Rights::ALL.0 as u64], &[CNODE]));
    let invocation = |label: Label, length: u64| MessageInfo::new(label as u64, 0, 0, length);
    let cases: [(&str, Syscall, u64, MessageInfo, [u64; 4]); 8] = [
        ("failed_call", Syscall::Call, 0x0FFE, MessageInfo::new(0, 0, 0, 0), [0; 4]),
        ("invocation_error", Syscall::Call, CNODE, invocation(Label::CNodeCopy, 1), [0; 4]),
        ("cnode_revoke", Syscall::Call, CNODE, invocation(Label::CNodeRevoke, 2), [notification, DEPTH, 0, 0]),
        ("cnode_delete", Syscall::Call, CNODE, invocation(Label::CNodeDelete, 2), [victim, DEPTH, 0, 0]),
        ("nbrecv", Syscall::NbRecv, fault_ep, MessageInfo::new(0, 0, 0, 0), [0; 4]),
        ("signal", Syscall::Send, notification, MessageInfo::new(0, 0, 0, 0), [0; 4]),
        ("poll", Syscall::NbRecv, notification, MessageInfo::new(0, 0, 0, 0), [0; 4]),
        ("yield", Syscall::Yield, 0, MessageInfo::new(0, 0, 0, 0), [0; 4]),
    ];
    let mut failures = 0;
    for (index, (name, number, cptr, info, words)) in cases.into_iter().enumerate() {
        let input = probe::vector_pattern(index as u64 + 1);
        let output = probe::syscall_keeping_vectors(number, cptr, info, words, &input);
        if let Some(register) = probe::first_changed_vector(&input, &output) {
            failures += 1;
            check(
                "vector_registers_kept_across_syscalls",
                false,
                format_args!(
                    "{name}: xmm{register} was {:#x}_{:016x}, came back {:#x}_{:016x}",
                    input[2 * register + 1],
                    input[2 * register],
                    output[2 * register + 1],
                    output[2 * register]
                ),
            );
        }
    }
    if failures == 0 {
        check("vector_registers_kept_across_syscalls", true, format_args!(""));
    }

    // Another thread faults without a handler, the kernel logs it, then the thread is made
    // to read its registers back.
    // It runs at the root server's priority, so each yield lets it run once.
    let faulter = ipc::spawn_in(env, buffers, VSPACE, 11, vector_faulter, 255, 0);
    tileos_sys::yield_now();
    let resumed = invoke(faulter, Label::TcbWriteRegisters, &[1, 1, vector_reader as *const () as u64], &[]);
    tileos_sys::yield_now();
    let expected = probe::vector_pattern(0xFA17);
    let seen: [u64; 32] = core::array::from_fn(|i| VECTORS_SEEN[i].load(Ordering::Relaxed));
    check(
        "vector_registers_kept_across_the_kernel_log_of_a_fault",
        resumed.is_ok() && VECTORS_SEEN[32].load(Ordering::Relaxed) == 1 && seen == expected,
        format_args!(
            "resumed {resumed:?}, done {}, first differing xmm {:?}",
            VECTORS_SEEN[32].load(Ordering::Relaxed),
            probe::first_changed_vector(&expected, &seen)
        ),
    );
    let _ = invoke(faulter, Label::TcbSuspend, &[], &[]);
}

/// Item 6: a `syscall` in the last bytes of the lower half would return to 0x8000_0000_0000.
/// The system call is not performed: the thread gets a #GP user exception at the `syscall`
/// instruction. (A kernel that did `iretq` to 0x8000_0000_0000 would halt on hardware; under
/// QEMU the thread would instead fault there in user mode, with that address as MR0, so the
/// check's expected MR0 tells the two apart.)
fn non_canonical_return(env: &mut Env, buffers: u64, fault_ep: u64, badged_fault: u64) {
    // The code page: written through a mapping in the root server, executed at the top of a
    // fresh address space (the root server's own top page holds its BootInfo).
    let frame = env.make(ObjectType::Frame4K, 0);
    let writable = invoke(frame, Label::FrameMap, &[CODE_WINDOW, Rights::ALL.0 as u64, 0], &[VSPACE]);
    let code: [u8; 7] = [0xB8, Syscall::Yield as u8, 0, 0, 0, 0x0F, 0x05]; // mov eax, 8; syscall
    for (offset, byte) in code.iter().enumerate() {
        // SAFETY: the frame was just mapped writable at CODE_WINDOW (if that failed, the
        // check below fails first and nothing is written).
        if writable.is_ok() {
            unsafe { ((CODE_WINDOW + 0xFF9 + offset as u64) as *mut u8).write_volatile(*byte) };
        }
    }
    let vspace = env.make(ObjectType::Pml4, 0);
    let executable = env.slots.take();
    let copied = invoke(CNODE, Label::CNodeCopy, &[executable, DEPTH, frame, DEPTH, Rights::ALL.0 as u64], &[CNODE]);
    let mapped = copied.and_then(|_| map_with_tables(env, vspace, executable, TOP_PAGE, frame_attributes::EXECUTABLE));
    check("top_page_mapped_executable", writable.is_ok() && mapped.is_ok(), format_args!("window {writable:?}, top page {mapped:?}"));
    if mapped.is_err() {
        return;
    }
    let thread = ipc::spawn_in(env, buffers, vspace, 12, escape_attempt, 100, badged_fault);
    let _ = invoke(thread, Label::TcbSuspend, &[], &[]);
    let started = invoke(thread, Label::TcbWriteRegisters, &[1, 1, TOP_SYSCALL_START], &[]);
    let message = recv(fault_ep, true);
    check(
        "syscall_returning_to_a_non_canonical_address_faults_the_thread",
        started.is_ok()
            && message.info.label() == fault::USER_EXCEPTION
            && message.words[0] == TOP_SYSCALL_START + 5
            && message.words[3] == 13,
        format_args!("started {started:?}, fault {message:?}"),
    );
    let _ = invoke(thread, Label::TcbSuspend, &[], &[]);
    let _ = invoke(frame, Label::FrameUnmap, &[], &[]);
}

/// Maps `frame` at `vaddr` in `vspace`, creating the paging structures on the way if they
/// are missing.
fn map_with_tables(env: &mut Env, vspace: u64, frame: u64, vaddr: u64, attributes: u64) -> Result<tileos_sys::Reply, tileos_sys::Error> {
    for table in [ObjectType::Pdpt, ObjectType::PageDirectory, ObjectType::PageTable] {
        let attempt = invoke(frame, Label::FrameMap, &[vaddr, Rights::ALL.0 as u64, attributes], &[vspace]);
        if attempt.is_ok() {
            return attempt;
        }
        let structure = env.make(table, 0);
        let _ = invoke(structure, Label::PagingStructureMap, &[vaddr], &[vspace]);
    }
    invoke(frame, Label::FrameMap, &[vaddr, Rights::ALL.0 as u64, attributes], &[vspace])
}
