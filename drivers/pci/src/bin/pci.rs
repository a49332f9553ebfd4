//! The `pci` domain: reaches PCI configuration space through its IO-port capability for
//! 0xCF8..0xCFF (configuration mechanism #1; named "0xcf8" in the description), logs every
//! function on bus 0 and behind bridges (address, IDs, class, BARs with their probed sizes,
//! interrupt line and pin), then serves the protocol of [`tileos_driver_pci::protocol`] on
//! its endpoint "pci" if it has one.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::invocation::Label;
use tileos_driver_pci::protocol::{Pci, Request, Response};
use tileos_driver_pci::{Address, BarKind, ConfigSpace, Function, class_name, enable, enumerate};
use tileos_sys::{invoke, log};

/// Configuration address and data ports.
const CONFIG_ADDRESS: u64 = 0xCF8;
const CONFIG_DATA: u64 = 0xCFC;

/// Configuration space through the IO-port capability in slot `.0`.
struct PortConfig(u64);

impl ConfigSpace for PortConfig {
    fn read(&mut self, at: Address, offset: u8) -> u32 {
        // A refused port access (not expected: the capability covers both ports, checked at
        // start) reads as all ones, i.e. "no function here".
        if invoke(self.0, Label::IoPortOut32, &[CONFIG_ADDRESS, u64::from(at.mechanism1(offset))], &[]).is_err() {
            return 0xFFFF_FFFF;
        }
        invoke(self.0, Label::IoPortIn32, &[CONFIG_DATA], &[]).map_or(0xFFFF_FFFF, |reply| reply.words[0] as u32)
    }

    fn write(&mut self, at: Address, offset: u8, value: u32) {
        if invoke(self.0, Label::IoPortOut32, &[CONFIG_ADDRESS, u64::from(at.mechanism1(offset))], &[]).is_ok() {
            let _ = invoke(self.0, Label::IoPortOut32, &[CONFIG_DATA, u64::from(value)], &[]);
        }
    }
}

/// Logs one function and its BARs.
fn report(function: &Function) {
    log!(
        "pci: {} {:04x}:{:04x} class {:02x}.{:02x}.{:02x} ({}), irq line {} pin {}",
        function.address,
        function.vendor,
        function.device,
        function.class,
        function.subclass,
        function.prog_if,
        class_name(function.class, function.subclass),
        function.interrupt_line,
        match function.interrupt_pin {
            0 => "none",
            1 => "INTA",
            2 => "INTB",
            3 => "INTC",
            4 => "INTD",
            _ => "invalid",
        }
    );
    for bar in function.bars.iter().flatten() {
        let kind = match bar.kind {
            BarKind::Io => "io",
            BarKind::Memory32 { prefetchable: false } => "mem32",
            BarKind::Memory32 { prefetchable: true } => "mem32 prefetchable",
            BarKind::Memory64 { prefetchable: false } => "mem64",
            BarKind::Memory64 { prefetchable: true } => "mem64 prefetchable",
        };
        log!("pci: {}   BAR{} {kind} at {:#x} size {:#x}", function.address, bar.index, bar.address, bar.size);
    }
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let Some(ports) = tileos_sys::domain::cap(CapKind::IoPort, "0xcf8") else {
        log!("pci: no IO-port capability \"0xcf8\" (ports 0xcf8..0xcff); stopping");
        stop();
    };
    if let Err(error) = invoke(ports, Label::IoPortIn32, &[CONFIG_DATA], &[]) {
        log!("pci: the IO-port capability does not cover 0xcfc..0xcff ({error:?}); stopping");
        stop();
    }
    let mut config = PortConfig(ports);
    let mut count = 0;
    enumerate(&mut config, 0, &mut |_, function| {
        report(function);
        count += 1;
    });
    log!("pci: {count} functions");
    let Some(endpoint) = tileos_sys::domain::cap(CapKind::ServedEndpoint, "pci") else {
        log!("pci: no \"pci\" endpoint to serve; done");
        stop();
    };
    tileos_sys::rpc::serve::<Pci>(tileos_sys::cap::Endpoint::from_cptr(endpoint), |badge, request| {
        let Request::Enable { class_code, index } = request;
        let mut matches = 0;
        let mut chosen = None;
        enumerate(&mut config, 0, &mut |_, function| {
            if function.class_code() == class_code {
                if matches == index && chosen.is_none() {
                    chosen = Some(*function);
                }
                matches += 1;
            }
        });
        let Some(function) = chosen else { return Ok(Response::NotFound) };
        let command = enable(&mut config, function.address);
        log!("pci: {} enabled for badge {badge:#x} (command {command:#06x})", function.address);
        let bar0 = function.bars[0];
        Ok(Response::Enabled {
            bus: function.address.bus,
            device: function.address.device,
            function: function.address.function,
            bar0: bar0.map_or(0, |bar| bar.address),
            bar0_size: bar0.map_or(0, |bar| bar.size),
            interrupt_line: function.interrupt_line,
            interrupt_pin: function.interrupt_pin,
        })
    })
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = invoke(tileos_abi::bootinfo::domain::TCB, Label::TcbSuspend, &[], &[]);
    unreachable!("a suspended thread does not run")
}
