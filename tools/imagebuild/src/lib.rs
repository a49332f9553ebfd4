//! The tileos image builder: `tile.toml` + domain ELFs → boot archive.
//!
//! [`compile`] reads the human-written description (see `docs/system-description.md`),
//! validates it — the TOML front end checks fields, types, ranges and name references, then
//! [`tileos_sysdesc::SystemDescription::check`] checks every cross-item rule — and reports the
//! first problem as a [`Diagnostic`] naming file, line, item and field:
//! `tile.toml:12: domain "net": field "priority": 300 is out of range 0..=255`.
//! [`build`] then finds each program's ELF ([`Programs`]), checks it is an x86_64 ELF64
//! executable, and writes the [boot archive](tileos_sysdesc::archive): entry 0 the encoded
//! description, then one entry per program.

#![forbid(unsafe_code)]

pub mod front;

use std::fmt;
use std::path::{Path, PathBuf};
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
}

/// Parses and validates the text of a description; `file` is the name used in messages.
/// Never panics, whatever the text.
pub fn compile(file: &str, text: &str) -> Result<Compiled, Diagnostic> {
    let parsed = front::parse(file, text)?;
    if let Err(e) = parsed.description.check(parsed.programs.len() + 1) {
        return Err(Diagnostic {
            file: file.to_string(),
            line: parsed.line_of(e.item, e.field),
            message: e.message,
        });
    }
    Ok(Compiled {
        description: parsed.description,
        programs: parsed.programs,
    })
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
/// the boot archive. Messages name the file as `path` displays.
pub fn build(path: &Path, programs: &Programs) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let file = path.display().to_string();
    let compiled = compile(&file, &text).map_err(Error::Description)?;
    for (name, _) in &programs.overrides {
        if !compiled.programs.iter().any(|p| &p.name == name) {
            return Err(Error::UnusedProgram(name.clone()));
        }
    }
    let default_dir = [path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)];
    let dirs = if programs.dirs.is_empty() {
        &default_dir[..]
    } else {
        &programs.dirs[..]
    };
    let mut elfs = Vec::new();
    for program in &compiled.programs {
        let at = |message: String| {
            Error::Description(Diagnostic {
                file: file.clone(),
                line: program.line,
                message: format!(
                    "domain \"{}\": field \"program\": {message}",
                    program.domain
                ),
            })
        };
        let candidates: Vec<PathBuf> =
            match programs.overrides.iter().find(|(n, _)| *n == program.name) {
                Some((_, p)) => vec![p.clone()],
                None => dirs.iter().map(|d| d.join(&program.name)).collect(),
            };
        let Some(found) = candidates.iter().find(|p| p.is_file()) else {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(at(format!(
                "no ELF for program \"{}\" (tried {}; give --program {}=PATH)",
                program.name,
                tried.join(", "),
                program.name
            )));
        };
        let bytes = std::fs::read(found).map_err(|error| Error::Read {
            path: found.clone(),
            error,
        })?;
        if let Err(why) = check_elf(&bytes) {
            return Err(at(format!(
                "{} is not an x86_64 ELF64 executable: {why}",
                found.display()
            )));
        }
        elfs.push(bytes);
    }
    let encoded = compiled.description.encode();
    let mut entries: Vec<(&str, &[u8])> = vec![(DESCRIPTION_ENTRY, &encoded)];
    entries.extend(
        compiled
            .programs
            .iter()
            .zip(&elfs)
            .map(|(p, e)| (p.name.as_str(), e.as_slice())),
    );
    archive::build(&entries).map_err(Error::Archive)
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
