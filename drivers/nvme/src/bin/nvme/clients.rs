//! The clients of the "block" endpoint, by badge: each one's window of the disk (its
//! endpoint parameters `disk_offset` and `disk_bytes`), its data region, its ring and its
//! notification, found on the information page by name with the badge in decimal:
//! "block-data.<badge>", "block-ring.<badge>" and "block-done.<badge>".

use core::fmt::Write;
use tileos_abi::bootinfo::domain_info;
use tileos_mmio::Mmio;
use tileos_protocol::block::ring::{self, DriverRing};
use tileos_protocol::block::{Geometry, Refusal, Window};
use tileos_protocol::heapless::String;
use tileos_sys::cap::Notification;
use tileos_sys::{domain, log};

/// Most clients the driver keeps track of.
pub const MAX_CLIENTS: usize = 16;
/// Prefix of a client's data region.
const DATA: &str = "block-data.";
/// Prefix of a client's ring region.
const RING: &str = "block-ring.";
/// Prefix of a client's notification.
const DONE: &str = "block-done.";

/// One client.
pub struct Client {
    /// Its badge.
    pub badge: u64,
    /// Bus address of its data region (0 without one: every transfer is then refused as
    /// reaching past a buffer of 0 bytes).
    pub data: u64,
    /// Its window of the disk, through its data region, or why it has none.
    pub geometry: Result<Geometry, Refusal>,
    /// Its ring and the driver's side of it.
    pub ring: Option<(Mmio, DriverRing)>,
    /// Signalled after each batch of its completions.
    pub done: Option<Notification>,
    /// Whether its ring's broken indices were logged already.
    pub warned: bool,
}

/// `prefix` and `badge` as a name of the information page.
fn named(prefix: &str, badge: u64) -> String<32> {
    let mut name = String::new();
    // 11 bytes of prefix and at most 20 digits fit.
    let _ = write!(name, "{prefix}{badge}");
    name
}

impl Client {
    /// Finds what the information page has for the client with `badge` on `disk` (the whole
    /// disk) and logs it.
    fn new(badge: u64, disk: &Geometry) -> Client {
        let (data, buffer_size) = domain::region(&named(DATA, badge)).map_or((0, 0), |(_, paddr, size)| (paddr, size));
        let geometry =
            Window::from_params(|name| domain::param("block", badge, name)).and_then(|window| window.geometry(disk, buffer_size));
        let ring = domain::take_region(&named(RING, badge)).filter(|region| region.len() >= ring::REGION_BYTES).map(|region| {
            let (driver, interrupted) = DriverRing::resume(&region);
            if interrupted > 0 {
                log!("nvme: client {badge}: {interrupted} ring requests were in flight when the previous driver generation ended; answered Interrupted");
            }
            (region, driver)
        });
        let done = domain::signal_notification(&named(DONE, badge));
        match &geometry {
            Ok(window) => log!(
                "nvme: client {badge}: blocks {}..{} of the disk, data region {buffer_size:#x} bytes, ring {}",
                window.first_block,
                window.first_block + window.blocks,
                if ring.is_some() { "yes" } else { "no" }
            ),
            Err(Refusal::MissingParam { param }) => {
                log!("nvme: client {badge}: no disk window (endpoint parameter \"{}\" missing): its requests are refused", param.name())
            }
            Err(refusal) => log!("nvme: client {badge}: unusable disk window ({refusal:?}): its requests are refused"),
        }
        Client { badge, data, geometry, ring, done, warned: false }
    }
}

/// The clients seen so far.
pub struct Clients {
    list: [Option<Client>; MAX_CLIENTS],
}

impl Clients {
    /// Every client the information page has a data region or ring for (the ones with a
    /// ring first answer what a previous driver generation left in flight, see
    /// [`DriverRing::resume`]).
    pub fn discover(disk: &Geometry) -> Clients {
        let mut clients = Clients { list: [const { None }; MAX_CLIENTS] };
        let info = domain::info();
        for entry in &info.regions[..(info.region_count as usize).min(domain_info::MAX_REGIONS)] {
            let name = core::str::from_utf8(&entry.name).unwrap_or("").trim_end_matches('\0');
            let badge = name.strip_prefix(DATA).or_else(|| name.strip_prefix(RING)).and_then(|digits| digits.parse().ok());
            if let Some(badge) = badge {
                clients.find(badge, disk);
            }
        }
        clients
    }

    /// The client with `badge`, added at its first request if the information page has
    /// nothing of it; `None` if the table is full.
    pub fn find(&mut self, badge: u64, disk: &Geometry) -> Option<&mut Client> {
        let index = match self.list.iter().position(|client| client.as_ref().is_some_and(|client| client.badge == badge)) {
            Some(index) => index,
            None => {
                let Some(free) = self.list.iter().position(Option::is_none) else {
                    log!("nvme: client {badge}: more than {MAX_CLIENTS} clients; refused");
                    return None;
                };
                self.list[free] = Some(Client::new(badge, disk));
                free
            }
        };
        self.list[index].as_mut()
    }

    /// The client at `index` of the table, if any.
    pub fn get(&mut self, index: usize) -> Option<&mut Client> {
        self.list.get_mut(index).and_then(Option::as_mut)
    }
}
