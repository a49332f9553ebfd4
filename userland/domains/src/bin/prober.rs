//! Supervisor test domain: calls "flaky" with 1, then 13 (which crashes the server mid-
//! request), then 2, and logs what happened: the client must see the lost reply as an error
//! it can handle, and the restarted server must answer the next request.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::message::LABEL_REPLY_LOST;
use tileos_sys::{log, log_event};

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let flaky = tileos_sys::domain::cap(CapKind::ClientEndpoint, "flaky").expect("prober: no \"flaky\" endpoint");
    for request in [1u64, 13, 2] {
        let reply = tileos_sys::call(flaky, 0, &[request], &[]);
        match reply.info.label() {
            0 => {
                log!("prober: request {request} answered {}", reply.words[0]);
                log_event!("prober.answered", request = request, value = reply.words[0]);
            }
            LABEL_REPLY_LOST => {
                log!("prober: request {request}: the server died before replying (reply lost); retrying later");
                log_event!("prober.reply-lost", request = request);
            }
            other => log!("prober: request {request}: error label {other}"),
        }
    }
    log!("prober: done");
    let _ = tileos_sys::invoke(tileos_abi::bootinfo::domain::TCB, tileos_abi::invocation::Label::TcbSuspend, &[], &[]);
    unreachable!("a suspended thread does not run")
}
