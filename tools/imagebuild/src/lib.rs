//! The tileos image builder: `tile.toml` + domain ELFs → boot archive.
//!
//! [`compile`] reads the human-written description (see `docs/system-description.md`),
//! validates it — the TOML front end checks fields, types, ranges and name references, then
//! [`tileos_sysdesc::SystemDescription::check`] checks every cross-item rule — and reports the
//! first problem as a [`Diagnostic`] naming file, line, item and field:
//! `tile.toml:12: domain "net": field "priority": 300 is out of range 0..=255`.
//! [`build`] then finds each program's ELF ([`Programs`]), checks it is an x86_64 ELF64
//! executable, and writes the [boot archive](tileos_sysdesc::archive): entry 0 the encoded
//! description, then one entry per program. [`packages()`] says which cargo packages hold the
//! programs of a set of descriptions, so that the Makefile builds exactly those.

#![forbid(unsafe_code)]

pub mod expand;
pub mod front;
pub mod packages;
pub mod requires;
pub mod sizes;

use packages::{BUILD_SUPPORT, BareMetalBins};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::manifest::Kind;
use tileos_sysdesc::SystemDescription;
use tileos_sysdesc::archive::{self, DESCRIPTION_ENTRY};

/// A problem in a description, with its place: `file:line: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong, naming the item and field.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Why [`build`] failed.
#[derive(Debug)]
pub enum Error {
    /// The description (or a program it names) is wrong.
    Description(Diagnostic),
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A `--program` override names a program no domain uses.
    UnusedProgram(String),
    /// The archive could not be written (too many entries).
    Archive(archive::ArchiveError),
    /// No package with bare-metal binaries has a binary of this name (`--packages`).
    NoPackage(String),
    /// The domains do not fit in the tile's RAM, or there are more than the kernel's address
    /// spaces or the root server's heap hold (the message says by how much and who).
    TooLarge {
        /// The description.
        file: String,
        /// Total, RAM left for domains, largest consumers.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Description(d) => d.fmt(f),
            Error::Read { path, error } => write!(f, "{}: {error}", path.display()),
            Error::UnusedProgram(name) => {
                write!(f, "--program {name}=…: no domain uses program \"{name}\"")
            }
            Error::Archive(e) => write!(f, "boot archive: {e}"),
            Error::NoPackage(name) => write!(f, "{}", no_package(name)),
            Error::TooLarge { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// A validated description and the programs it needs, in archive order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// The description (domains' `program` are archive entry indices).
    pub description: SystemDescription,
    /// The programs: archive entries 1, 2, …
    pub programs: Vec<front::ProgramRef>,
    /// The line of each domain's `program` field (index: domain).
    pub program_lines: Vec<usize>,
    /// The line of each slot's `n_version` `fallback` field (index: slot; the slot's line if
    /// it has none).
    pub fallback_lines: Vec<usize>,
    /// The tile's RAM in bytes (`[tile] ram`), if the description states it.
    pub ram: Option<u64>,
}

/// Parses and validates the text of a description; `file` is the name used in messages.
/// Never panics, whatever the text.
pub fn compile(file: &str, text: &str) -> Result<Compiled, Diagnostic> {
    let parsed = front::parse(file, text)?;
    if let Err(e) = parsed.description.check(parsed.programs.len() + 1) {
        let mut message = e.message;
        if let Some(earlier) = e.earlier {
            // A name declared twice: say where the first declaration is, too.
            message.push_str(&format!(" (first declared at {file}:{})", parsed.line_of(earlier, e.field)));
        }
        return Err(Diagnostic { file: file.to_string(), line: parsed.line_of(e.item, e.field), message });
    }
    let program_lines =
        (0..parsed.description.domains.len()).map(|index| parsed.line_of(tileos_sysdesc::Item::Domain(index), "program")).collect();
    let fallback_lines =
        (0..parsed.description.slots.len()).map(|index| parsed.line_of(tileos_sysdesc::Item::Slot(index), "fallback")).collect();
    Ok(Compiled { program_lines, fallback_lines, ram: parsed.ram, description: parsed.description, programs: parsed.programs })
}

/// Where program ELFs are found.
///
/// A domain's `program = "NAME"` is looked up first in `overrides` (`--program NAME=PATH`),
/// then as the file `DIR/NAME` in each of `dirs` in order (`--program-dir DIR`); with no
/// `dirs`, the directory of the description is searched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Programs {
    /// Explicit paths by program name.
    pub overrides: Vec<(String, PathBuf)>,
    /// Directories to search.
    pub dirs: Vec<PathBuf>,
}

/// Reads the description at `path`, validates it, finds and checks every program, and returns
/// the boot archive. Messages name the file as `path` displays. A description that states the
/// tile's RAM (`[tile] ram`) is refused if its domains do not fit ([`build_for`]).
pub fn build(path: &Path, programs: &Programs) -> Result<Vec<u8>, Error> {
    build_for(path, programs, None)
}

/// [`build`] for a tile with `ram` bytes of RAM (the machine's, e.g. `--ram`; `None`: the
/// description's `[tile] ram`, if any): refuses the description, naming the total, the RAM
/// left for domains and the largest consumers, when its domains' footprints do not fit
/// (`sizes`).
pub fn build_for(path: &Path, programs: &Programs, ram: Option<u64>) -> Result<Vec<u8>, Error> {
    let (archive, sized) = build_sized(path, programs)?;
    sized.check(&path.display().to_string(), ram, archive.len() as u64)?;
    Ok(archive)
}

/// A built archive's description, RAM statement and size rows.
pub struct Sized {
    /// The description.
    pub description: SystemDescription,
    /// `[tile] ram`.
    pub ram: Option<u64>,
    /// Every domain's footprint.
    pub rows: Vec<sizes::Row>,
    /// RAM the root server takes before any domain ([`sizes::rootserver_bytes`] of the
    /// [`sizes::ROOTSERVER_PROGRAM`] found among the programs, else
    /// [`sizes::ROOTSERVER_ASSUMED`]).
    pub rootserver: u64,
}

impl Sized {
    /// The RAM left for domains on a tile with `ram` bytes (else the description's `[tile]
    /// ram`) booting an archive of `archive` bytes; `None` if neither states the RAM.
    pub fn available(&self, ram: Option<u64>, archive: u64) -> Option<u64> {
        ram.or(self.ram).map(|ram| sizes::available(ram, archive, self.rootserver, &self.description))
    }

    /// The RAM (whole MiB) a tile needs to boot it with an archive of `archive` bytes.
    pub fn ram_needed(&self, archive: u64) -> u64 {
        sizes::needed(&self.rows, archive, self.rootserver, &self.description)
    }

    /// Refuses the description of `file` if it has more domains than the kernel's address
    /// spaces or the root server's heap hold, or if its domains do not fit in the RAM (not
    /// checked when the RAM is not known).
    pub fn check(&self, file: &str, ram: Option<u64>, archive: u64) -> Result<(), Error> {
        sizes::check_limits(&self.rows).map_err(|message| Error::TooLarge { file: file.to_string(), message })?;
        let (Some(ram), Some(available)) = (ram.or(self.ram), self.available(ram, archive)) else { return Ok(()) };
        sizes::check_fit(&self.rows, ram, available).map_err(|message| Error::TooLarge { file: file.to_string(), message })
    }
}

/// [`build`] without the RAM check, with the size rows (`--sizes`).
pub fn build_sized(path: &Path, programs: &Programs) -> Result<(Vec<u8>, Sized), Error> {
    let (file, compiled) = read(path)?;
    for (name, _) in &programs.overrides {
        if !compiled.programs.iter().any(|p| &p.name == name) {
            return Err(Error::UnusedProgram(name.clone()));
        }
    }
    let mut elfs = Vec::new();
    for (program, found) in compiled.programs.iter().zip(program_files(path, &file, &compiled, programs)?) {
        let at = |message: String| {
            Error::Description(Diagnostic { file: file.clone(), line: program.line, message: format!("{}: {message}", program.site()) })
        };
        let found = &found;
        let bytes = std::fs::read(found).map_err(|error| Error::Read { path: found.clone(), error })?;
        if let Err(why) = check_elf(&bytes) {
            return Err(at(format!("{} is not an x86_64 ELF64 executable: {why}", found.display())));
        }
        check_requirements(&file, &compiled, elfs.len(), program, found, &bytes)?;
        let loadable = loadable_only(&bytes).map_err(|why| at(format!("{}: program headers unusable: {why}", found.display())))?;
        elfs.push(loadable);
    }
    let encoded = compiled.description.encode();
    let mut entries: Vec<(&str, &[u8])> = vec![(DESCRIPTION_ENTRY, &encoded)];
    entries.extend(compiled.programs.iter().zip(&elfs).map(|(p, e)| (p.name.as_str(), e.as_slice())));
    let archive = archive::build(&entries).map_err(Error::Archive)?;
    let names: Vec<&str> = compiled.programs.iter().map(|p| p.name.as_str()).collect();
    let rows = sizes::rows(&compiled.description, &names, &elfs);
    let rootserver = program_dirs(path, programs)
        .iter()
        .find_map(|dir| std::fs::read(dir.join(sizes::ROOTSERVER_PROGRAM)).ok())
        .map_or(sizes::ROOTSERVER_ASSUMED, |elf| sizes::rootserver_bytes(&elf));
    Ok((archive, Sized { description: compiled.description, ram: compiled.ram, rows, rootserver }))
}

/// The directories programs are searched in: `programs.dirs`, else the description's own.
fn program_dirs(path: &Path, programs: &Programs) -> Vec<PathBuf> {
    if programs.dirs.is_empty() { vec![path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)] } else { programs.dirs.clone() }
}

/// Checks that every domain running program `index` (archive entry `index + 1`) is granted
/// each capability the program's manifest requires (`requires`): the domains that start it
/// at boot, and the seats beyond 0 of an N-version slot whose fallback it is (the manager
/// starts the fallback at run time in whichever seat is spare; seat 0, the incumbent's
/// domain, holds everything the other seats hold: the allowance is within its capabilities).
fn check_requirements(
    file: &str,
    compiled: &Compiled,
    index: usize,
    program: &front::ProgramRef,
    path: &Path,
    elf: &[u8],
) -> Result<(), Error> {
    let at = |site: &str, line: usize, message: String| {
        Error::Description(Diagnostic { file: file.to_string(), line, message: format!("{site}: {message}") })
    };
    let requirements = requires::manifest(elf).map_err(|why| at(&program.site(), program.line, format!("{}: {why}", path.display())))?;
    let Some(requirements) = requirements else {
        return Ok(());
    };
    let description = &compiled.description;
    let program_number = index as u32 + 1;
    for (d, domain) in description.domains.iter().enumerate() {
        let at_boot = domain.program == program_number && description.starts_at_boot(d as u32);
        let fallback_of = description
            .slots
            .iter()
            .enumerate()
            .find(|(_, slot)| slot.seat_of(d as u32).is_some_and(|seat| seat > 0))
            .filter(|(_, slot)| slot.n_version.is_some_and(|lineages| lineages.fallback == program_number));
        if !at_boot && fallback_of.is_none() {
            continue;
        }
        for (kind, name, optional) in &requirements {
            // What the domain's information page calls `name` is the description's
            // `global` (the domain's `names` may rename it).
            let global = domain.description_name(name);
            if *optional || requires::grants(description, d, *kind, global) {
                continue;
            }
            if let (false, Some((slot_index, slot))) = (at_boot, fallback_of) {
                return Err(at(
                    &format!("slot \"{}\": n_version: field \"fallback\"", slot.name),
                    compiled.fallback_lines.get(slot_index).copied().unwrap_or(program.line),
                    format!(
                        "program \"{}\" requires the {} \"{name}\", which seat \"{}\" (where the manager may start the fallback) does not hold: a seat holds the slot's allowance and its client capability \"slot\" (add \"{global}\" to the allowance if the incumbent holds it, or choose a fallback that needs only those)",
                        program.name,
                        kind.describe(),
                        domain.name,
                    ),
                ));
            }
            return Err(at(
                &format!("domain \"{}\": field \"program\"", domain.name),
                compiled.program_lines.get(d).copied().unwrap_or(program.line),
                format!(
                    "program \"{}\" requires the {} \"{name}\"{}, which this description does not grant to \"{}\" (add {}{})",
                    program.name,
                    kind.describe(),
                    if global == name { String::new() } else { format!(" (named \"{global}\" here by \"names\")") },
                    domain.name,
                    requires::hint(&domain.name, *kind, global),
                    if global == name
                        && matches!(
                            kind,
                            Kind::Cap(
                                CapKind::ServedEndpoint | CapKind::ClientEndpoint | CapKind::WaitNotification | CapKind::SignalNotification
                            ) | Kind::Region
                        )
                    {
                        format!(
                            ", or give the domain names = {{ {name} = \"NAME\" }} to use another item of the description as its \"{name}\""
                        )
                    } else {
                        String::new()
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// The ELF file of each of `compiled`'s programs (in archive order), looked up as
/// [`Programs`] says; `path` is the description, named `file` in messages.
fn program_files(path: &Path, file: &str, compiled: &Compiled, programs: &Programs) -> Result<Vec<PathBuf>, Error> {
    let dirs = program_dirs(path, programs);
    let mut files = Vec::new();
    for program in &compiled.programs {
        let candidates: Vec<PathBuf> = match programs.overrides.iter().find(|(n, _)| *n == program.name) {
            Some((_, p)) => vec![p.clone()],
            None => dirs.iter().map(|d| d.join(&program.name)).collect(),
        };
        let Some(found) = candidates.iter().find(|p| p.is_file()) else {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(Error::Description(Diagnostic {
                file: file.to_string(),
                line: program.line,
                message: format!(
                    "{}: no ELF for program \"{}\" (tried {}; give --program {}=PATH)",
                    program.site(),
                    program.name,
                    tried.join(", "),
                    program.name
                ),
            }));
        };
        files.push(found.clone());
    }
    Ok(files)
}

/// The gdb script of `make debug` for the description at `path`: the architecture, `file`
/// for the first of `symbols` (the kernel) and `add-symbol-file` for the others (the root
/// server) and for every program of the description, found as [`build`] finds them, each
/// after a comment with its entry address (its link base, docs/build.md "Link addresses"),
/// then `target remote localhost:1234`.
pub fn gdb_script(path: &Path, programs: &Programs, symbols: &[PathBuf]) -> Result<String, Error> {
    let (file, compiled) = read(path)?;
    let mut script = String::from("set architecture i386:x86-64\n");
    for (index, symbol) in symbols.iter().enumerate() {
        let command = if index == 0 { "file" } else { "add-symbol-file" };
        script.push_str(&format!("{command} {}\n", symbol.display()));
    }
    let files = program_files(path, &file, &compiled, programs)?;
    for (program, found) in compiled.programs.iter().zip(&files) {
        let bytes = std::fs::read(found).map_err(|error| Error::Read { path: found.clone(), error })?;
        let entry = bytes.get(24..32).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        script.push_str(&format!("# program \"{}\" (first used by {}): entry {entry:#x}\n", program.name, program.user));
        script.push_str(&format!("add-symbol-file {}\n", found.display()));
    }
    script.push_str("target remote localhost:1234\n");
    Ok(script)
}

/// Reads and validates the description at `path`; returns the name messages use for it (as
/// `path` displays) and the result.
fn read(path: &Path) -> Result<(String, Compiled), Error> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::Read { path: path.to_path_buf(), error })?;
    let file = path.display().to_string();
    let compiled = compile(&file, &text).map_err(Error::Description)?;
    Ok((file, compiled))
}

/// The cargo packages to build for the descriptions at `paths` plus the binaries `extra`
/// (programs no description names, such as the root server), in name order. Each
/// description is validated as [`build`] does; a program no package of `bins` holds is an
/// error naming the domain and line that use it.
pub fn packages(paths: &[PathBuf], extra: &[String], bins: &BareMetalBins) -> Result<BTreeSet<String>, Error> {
    let mut found = BTreeSet::new();
    for path in paths {
        let (file, compiled) = read(path)?;
        for program in &compiled.programs {
            let package = bins.package_of(&program.name).ok_or_else(|| {
                Error::Description(Diagnostic {
                    file: file.clone(),
                    line: program.line,
                    message: format!("{}: {}", program.site(), no_package(&program.name)),
                })
            })?;
            found.insert(package.to_string());
        }
    }
    for name in extra {
        let package = bins.package_of(name).ok_or_else(|| Error::NoPackage(name.clone()))?;
        found.insert(package.to_string());
    }
    Ok(found)
}

/// Why program `name` has no package.
fn no_package(name: &str) -> String {
    format!("no workspace package with bare-metal binaries (a build dependency on {BUILD_SUPPORT}) has a binary \"{name}\"")
}

/// ELF program header type of a loadable segment.
const PT_LOAD: u32 = 1;
/// ELF program header type saying whether the stack is executable.
const PT_GNU_STACK: u32 = 0x6474_E551;
/// Bytes of an ELF64 header and of one ELF64 program header.
const EHDR_BYTES: usize = 64;
const PHDR_BYTES: usize = 56;

/// `bytes` (a checked ELF64 executable) reduced to what the root server loads: the header,
/// the `PT_LOAD` and `PT_GNU_STACK` program headers and the loadable segments' file data
/// (each at a file offset congruent to its address modulo 4 KiB, as ELF requires). Section
/// headers, symbols and debug information are dropped — they stay in the build directory
/// for `make debug` — so a tile image holds each program's code and data only.
pub fn loadable_only(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |at: usize| bytes.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let phoff = u64_at(0x20).ok_or("truncated header")? as usize;
    let (phentsize, phnum) = (u16_at(0x36).ok_or("truncated header")?, u16_at(0x38).ok_or("truncated header")?);
    if phnum > 0 && usize::from(phentsize) != PHDR_BYTES {
        return Err("program header size is not 56");
    }
    let mut kept: Vec<[u8; PHDR_BYTES]> = Vec::new();
    for index in 0..usize::from(phnum) {
        let start = phoff.checked_add(index * PHDR_BYTES).ok_or("program header offset overflows")?;
        let header: [u8; PHDR_BYTES] =
            bytes.get(start..start + PHDR_BYTES).ok_or("program header beyond the end of the file")?.try_into().expect("56 bytes");
        let kind = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        if kind == PT_LOAD || kind == PT_GNU_STACK {
            kept.push(header);
        }
    }
    let mut out = bytes[..EHDR_BYTES].to_vec();
    out[0x20..0x28].copy_from_slice(&(EHDR_BYTES as u64).to_le_bytes());
    out[0x28..0x30].copy_from_slice(&0u64.to_le_bytes());
    out[0x38..0x3A].copy_from_slice(&(kept.len() as u16).to_le_bytes());
    out[0x3A..0x40].copy_from_slice(&[0; 6]);
    let headers_at = out.len();
    out.resize(headers_at + kept.len() * PHDR_BYTES, 0);
    for (index, header) in kept.iter_mut().enumerate() {
        let field = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let (offset, vaddr, file_size) = (field(8) as usize, field(16), field(32) as usize);
        let data = if file_size == 0 {
            &[][..]
        } else {
            bytes.get(offset..offset.checked_add(file_size).ok_or("segment size overflows")?).ok_or("segment beyond the end of the file")?
        };
        let mut new_offset = out.len() - out.len() % 4096 + (vaddr % 4096) as usize;
        if new_offset < out.len() {
            new_offset += 4096;
        }
        if file_size == 0 {
            new_offset = 0;
        } else {
            out.resize(new_offset, 0);
            out.extend_from_slice(data);
        }
        header[8..16].copy_from_slice(&(new_offset as u64).to_le_bytes());
        out[headers_at + index * PHDR_BYTES..headers_at + (index + 1) * PHDR_BYTES].copy_from_slice(header);
    }
    Ok(out)
}

/// Checks the ELF header: 64-bit, little-endian, executable, x86_64.
pub fn check_elf(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.len() < 64 {
        return Err("shorter than an ELF64 header");
    }
    if bytes[..4] != *b"\x7fELF" {
        return Err("bad magic");
    }
    if bytes[4] != 2 {
        return Err("not 64-bit");
    }
    if bytes[5] != 1 {
        return Err("not little-endian");
    }
    if u16::from_le_bytes([bytes[16], bytes[17]]) != 2 {
        return Err("not an executable (ET_EXEC)");
    }
    if u16::from_le_bytes([bytes[18], bytes[19]]) != 62 {
        return Err("not x86_64");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn a_duplicate_name_names_both_declarations() {
        let text = "[tile]\nname = \"t\"\n\n[[domain]]\nname = \"a\"\nprogram = \"p\"\npriority = 1\n\n[[domain]]\nname = \"b\"\nprogram = \"p\"\npriority = 1\n\n[[domain]]\nname = \"a\"\nprogram = \"p\"\npriority = 1\n";
        let error = compile("dup.toml", text).expect_err("a name declared twice is rejected");
        assert_eq!(error.line, 15);
        assert_eq!(error.to_string(), "dup.toml:15: domain \"a\": field \"name\": \"a\" is declared twice (first declared at dup.toml:5)");
    }

    #[test]
    fn a_duplicate_endpoint_names_its_first_declaration() {
        let text = "[tile]\nname = \"t\"\n\n[[domain]]\nname = \"s\"\nprogram = \"p\"\npriority = 1\n\n[[domain]]\nname = \"c\"\nprogram = \"p\"\npriority = 1\n\n[[endpoint]]\nname = \"e\"\nserver = \"s\"\nclients = [{ domain = \"c\", badge = 1 }]\n\n[[endpoint]]\nname = \"e\"\nserver = \"s\"\nclients = [{ domain = \"c\", badge = 2 }]\n";
        let error = compile("dup.toml", text).expect_err("an endpoint declared twice is rejected");
        assert_eq!(
            error.to_string(),
            "dup.toml:20: endpoint \"e\": field \"name\": \"e\" is declared twice (first declared at dup.toml:15)"
        );
    }
}
