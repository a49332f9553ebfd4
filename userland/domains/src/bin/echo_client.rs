//! Demo client: calls the "echo" service a few times, checks the answers and logs them.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_sys::log;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let name = tileos_sys::domain::name();
    let Some(echo) = tileos_sys::domain::cap(CapKind::ClientEndpoint, "echo") else {
        log!("{name}: no \"echo\" endpoint; stopping");
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    };
    for round in 1..=3u64 {
        let reply = tileos_sys::call(echo, 0, &[round, 0, 7, 9], &[]);
        let ok = reply.info.label() == 0 && reply.words[0] == round + 1 && reply.words[2] == 7 && reply.words[3] == 9;
        log!("{name}: echo round {round}: reply {:?} ({}); the server saw badge {:#x}", &reply.words, if ok { "ok" } else { "WRONG" }, reply.words[1]);
    }
    log!("{name}: done");
    // Nothing more to do: stop this domain's only thread.
    let _ = tileos_sys::invoke(tileos_abi::bootinfo::domain::TCB, tileos_abi::invocation::Label::TcbSuspend, &[], &[]);
    unreachable!("a suspended thread does not run")
}
