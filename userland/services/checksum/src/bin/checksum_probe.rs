//! `checksum-probe`: times the demo slot as a client above the command path sees it, for
//! `make bench` part `slot` (scenario `bench-slot`; docs/slots.md, "Bench figures",
//! `slots16`).
//!
//! It waits on the CMOS clock's periodic interrupt (8192 Hz, `tileos_checksum::probe`) and
//! does not run otherwise, so it takes the processor only for its wake-ups and calls. For
//! each wake it takes the time it was kept from running after the interrupt (its
//! *lateness*: what outranked it then; measured from the interrupt or from its own last
//! wait, whichever is later, so its own earlier call or log line is never counted), and
//! every [`CALL_EVERY`]th wake it calls the slot with a short CRC-32 (stateless: the load
//! client's streams are untouched), checks the answer and takes the call's time and the
//! *response*: from when it wanted to call (the interrupt, or its last wait) to the answer.
//! It has no scheduling budget, so none of its calls can be throttled: its use of the
//! processor is bounded by the interrupt's rate instead (one wake-up in 122,070
//! instructions, one call in four wake-ups). Every [`ROUND`] wakes after the first
//! [`WARM_UP`] (the phase is learnt) it logs
//!
//! ```text
//! @event probe.round n=3 wakes=256 calls=64 errors=0 wrong=0 ambiguous=0 recalibrations=0 first=… last=… late_max=… call_max=… response_max=… late=v@t,… response=v@t,… call=v@t,…
//! ```
//!
//! with its [`SLOW`] longest latenesses, responses and calls (`value@start`, the start in
//! time-stamp ticks: the interrupt, or the call's send), so the bench can find the ones
//! that overlap a promotion or a rollback. The line (≈ 140,000 instructions with the
//! console's part) is written at [`LINE_PRIORITY`], below the slot's steps, then the probe
//! goes back to its own priority (since `slots42`: at its own, a line that fell into the
//! step after a promotion by hand's switch made that step ≈ 157,000 long, and the bench's
//! derived worst client wait counted the probe's own logging as the manager's stall).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::probe::{Largest, RTC_RATE, Ticks};
use tileos_checksum::{Checksummer, SliceBy8};
use tileos_protocol::ProtocolError;
use tileos_protocol::checksum::{Checksum, Request};
use tileos_sys::log_event;
use tileos_sys::rpc::{CallError, Client};

/// The priority the probe writes its round line at: above the load client (10) only, so
/// the line waits for the slot's steps (at 74 in `bench-slot`) and the command path
/// instead of lengthening them.
const LINE_PRIORITY: u64 = 11;

/// Sets the probe's own priority (bounded by its MCP, its description priority); a refusal
/// leaves it where it is.
fn set_priority(priority: u64) {
    let _ = tileos_sys::domain::own_tcb().invoke(tileos_abi::invocation::TcbSetPriority {
        priority,
        authority: tileos_abi::invocation::CPtr(tileos_abi::bootinfo::domain::TCB),
    });
}

/// Wakes between two `probe.round` events (31 ms of guest time at 8192 Hz: the bench's
/// whole run is about 1.5 s).
const ROUND: u64 = 256;
/// Wakes before the first round: the phase is learnt meanwhile, nothing is reported.
const WARM_UP: u64 = 1024;
/// A call to the slot every this many wakes.
const CALL_EVERY: u64 = 4;
/// The longest latenesses, responses and calls a round lists.
const SLOW: usize = 12;
/// CMOS index and data ports.
const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;

tileos_sys::resources! {
    /// What the probe needs from the description.
    struct Resources {
        /// The checksum service (the demo slot's front endpoint).
        checksum: ClientEndpoint("checksum"),
        /// The CMOS clock's ports.
        cmos: IoPort("0x70"),
        /// The clock's interrupt (IOAPIC pin 8).
        irq: IrqHandler("irq8"),
        /// Signalled by that interrupt.
        tick: WaitNotification("probe-tick"),
    }
}

tileos_sys::entry!(main);

/// Reads CMOS register `register`.
fn read(cmos: tileos_sys::cap::IoPort, register: u8) -> u8 {
    let _ = cmos.out8(INDEX, register);
    cmos.in8(DATA).unwrap_or(0)
}

/// Writes CMOS register `register`.
fn write(cmos: tileos_sys::cap::IoPort, register: u8, value: u8) {
    let _ = cmos.out8(INDEX, register);
    let _ = cmos.out8(DATA, value);
}

/// One round's figures.
#[derive(Default)]
struct Round {
    wakes: u64,
    calls: u64,
    first: u64,
    late: Largest<SLOW>,
    response: Largest<SLOW>,
    call: Largest<SLOW>,
}

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    let Resources { checksum, cmos, irq, tick } = resources;
    // The periodic interrupt: register A's rate, register B's PIE (bit 6); reading register
    // C acknowledges the clock's interrupt (it raises no other until C is read).
    write(cmos, 0x0A, (read(cmos, 0x0A) & 0xF0) | RTC_RATE);
    write(cmos, 0x0B, read(cmos, 0x0B) | 0x40);
    let _ = read(cmos, 0x0C);
    if let Err(error) = irq.ack() {
        tileos_sys::log!("{name}: cannot acknowledge the clock's interrupt ({error:?}); stopping");
        tileos_sys::domain::stop()
    }
    tileos_sys::log!("{name}: probing the checksum slot on the CMOS clock's interrupt (8192 Hz), a call every {CALL_EVERY} wakes");
    let service = Client::<Checksum>::new(checksum);
    let request = Request::Crc32(tileos_protocol::heapless::Vec::from_slice(b"probe:16 bytes!!").unwrap_or_default());
    let expected = Checksummer::<SliceBy8>::new().answer(&request);
    let mut ticks = Ticks::new();
    let (mut armed, mut waited) = (None, 0u64);
    let (mut wakes, mut rounds, mut errors, mut wrong) = (0u64, 0u64, 0u64, 0u64);
    let mut round = Round::default();
    // The priority the root server started this thread at.
    let own_priority = tileos_sys::domain::info().priority;
    loop {
        tick.wait();
        let woke = tileos_sys::timestamp();
        let _ = cmos.out8(INDEX, 0x0C);
        let before = tileos_sys::timestamp();
        let _ = cmos.in8(DATA);
        let after = tileos_sys::timestamp();
        let _ = irq.ack();
        // From the interrupt, or from the probe's own last wait if that came later (its own
        // call or line then held it, not anything above it).
        let wanted = ticks.interrupt(armed, woke).map(|due| due.max(waited));
        armed = Some((before, after));
        wakes += 1;
        if wakes <= WARM_UP {
            waited = tileos_sys::timestamp();
            continue;
        }
        if round.wakes == 0 {
            round.first = woke;
        }
        round.wakes += 1;
        if let Some(wanted) = wanted {
            round.late.add(woke.saturating_sub(wanted), wanted);
        }
        if wakes.is_multiple_of(CALL_EVERY) {
            let start = tileos_sys::timestamp();
            let answer = service.call(&request);
            let end = tileos_sys::timestamp();
            round.calls += 1;
            round.call.add(end.wrapping_sub(start), start);
            if let Some(wanted) = wanted {
                round.response.add(end.saturating_sub(wanted), wanted);
            }
            match answer {
                Ok(answer) if answer == expected => {}
                Ok(_) => wrong += 1,
                Err(CallError::Protocol(ProtocolError::NoServer)) => {
                    tileos_sys::log!("{name}: nobody serves the checksum endpoint; stopping");
                    tileos_sys::domain::stop()
                }
                Err(_) => errors += 1,
            }
        }
        if round.wakes == ROUND {
            rounds += 1;
            set_priority(LINE_PRIORITY);
            log_event!(
                "probe.round",
                n = rounds,
                wakes = round.wakes,
                calls = round.calls,
                errors = errors,
                wrong = wrong,
                ambiguous = ticks.ambiguous,
                recalibrations = ticks.recalibrations,
                first = round.first,
                last = woke,
                late_max = round.late.max(),
                call_max = round.call.max(),
                response_max = round.response.max(),
                late = &round.late,
                response = &round.response,
                call = &round.call
            );
            set_priority(own_priority);
            round = Round::default();
        }
        waited = tileos_sys::timestamp();
    }
}
