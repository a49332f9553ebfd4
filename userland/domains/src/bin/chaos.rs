//! Fault-injection test domain: asks the supervisor (through the supervisor control
//! protocol, `tileos_protocol::supervisor`) to kill and restart another domain, as the
//! fault-tolerance boot tests need.
//!
//! The target is named by this domain's own name: domain `chaos-nvme` kills `nvme`. When
//! the description gives it a notification "chaos" to wait on, it kills the target when
//! that notification is signalled (a client can then arrange the kill to hit a request in
//! flight); otherwise it kills it [`DELAY_MS`] milliseconds (time-stamp counter at the rate
//! the kernel measured) after it starts, yielding meanwhile (give it a low priority). It logs the supervisor's answer and the status of every domain,
//! then checks that the supervisor refuses to restart an unknown domain and a domain with
//! restart policy "never" (the `console` domain, which has none in every test tile), and
//! logs `<name>: done`. When the description also gives it a notification "chaos-again" to
//! wait on, it then waits for that one and kills the target a second time (logging the
//! supervisor's answer), so that a test can kill a restarted domain during its recovery.
#![no_std]
#![no_main]

extern crate tileos_rt;

use core::arch::x86_64::_rdtsc;
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_protocol::heapless::String;
use tileos_protocol::supervisor::{Refusal, Request, Response, Supervisor};
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// Delay before the kill when there is no "chaos" notification to wait on.
const DELAY_MS: u64 = 8000;

/// A restart request for `name` (names longer than a domain name can be are cut).
fn restart(name: &str) -> Request {
    let mut domain = String::new();
    for c in name.chars() {
        if domain.push(c).is_err() {
            break;
        }
    }
    Request::Restart { domain }
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let me = tileos_sys::domain::name();
    let Some(target) = me.strip_prefix("chaos-") else {
        log!("{me}: FAIL: my name must be \"chaos-<domain to kill>\"");
        stop();
    };
    let Some(endpoint) = tileos_sys::domain::cap(CapKind::ClientEndpoint, "supervisor") else {
        log!("{me}: FAIL: no \"supervisor\" endpoint");
        stop();
    };
    let supervisor = Client::<Supervisor>::new(tileos_sys::cap::Endpoint::from_cptr(endpoint));
    match tileos_sys::domain::cap(CapKind::WaitNotification, "chaos") {
        Some(notification) => {
            log!("{me}: waiting for the signal to kill \"{target}\"");
            tileos_sys::recv(notification, true);
        }
        None => {
            log!("{me}: killing \"{target}\" in {DELAY_MS} ms");
            // SAFETY: rdtsc is allowed in user mode.
            let deadline = unsafe { _rdtsc() } + DELAY_MS * tileos_sys::domain::info().tsc_per_ms;
            // SAFETY: as above.
            while unsafe { _rdtsc() } < deadline {
                tileos_sys::yield_now();
            }
        }
    }
    log!("{me}: asking the supervisor to restart \"{target}\"");
    match supervisor.call(&restart(target)) {
        Ok(answer @ Response::Restarted { .. }) => log!("{me}: supervisor answered {answer:?}"),
        other => log!("{me}: FAIL: the restart of \"{target}\" was answered {other:?}"),
    }
    let mut first = 0u16;
    loop {
        match supervisor.call(&Request::Status { first }) {
            Ok(Response::Status { total, domains }) => {
                for domain in &domains {
                    log!("{me}: status: {} {:?} generation {} restarts {}", domain.name, domain.state, domain.generation, domain.restarts);
                }
                first += domains.len() as u16;
                if domains.is_empty() || first >= total {
                    break;
                }
            }
            other => {
                log!("{me}: FAIL: status answered {other:?}");
                break;
            }
        }
    }
    for (name, expected) in [("no-such-domain", Refusal::UnknownDomain), ("console", Refusal::RestartPolicyNever)] {
        match supervisor.call(&restart(name)) {
            Ok(Response::Refused(refusal)) if refusal == expected => log!("{me}: restart of \"{name}\" refused as expected: {refusal:?}"),
            other => log!("{me}: FAIL: restart of \"{name}\" answered {other:?}, expected {expected:?}"),
        }
    }
    log!("{me}: done");
    if let Some(again) = tileos_sys::domain::cap(CapKind::WaitNotification, "chaos-again") {
        log!("{me}: waiting for the signal to kill \"{target}\" again");
        tileos_sys::recv(again, true);
        log!("{me}: asking the supervisor to restart \"{target}\" again");
        match supervisor.call(&restart(target)) {
            Ok(answer @ Response::Restarted { .. }) => log!("{me}: supervisor answered again {answer:?}"),
            other => log!("{me}: FAIL: the second restart of \"{target}\" was answered {other:?}"),
        }
    }
    stop();
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = tileos_sys::domain::own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}
