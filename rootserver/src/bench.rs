//! Benchmark mode (`bench` on the root server's command line): measures kernel paths in
//! guest instructions — under QEMU `-icount shift=0,sleep=off` the time-stamp counter
//! advances once per instruction — and prints `bench <name> <per-operation> <iterations>`
//! lines for the host's `make bench`. Method (as for the seL4 reference figures): 1,000
//! warm-up iterations, then the counter across 10,000 iterations divided by 10,000,
//! nothing subtracted, system-call stubs inlined into the loop.

use crate::alloc::Allocator;
use crate::loader::{self, Grant, Spec};
use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::invocation::Slot;
use tileos_abi::invocation::{
    CNodeSaveCaller, CPtr, FrameMap, FrameUnmap, Registers, TcbConfigure, TcbSetAffinity, TcbSetPriority, TcbWriteRegisters,
};
use tileos_abi::message::MessageInfo;
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::syscall::Syscall;
use tileos_abi::test_exit::GuestVerdict;
use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::cap::{CNode, Endpoint, Frame, Tcb};
use tileos_sys::rpc::Client;
use tileos_sys::{nb_send_all, println, raw_syscall};

const WARMUP: u64 = 1_000;
const ITERATIONS: u64 = 10_000;

/// Endpoint slot the same-address-space echo thread serves.
static SAME_AS_ENDPOINT: AtomicU64 = AtomicU64::new(0);

fn report(name: &str, per_operation: u64, iterations: u64) {
    println!("bench {name} {per_operation} {iterations}");
}

/// Runs `operation` WARMUP times, then ITERATIONS times between two counter reads.
#[inline(always)]
fn measure(mut operation: impl FnMut()) -> u64 {
    for _ in 0..WARMUP {
        operation();
    }
    // SAFETY: rdtsc is allowed in user mode (CR4.TSD clear).
    let start = unsafe { _rdtsc() };
    for _ in 0..ITERATIONS {
        operation();
    }
    // SAFETY: as above.
    let end = unsafe { _rdtsc() };
    (end - start) / ITERATIONS
}

/// Echo server thread in the root server's own address space.
extern "C" fn same_as_server() -> ! {
    let ep = SAME_AS_ENDPOINT.load(Ordering::Relaxed);
    let mut message = raw_syscall(Syscall::Recv, ep, MessageInfo::default(), [0; 4]);
    loop {
        message = raw_syscall(Syscall::ReplyRecv, ep, MessageInfo::new(0, 0, 0, 1), message.words);
    }
}

/// A plain copy of `slot` for the bench-server domain.
fn grant(slot: u64, name: &str) -> Grant<'_> {
    Grant { source: slot, rights: Rights::ALL, badge: 0, moved: false, kind: CapKind::ServedEndpoint, name }
}

/// A small bench-server domain with one stack page and no heap.
fn bench_spec<'a>(elf: &'a [u8], priority: u8, grants: &'a [Grant<'a>], argument: u64) -> Spec<'a> {
    Spec {
        name: "bench-server",
        elf,
        priority,
        mcp: priority,
        stack_size: 4096,
        cnode_radix: tileos_abi::bootinfo::domain::CNODE_RADIX,
        heap_size: 0,
        fault_endpoint: 0,
        grants,
        mappings: &[],
        regions: &[],
        argument,
        generation: 0,
        budget_ms: None,
        params: &[],
    }
}

/// IPC and notifications across CPUs (issue 18), on a machine with a second CPU: the
/// bench-server domain runs on CPU 1, the root server on CPU 0, so every round trip takes
/// the general path, a reschedule IPI and the big kernel lock on both CPUs. On one CPU
/// the server's `TcbSetAffinity` is refused and only that is logged.
fn cross_cpu(alloc: &mut Allocator, elf: &[u8]) {
    let ep = alloc.make(ObjectType::Endpoint, 0);
    let grants = [grant(ep, "bench")];
    let server = loader::spawn(alloc, &bench_spec(elf, 255, &grants, 0)).unwrap_or_else(|e| panic!("spawn bench-server: {e}"));
    if let Err(error) = Tcb::from_cptr(server).invoke(TcbSetAffinity { cpu: 1 }) {
        println!("bench-cross-cpu skipped: one CPU online (TcbSetAffinity(1): {error:?})");
        return;
    }
    let cost = measure(|| {
        raw_syscall(Syscall::Call, ep, MessageInfo::new(0, 0, 0, 1), [1, 2, 3, 4]);
    });
    report("ipc_roundtrip_cross_cpu", cost, ITERATIONS);

    let (a, b) = (alloc.make(ObjectType::Notification, 0), alloc.make(ObjectType::Notification, 0));
    let grants = [grant(a, "a"), grant(b, "b")];
    let peer = loader::spawn(alloc, &bench_spec(elf, 255, &grants, 2)).unwrap_or_else(|e| panic!("spawn notification peer: {e}"));
    Tcb::from_cptr(peer).invoke(TcbSetAffinity { cpu: 1 }).expect("notification peer on CPU 1");
    let cost = measure(|| {
        raw_syscall(Syscall::Send, a, MessageInfo::default(), [0; 4]);
        raw_syscall(Syscall::Recv, b, MessageInfo::default(), [0; 4]);
    });
    report("notify_signal_wait_cross_cpu", cost, ITERATIONS);
}

/// The endpoint `NbSendAll`'s callers call (see [`nb_send_all_figures`]).
static NB_SEND_ALL_ENDPOINT: AtomicU64 = AtomicU64::new(0);
/// Words of the message `NbSendAll` sends in its figures: 4 in registers, 4 in the IPC buffer.
const NB_SEND_ALL_WORDS: u64 = 8;

/// A caller for the `NbSendAll` figures: calls the endpoint again each time it is answered.
extern "C" fn nb_send_all_caller() -> ! {
    let ep = NB_SEND_ALL_ENDPOINT.load(Ordering::Relaxed);
    loop {
        raw_syscall(Syscall::Call, ep, MessageInfo::new(0, 0, 0, 1), [1, 0, 0, 0]);
    }
}

/// Starts `entry` as a thread of the root server's address space and CSpace at `priority`,
/// its stack the 4 KiB page at `stack_vaddr` and its IPC buffer at `buffer_vaddr` in
/// `buffer_frame` (mapped already).
fn spawn_thread(alloc: &mut Allocator, entry: extern "C" fn() -> !, priority: u64, stack_vaddr: u64, buffer_vaddr: u64, buffer_frame: u64) {
    let tcb = alloc.make(ObjectType::Tcb, 0);
    let stack = alloc.make(ObjectType::Frame4K, 0);
    crate::vspace::map(alloc, slot::VSPACE, stack, stack_vaddr, Rights::ALL.0 as u64, 0).expect("map stack");
    Tcb::from_cptr(tcb)
        .invoke(TcbConfigure {
            fault_endpoint: 0,
            cspace_guard: 0,
            ipc_buffer: buffer_vaddr,
            cspace: CPtr(slot::CNODE),
            vspace: CPtr(slot::VSPACE),
            buffer_frame: CPtr(buffer_frame),
        })
        .expect("configure");
    Tcb::from_cptr(tcb).invoke(TcbSetPriority { priority, authority: CPtr(slot::TCB) }).expect("priority");
    Tcb::from_cptr(tcb)
        .invoke(TcbWriteRegisters { resume: 1, registers: Registers::new(&[entry as *const () as u64, stack_vaddr + 4096 - 8]) })
        .expect("start");
}

/// `NbSendAll` (docs/abi.md §3.2) to 1–4 saved callers, as the slot manager sends a request
/// to its serving module and copies: four threads of the root server's address space
/// (priority 200, below the root server's 255, so the sender keeps the CPU, as the kernel's
/// direct return to the sender needs) call one endpoint; the root server saves `targets` of
/// their calls (`SaveRecv`, the last with `CNodeSaveCaller`) and answers them with one
/// `NbSendAll` of an 8-word message. Only that system call is timed (the counter read just
/// before and just after it, both reads included: the same few instructions whatever the
/// count); the figure `nb_send_all_<targets>` is its mean over the iterations.
fn nb_send_all_figures(alloc: &mut Allocator) {
    let ep = alloc.make(ObjectType::Endpoint, 0);
    NB_SEND_ALL_ENDPOINT.store(ep, Ordering::Relaxed);
    let buffers = alloc.make(ObjectType::Frame4K, 0);
    let (stacks, buffers_vaddr) = (0x5001_0000, 0x5001_8000);
    crate::vspace::map(alloc, slot::VSPACE, buffers, buffers_vaddr, Rights::ALL.0 as u64, 0).expect("map buffers");
    let saved: [u64; 4] = core::array::from_fn(|_| alloc.slots.take());
    for index in 0..4u64 {
        spawn_thread(alloc, nb_send_all_caller, 200, stacks + index * 0x1000, buffers_vaddr + index * 1024, buffers);
    }
    for (index, word) in (4..NB_SEND_ALL_WORDS as usize).enumerate() {
        tileos_sys::set_buffer_word(word, 0x40 + index as u64);
    }
    let info = MessageInfo::new(0x5E, 0, 0, NB_SEND_ALL_WORDS);
    for targets in 1..=saved.len() {
        let once = || {
            raw_syscall(Syscall::Recv, ep, MessageInfo::default(), [0; 4]);
            for &dest in &saved[..targets - 1] {
                raw_syscall(Syscall::SaveRecv, ep, MessageInfo::default(), [dest, 0, 0, 0]);
            }
            CNode::from_cptr(slot::CNODE)
                .invoke(CNodeSaveCaller { dest: Slot::new(saved[targets - 1], 64) })
                .expect("save the last caller");
            // SAFETY: rdtsc is allowed in user mode (CR4.TSD clear).
            let start = unsafe { _rdtsc() };
            let not_sent = nb_send_all(&saved[..targets], info, [0x5E, 1, 2, 3]);
            // SAFETY: as above.
            let end = unsafe { _rdtsc() };
            assert_eq!(not_sent, 0, "NbSendAll to {targets} saved callers");
            end - start
        };
        for _ in 0..WARMUP {
            once();
        }
        let total: u64 = (0..ITERATIONS).map(|_| once()).sum();
        report(["nb_send_all_1", "nb_send_all_2", "nb_send_all_3", "nb_send_all_4"][targets - 1], total / ITERATIONS, ITERATIONS);
    }
}

/// Measures every figure and ends the run.
pub fn run(info: &BootInfo, entry_tsc: u64) -> ! {
    report("boot_to_rootserver", entry_tsc.saturating_sub(info.boot_tsc), 1);
    let mut alloc = Allocator::new(info);

    let cost = measure(|| {
        raw_syscall(Syscall::Yield, 0, MessageInfo::default(), [0; 4]);
    });
    report("null_syscall", cost, ITERATIONS);

    // Same address space: a second thread of the root server at the same priority.
    let ep = alloc.make(ObjectType::Endpoint, 0);
    SAME_AS_ENDPOINT.store(ep, Ordering::Relaxed);
    let buffer = alloc.make(ObjectType::Frame4K, 0);
    let (stack_vaddr, buffer_vaddr) = (0x5000_0000, 0x5000_2000);
    crate::vspace::map(&mut alloc, slot::VSPACE, buffer, buffer_vaddr, Rights::ALL.0 as u64, 0).expect("map buffer");
    spawn_thread(&mut alloc, same_as_server, 255, stack_vaddr, buffer_vaddr, buffer);
    let cost = measure(|| {
        raw_syscall(Syscall::Call, ep, MessageInfo::new(0, 0, 0, 1), [1, 0, 0, 0]);
    });
    report("ipc_roundtrip_same_as", cost, ITERATIONS);

    // Other address spaces: the bench-server domain.
    let elf = loader::module(&mut alloc, info, "bench-server").unwrap_or_else(|e| panic!("bench-server boot module: {e}"));
    for (name, mode, length) in [("ipc_roundtrip_cross_as", 0, 1), ("ipc_roundtrip_cross_as_4words", 1, 4)] {
        let ep = alloc.make(ObjectType::Endpoint, 0);
        let grants = [grant(ep, "bench")];
        let spec = bench_spec(elf, 255, &grants, mode);
        loader::spawn(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn bench-server: {e}"));
        let cost = measure(|| {
            raw_syscall(Syscall::Call, ep, MessageInfo::new(0, 0, 0, length), [1, 2, 3, 4]);
        });
        report(name, cost, ITERATIONS);
    }

    // Protocol calls (docs/telemetry.md): `rpc::Client::call` of the echo protocol against
    // the bench-server mirroring each message (an `Increment(n)` mirrored decodes as the
    // answer `Number(n)`), recorded in the root server's telemetry histogram, and the same
    // call unrecorded; their difference is what recording costs.
    let ep = alloc.make(ObjectType::Endpoint, 0);
    let grants = [grant(ep, "bench")];
    let spec = bench_spec(elf, 255, &grants, 3);
    loader::spawn(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn mirror bench-server: {e}"));
    let client = Client::<Echo>::new(Endpoint::from_cptr(ep));
    // The figure must be of the call's successful path, not of an error.
    let answer = client.call_unrecorded(&Request::Increment(1));
    assert_eq!(answer, Ok(Response::Number(1)), "mirrored echo call");
    let recorded_before = tileos_sys::telemetry::call_latencies().count();
    let cost = measure(|| {
        let _ = client.call(&Request::Increment(1));
    });
    report("rpc_call_cross_as", cost, ITERATIONS);
    let recorded = tileos_sys::telemetry::call_latencies().count() - recorded_before;
    let cost = measure(|| {
        let _ = client.call_unrecorded(&Request::Increment(1));
    });
    report("rpc_call_cross_as_unrecorded", cost, ITERATIONS);
    let median = tileos_sys::telemetry::call_latencies().percentile(500).map_or(0, |p| p.upper);
    // Evidence that the recorded loop recorded (warm-up included) and the other did not.
    println!(
        "bench-telemetry recorded={recorded} after_unrecorded={} median_upper={median}",
        tileos_sys::telemetry::call_latencies().count() - recorded_before
    );

    // Notifications: the root server, at lower priority, signals A; the waiter in another
    // address space wakes, signals B and waits on A again; the root server's wait on B returns.
    let (a, b) = (alloc.make(ObjectType::Notification, 0), alloc.make(ObjectType::Notification, 0));
    let grants = [grant(a, "a"), grant(b, "b")];
    let spec = bench_spec(elf, 255, &grants, 2);
    loader::spawn(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn notification peer: {e}"));
    Tcb::ROOT.invoke(TcbSetPriority { priority: 100, authority: CPtr(slot::TCB) }).expect("lower priority");
    let cost = measure(|| {
        raw_syscall(Syscall::Send, a, MessageInfo::default(), [0; 4]);
        raw_syscall(Syscall::Recv, b, MessageInfo::default(), [0; 4]);
    });
    Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) }).expect("restore priority");
    report("notify_signal_wait_cross_as", cost, ITERATIONS);

    // Map and unmap one 4 KiB frame into a present page table.
    let frame = alloc.make(ObjectType::Frame4K, 0);
    let vaddr = 0x5000_4000;
    crate::vspace::map(&mut alloc, slot::VSPACE, frame, vaddr, Rights::ALL.0 as u64, 0).expect("first map");
    Frame::from_cptr(frame).invoke(FrameUnmap {}).expect("first unmap");
    let cost = measure(|| {
        let _ = Frame::from_cptr(frame).invoke(FrameMap { vaddr, rights: Rights::ALL, attributes: 0, vspace: CPtr(slot::VSPACE) });
        let _ = Frame::from_cptr(frame).invoke(FrameUnmap {});
    });
    report("page_map_unmap", cost, ITERATIONS);

    // Building and starting a small domain (the bench-server ELF, one stack page).
    const SPAWNS: u64 = 8;
    let idle_ep = alloc.make(ObjectType::Endpoint, 0);
    // SAFETY: rdtsc is allowed in user mode.
    let start = unsafe { _rdtsc() };
    for _ in 0..SPAWNS {
        let grants = [grant(idle_ep, "bench")];
        let spec = bench_spec(elf, 1, &grants, 0);
        loader::spawn(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn: {e}"));
    }
    // SAFETY: as above.
    let end = unsafe { _rdtsc() };
    report("domain_spawn", (end - start) / SPAWNS, SPAWNS);

    nb_send_all_figures(&mut alloc);

    cross_cpu(&mut alloc, elf);

    println!("bench done");
    tileos_sys::debug_exit(GuestVerdict::Pass)
}
