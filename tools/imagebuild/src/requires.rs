//! The capability manifest check: every domain gets what its program requires.
//!
//! A program built on the domain skeleton (`tileos_sys::resources!`) lists the capabilities
//! its resources struct names in the ELF section `.tileos.requires`
//! ([`tileos_abi::manifest`]). [`manifest()`] reads that section from an ELF; [`grants`] tells
//! whether a description grants a domain a required capability, so that [`crate::build`]
//! refuses it with the description's `file:line`, instead of the domain stopping at boot.
//! A program without the section (one not on the skeleton) is not checked.

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::manifest::{self, Kind, Requirement};
use tileos_sysdesc::{Server, SystemDescription};

/// One requirement of a manifest: kind, name, whether optional.
pub type Required = (Kind, String, bool);

/// The requirements in `elf`'s `.tileos.requires` section, or `Ok(None)` if it has none.
/// `elf` is a checked ELF64 (see [`crate::check_elf`]).
pub fn manifest(elf: &[u8]) -> Result<Option<Vec<Required>>, String> {
    let Some(bytes) = section(elf, manifest::SECTION)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    manifest::decode(bytes, |r: Requirement<'_>| out.push((r.kind, r.name.to_string(), r.optional)))
        .map_err(|e| format!("section {} unreadable: {e:?}", manifest::SECTION))?;
    Ok(Some(out))
}

/// The contents of the section named `name`, if the ELF has one.
fn section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| elf.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    let u64_at = |at: usize| elf.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let bad = || String::from("section headers unusable");
    let shoff = u64_at(0x28).ok_or_else(bad)? as usize;
    let (shentsize, shnum, shstrndx) = (
        usize::from(u16_at(0x3A).ok_or_else(bad)?),
        usize::from(u16_at(0x3C).ok_or_else(bad)?),
        usize::from(u16_at(0x3E).ok_or_else(bad)?),
    );
    if shoff == 0 || shnum == 0 {
        return Ok(None);
    }
    if shentsize != 64 || shstrndx >= shnum {
        return Err(bad());
    }
    let header = |index: usize| -> Result<(u32, usize, usize), String> {
        let at = shoff.checked_add(index * 64).ok_or_else(bad)?;
        let name = u32_at(at).ok_or_else(bad)?;
        let offset = u64_at(at + 24).ok_or_else(bad)? as usize;
        let size = u64_at(at + 32).ok_or_else(bad)? as usize;
        Ok((name, offset, size))
    };
    let contents = |offset: usize, size: usize| elf.get(offset..offset.checked_add(size)?);
    let (_, strings_at, strings_size) = header(shstrndx)?;
    let strings = contents(strings_at, strings_size).ok_or_else(bad)?;
    for index in 0..shnum {
        let (name_at, offset, size) = header(index)?;
        let Some(rest) = strings.get(name_at as usize..) else { continue };
        let this = rest.split(|&b| b == 0).next().unwrap_or(&[]);
        if this == name.as_bytes() {
            return contents(offset, size).map(Some).ok_or_else(bad);
        }
    }
    Ok(None)
}

/// Whether `description` grants domain `domain` the capability `kind` named `name` (as the
/// root server lists it on the information page).
pub fn grants(description: &SystemDescription, domain: usize, kind: Kind, name: &str) -> bool {
    let d = domain as u32;
    // A PCI device's capabilities are named after it: "NAME.pci", "NAME.barN", "NAME.msi"…
    let pci = |name: &str| {
        description
            .pci_devices
            .iter()
            .any(|p| p.domain == d && name.strip_prefix(p.name.as_str()).is_some_and(|rest| rest.starts_with('.')))
    };
    match kind {
        Kind::Cap(CapKind::ServedEndpoint) => description.endpoints.iter().any(|e| e.name == name && e.server == Server::Domain(d)),
        Kind::Cap(CapKind::ClientEndpoint) => {
            description.endpoints.iter().any(|e| e.name == name && e.clients.iter().any(|c| c.domain == d)) || pci(name)
        }
        Kind::Cap(CapKind::WaitNotification) => description.notifications.iter().any(|n| n.name == name && n.waiter == d),
        Kind::Cap(CapKind::SignalNotification) => {
            description.notifications.iter().any(|n| n.name == name && n.signallers.iter().any(|s| s.domain == d))
        }
        Kind::Cap(CapKind::IrqHandler) => description.irqs.iter().any(|i| i.domain == d && format!("irq{}", i.pin) == name) || pci(name),
        Kind::Cap(CapKind::IoPort) => description.io_ports.iter().any(|p| p.domain == d && format!("{:#x}", p.first) == name) || pci(name),
        Kind::Region => {
            description.shared_regions.iter().any(|r| r.name == name && r.mappings.iter().any(|m| m.domain == d))
                || description.device_memory.iter().any(|m| m.name == name && m.domain == d)
                || pci(name)
        }
    }
}

/// What to add to the description so that domain `domain` gets `kind` named `name`.
pub fn hint(domain: &str, kind: Kind, name: &str) -> String {
    match kind {
        Kind::Cap(CapKind::ServedEndpoint) => format!("an [[endpoint]] name = \"{name}\" with server = \"{domain}\""),
        Kind::Cap(CapKind::ClientEndpoint) => format!("a client {{ domain = \"{domain}\", badge = … }} of [[endpoint]] \"{name}\""),
        Kind::Cap(CapKind::WaitNotification) => format!("a [[notification]] name = \"{name}\" with waiter = \"{domain}\""),
        Kind::Cap(CapKind::SignalNotification) => {
            format!("a signaller {{ domain = \"{domain}\", bits = […] }} of [[notification]] \"{name}\"")
        }
        Kind::Cap(CapKind::IrqHandler) => format!("an [[irq]] with pin = {} and domain = \"{domain}\"", name.trim_start_matches("irq")),
        Kind::Cap(CapKind::IoPort) => format!("an [[ioport]] with first = {name} and domain = \"{domain}\""),
        Kind::Region => format!(
            "a mapping for \"{domain}\" in [[shared_region]] \"{name}\", or a [[device_memory]] name = \"{name}\" with domain = \"{domain}\""
        ),
    }
}
