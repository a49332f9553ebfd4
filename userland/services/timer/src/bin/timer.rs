//! The timer domain (docs/timer.md): clients arm one deadline each (`tileos_protocol::timer`)
//! and are woken by a signal on the notification it holds for their badge
//! (`timer-wake.<badge>`). Time is the time-stamp counter at the rate on the domain
//! information page; the wake-up source is the CMOS RTC's periodic interrupt (IO ports
//! 0x70–0x71, ISA IRQ 8 on IOAPIC pin 8), switched on only while a deadline is armed, at
//! the rate `tileos_timer::rtc_rate` picks for the nearest one. The HPET stays the
//! netstack's.
//!
//! The interrupt's notification is bound to the thread, so one receive on the endpoint
//! returns either a request or the interrupt's signal. A signal and a call with label 0 and
//! no words look alike: such a message is handled as a signal and then answered
//! `UnknownLabel` (a reply with no caller goes nowhere), so a hostile empty call is
//! answered too and costs one early look at the table.
//!
//! A restarted timer has an empty table: it signals every client notification it holds
//! once as it starts, so a client waiting for a deadline the old one held wakes, finds its
//! deadline not reached and arms it again.
#![no_std]
#![no_main]

extern crate tileos_rt;

use core::fmt::Write;
use tileos_abi::bootinfo::domain_info::{CapKind, MAX_CAPS};
use tileos_abi::invocation::{CPtr, TcbBindNotification};
use tileos_protocol::ProtocolError;
use tileos_protocol::timer::{Request, Response, Timer};
use tileos_sys::cap::{IoPort, Notification};
use tileos_sys::{log, log_event};
use tileos_timer::{Deadlines, micros, rtc_rate};

/// The CMOS index port (the data port is the next one).
const CMOS_INDEX: u16 = 0x70;
/// The CMOS data port.
const CMOS_DATA: u16 = 0x71;
/// RTC status register A: divider (bits 4–6) and rate select (bits 0–3).
const REGISTER_A: u8 = 0x0A;
/// RTC status register B: bit 6 enables the periodic interrupt.
const REGISTER_B: u8 = 0x0B;
/// RTC status register C: reading it acknowledges the RTC's interrupt flags.
const REGISTER_C: u8 = 0x0C;
/// Register B's periodic-interrupt enable.
const PERIODIC_ENABLE: u8 = 0x40;
/// The notification bit the description gives the RTC's interrupt (`[[irq]] bit = 0`).
const IRQ_BIT: u64 = 1;
/// Prefix of the client notifications' names; the rest is the badge in decimal.
const WAKE_PREFIX: &str = "timer-wake.";

tileos_sys::resources! {
    /// What the timer domain needs from the description (checked at build time).
    struct Resources {
        /// The timer protocol's endpoint.
        timer: ServedEndpoint("timer"),
        /// The CMOS index and data ports (named by the first port).
        cmos: IoPort("0x70"),
        /// The RTC's interrupt, IOAPIC pin 8.
        irq: IrqHandler("irq8"),
        /// The notification the interrupt signals (bound to the thread).
        irq_signal: WaitNotification("timer-irq"),
    }
}

/// The CMOS RTC's periodic interrupt.
struct Rtc {
    port: IoPort,
    /// The rate select programmed (`None`: the interrupt is off).
    rate: Option<u8>,
}

impl Rtc {
    fn read(&self, register: u8) -> u8 {
        let _ = self.port.out8(CMOS_INDEX, register);
        self.port.in8(CMOS_DATA).unwrap_or(0)
    }

    fn write(&self, register: u8, value: u8) {
        let _ = self.port.out8(CMOS_INDEX, register);
        let _ = self.port.out8(CMOS_DATA, value);
    }

    /// Acknowledges the RTC's interrupt (reads register C).
    fn acknowledge(&self) {
        self.read(REGISTER_C);
    }

    /// Programs the periodic interrupt at `rate` (rate select 3–15), or switches it off.
    fn set(&mut self, rate: Option<u8>) {
        if rate == self.rate {
            return;
        }
        let b = self.read(REGISTER_B);
        match rate {
            Some(rate) => {
                let a = self.read(REGISTER_A);
                self.write(REGISTER_A, (a & 0xF0) | (rate & 0x0F));
                self.write(REGISTER_B, b | PERIODIC_ENABLE);
            }
            None => self.write(REGISTER_B, b & !PERIODIC_ENABLE),
        }
        self.rate = rate;
    }
}

/// The signal capability to the notification of the client with `badge`, if the
/// description gives one (`timer-wake.<badge>`).
fn wake_of(badge: u64) -> Option<Notification> {
    let mut name: heapless::String<40> = heapless::String::new();
    write!(name, "{WAKE_PREFIX}{badge}").ok()?;
    tileos_sys::domain::signal_notification(&name)
}

/// Signals every client notification this domain holds (a restarted timer's first act).
fn wake_every_client() -> usize {
    let info = tileos_sys::domain::info();
    let caps = &info.caps[..(info.cap_count as usize).min(MAX_CAPS)];
    let mut woken = 0;
    for entry in caps.iter().filter(|entry| entry.kind == CapKind::SignalNotification as u8) {
        let name = core::str::from_utf8(&entry.name).unwrap_or("").trim_end_matches('\0');
        if name.starts_with(WAKE_PREFIX) {
            Notification::from_cptr(entry.slot).signal();
            woken += 1;
        }
    }
    woken
}

/// The clock, microseconds.
fn now(tsc_per_ms: u64) -> u64 {
    micros(tileos_sys::timestamp(), tsc_per_ms)
}

tileos_sys::entry!(main);

fn main(Resources { timer, cmos, irq, irq_signal }: Resources) -> ! {
    let info = tileos_sys::domain::info();
    let tsc_per_ms = info.tsc_per_ms.max(1);
    let mut rtc = Rtc { port: cmos, rate: Some(0) };
    // Whatever an earlier generation left: interrupt off, flags read.
    rtc.set(None);
    rtc.acknowledge();
    if let Err(error) = tileos_sys::domain::own_tcb().invoke(TcbBindNotification { notification: CPtr(irq_signal.cptr()) }) {
        log!("timer: cannot bind the notification \"timer-irq\" to its thread ({error:?}): stopping");
        tileos_sys::domain::stop();
    }
    if let Err(error) = irq.ack() {
        log!("timer: the IRQ handler \"irq8\" refused the first acknowledgement ({error:?}): stopping");
        tileos_sys::domain::stop();
    }
    let woken = if info.generation > 0 { wake_every_client() } else { 0 };
    log!("timer: serving (generation {}), CMOS RTC periodic interrupt on IOAPIC pin 8, clock TSC at {tsc_per_ms}/ms", info.generation);
    log_event!("timer.ready", generation = info.generation, woken = woken);
    let mut table = Deadlines::new();
    let (mut interrupts, mut wakes) = (0u64, 0u64);
    let mut message = tileos_sys::recv(timer.cptr(), true);
    loop {
        let signal = message.info.label() == 0 && message.info.length() == 0;
        let answer = if signal {
            if message.badge & IRQ_BIT != 0 {
                interrupts += 1;
                rtc.acknowledge();
                if let Err(error) = irq.ack() {
                    log!("timer: the IRQ handler \"irq8\" refused an acknowledgement: {error:?}");
                }
            }
            Err(ProtocolError::UnknownLabel)
        } else {
            let at = now(tsc_per_ms);
            let badge = message.badge;
            let answer = tileos_sys::rpc::decode_request::<Timer>(&message).map(|request| {
                let known = matches!(request, Request::Arm { .. } | Request::ArmAt { .. }) && wake_of(badge).is_some();
                table.serve(badge, &request, at, known)
            });
            match &answer {
                Err(error) => log_event!("timer.refused", badge = badge, error = DebugWord(error)),
                Ok(Response::Refused(error)) => log_event!("timer.refused", badge = badge, error = DebugWord(error)),
                Ok(_) => {}
            }
            answer
        };
        let at = now(tsc_per_ms);
        table.take_due(at, |badge, _| {
            if let Some(wake) = wake_of(badge) {
                wake.signal();
                wakes += 1;
            }
        });
        let rate = rtc_rate(at, table.next());
        if rate.is_none() && rtc.rate.is_some() {
            log_event!("timer.off", interrupts = interrupts, wakes = wakes);
        }
        rtc.set(rate);
        message = tileos_sys::rpc::answer_and_recv::<Timer>(timer, answer);
    }
}

/// An error's `Debug` form as one event word.
struct DebugWord<'a, T: core::fmt::Debug>(&'a T);

impl<T: core::fmt::Debug> core::fmt::Display for DebugWord<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
