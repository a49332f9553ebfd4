//! The `pci` domain: reaches PCI configuration space through its IO-port capability for
//! 0xCF8..0xCFF (configuration mechanism #1; named "0xcf8" in the description), logs every
//! function on bus 0 and behind bridges (address, IDs, class, BARs with their probed sizes,
//! interrupt line and pin), reports them all to the root server (capability "pci-report"),
//! then serves the protocol of [`tileos_protocol::pci`] on its endpoint "pci" if it
//! has one: enabling each driver's own device (and its MSI-X) and reading its
//! configuration space.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_abi::invocation::{IoPortIn32, IoPortOut32};
use tileos_driver_pci::{BarKind, ConfigRead, ConfigSpace, Function, class_name, enable, enable_msix, enumerate, mechanism1, msix, probe};
use tileos_protocol::pci::report::{self, BusReport};
use tileos_protocol::pci::{Address, BarInfo, Device, Pci, Request, Response, badge_device};
use tileos_sys::cap::IoPort;
use tileos_sys::domain::stop;
use tileos_sys::log;

/// Configuration address and data ports.
const CONFIG_ADDRESS: u64 = 0xCF8;
const CONFIG_DATA: u64 = 0xCFC;

/// Configuration space through the IO-port capability for 0xCF8..0xCFF.
struct PortConfig(IoPort);

impl ConfigRead for PortConfig {
    fn read(&mut self, at: Address, offset: u8) -> u32 {
        // A refused port access (not expected: the capability covers both ports, checked at
        // start) reads as all ones, i.e. "no function here".
        let ports = self.0;
        if ports.invoke(IoPortOut32 { port: CONFIG_ADDRESS, value: u64::from(mechanism1(at, offset)) }).is_err() {
            return 0xFFFF_FFFF;
        }
        ports.invoke(IoPortIn32 { port: CONFIG_DATA }).map_or(0xFFFF_FFFF, |reply| reply.words[0] as u32)
    }
}

impl ConfigSpace for PortConfig {
    fn write(&mut self, at: Address, offset: u8, value: u32) {
        let ports = self.0;
        if ports.invoke(IoPortOut32 { port: CONFIG_ADDRESS, value: u64::from(mechanism1(at, offset)) }).is_ok() {
            let _ = ports.invoke(IoPortOut32 { port: CONFIG_DATA, value: u64::from(value) });
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

tileos_sys::resources! {
    /// What the pci domain needs from the description (checked at build time).
    struct Resources {
        /// The IO ports 0xCF8..0xCFF (named by the first).
        ports: IoPort("0xcf8"),
        /// The root server's endpoint the bus report goes to (absent: no report wanted).
        pci_report: ClientEndpoint("pci-report", optional),
        /// The endpoint drivers call to enable their devices (absent: enumerate and stop).
        endpoint: ServedEndpoint("pci", optional),
    }
}

tileos_sys::entry!(main);

fn main(Resources { ports, pci_report, endpoint }: Resources) -> ! {
    if let Err(error) = ports.invoke(IoPortIn32 { port: CONFIG_DATA }) {
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
    match pci_report {
        Some(root) => match report_bus(&mut config, tileos_sys::rpc::Client::<BusReport>::new(root), count) {
            Ok(()) => log!("pci: {count} functions reported to the root server"),
            Err(problem) => log!("pci: the bus report failed: {problem}"),
        },
        None => log!("pci: no \"pci-report\" capability: the root server wants no report"),
    }
    let Some(endpoint) = endpoint else {
        log!("pci: no \"pci\" endpoint to serve; done");
        stop();
    };
    tileos_sys::rpc::serve::<Pci>(endpoint, |badge, request| {
        Ok(match request {
            Request::Enable { msix: with_msix } => match badge_device(badge) {
                Some(at) => enable_for_driver(&mut config, at, with_msix),
                None => Response::NotAllowed,
            },
            Request::ReadConfig { offset } => match badge_device(badge) {
                Some(at) if offset % 4 == 0 => Response::Config { value: config.read(at, offset) },
                Some(_) => Response::Misaligned,
                None => Response::NotAllowed,
            },
        })
    })
}

/// Reports every function on the bus (`count` of them) to the root server, in batches.
fn report_bus(config: &mut PortConfig, root: tileos_sys::rpc::Client<BusReport>, count: usize) -> Result<(), &'static str> {
    let total = u16::try_from(count).map_err(|_| "more than 65535 functions")?;
    let mut batch = report::Request { total, first: 0, functions: tileos_protocol::heapless::Vec::new() };
    let mut outcome = Ok(());
    let mut send = |batch: &mut report::Request| {
        if outcome.is_err() {
            return;
        }
        outcome = match root.call(batch) {
            Ok(report::Response::Taken) => Ok(()),
            Ok(report::Response::OutOfOrder) => Err("the root server took a batch as out of order"),
            Err(_) => Err("the root server did not answer"),
        };
        batch.first += batch.functions.len() as u16;
        batch.functions.clear();
    };
    enumerate(config, 0, &mut |config, function| {
        let _ = batch.functions.push(describe(config, function));
        if batch.functions.is_full() {
            send(&mut batch);
        }
    });
    if !batch.functions.is_empty() || total == 0 {
        send(&mut batch);
    }
    outcome
}

/// What the root server learns of one function.
fn describe(config: &mut PortConfig, function: &Function) -> Device {
    let bars =
        function.bars.map(|bar| bar.map(|bar| BarInfo { io: matches!(bar.kind, BarKind::Io), address: bar.address, size: bar.size }));
    Device {
        class_code: function.class_code(),
        address: function.address,
        vendor: function.vendor,
        device: function.device,
        bars,
        interrupt_line: function.interrupt_line,
        interrupt_pin: function.interrupt_pin,
        msix: msix(config, function.address),
    }
}

/// Enables the caller's own function (named by its badge), with MSI-X if asked.
fn enable_for_driver(config: &mut PortConfig, at: Address, with_msix: bool) -> Response {
    if probe(config, at).is_none() {
        return Response::NotFound;
    }
    let found = msix(config, at);
    if with_msix && found.is_none() {
        log!("pci: {at}: MSI-X asked for, but the function has no MSI-X capability");
        return Response::NoMsix;
    }
    let command = enable(config, at);
    let msix = if with_msix { found } else { None };
    if let Some(table) = &msix {
        enable_msix(config, at, table);
    }
    log!("pci: {at} enabled for its driver (command {command:#06x}, {})", if msix.is_some() { "MSI-X" } else { "INTx" });
    Response::Enabled { address: at, msix }
}
