//! `tileos-imagebuild`: validates a `tile.toml` and writes the boot archive.
//!
//! ```text
//! tileos-imagebuild tile.toml -o archive.bin [--program NAME=PATH]... [--program-dir DIR]... [--ram BYTES] [--sizes]
//! tileos-imagebuild tile.toml --check
//! tileos-imagebuild --packages [--extra-program NAME]... DESCRIPTION...
//! tileos-imagebuild tile.toml --gdb-script OUT --symbols KERNEL.elf [--symbols ROOTSERVER.elf]... [--program-dir DIR]...
//! ```
//!
//! `--gdb-script` writes the gdb script of `make debug` (docs/build.md, "Breakpoints per
//! domain") instead of an archive.
//!
//! `--ram` gives the tile's RAM (else the description's `[tile] ram`, if any): a description
//! whose domains do not fit is refused. `--sizes` prints every domain's footprint and the
//! total (docs/system-description.md, "Memory and limits").
//!
//! `--packages` prints, one per line, the cargo packages that hold the programs of the
//! descriptions (and the extra programs): what the Makefile builds.
//!
//! Exit status 0 on success, 1 with `file:line: message` on standard error otherwise.

#![forbid(unsafe_code)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tileos_imagebuild::packages::BareMetalBins;
use tileos_imagebuild::{Programs, build_sized, compile, gdb_script, packages, sizes};

/// Command line.
#[derive(Parser)]
#[command(version, about = "tile.toml + domain ELFs -> tileos boot archive")]
struct Cli {
    /// The system description (several only with --packages).
    #[arg(required = true, value_name = "DESCRIPTION")]
    descriptions: Vec<PathBuf>,
    /// Where to write the archive (required unless --check or --packages).
    #[arg(short, long, required_unless_present_any = ["check", "packages", "gdb_script"])]
    output: Option<PathBuf>,
    /// The ELF of program NAME is PATH (overrides the search).
    #[arg(long = "program", value_name = "NAME=PATH", value_parser = parse_program)]
    programs: Vec<(String, PathBuf)>,
    /// Search DIR/NAME for program NAME (default: the description's directory).
    #[arg(long = "program-dir", value_name = "DIR")]
    program_dirs: Vec<PathBuf>,
    /// Only validate the description (no programs, no output).
    #[arg(long, conflicts_with = "packages")]
    check: bool,
    /// Print the cargo packages holding the programs of the descriptions, one per line
    /// (packages that build-depend on tileos-build-support; run inside the workspace).
    #[arg(long, conflicts_with_all = ["output", "programs", "program_dirs"])]
    packages: bool,
    /// Write the gdb script of `make debug` to FILE: the --symbols files, then every
    /// program of the description (found as for the archive).
    #[arg(long = "gdb-script", value_name = "FILE", conflicts_with_all = ["output", "check", "packages"])]
    gdb_script: Option<PathBuf>,
    /// With --gdb-script: an ELF whose symbols come first (the kernel's `file`, then the
    /// root server's `add-symbol-file`).
    #[arg(long = "symbols", value_name = "ELF", requires = "gdb_script")]
    symbols: Vec<PathBuf>,
    /// The tile's RAM in bytes (decimal or 0x hex; overrides `[tile] ram`): refuse the
    /// description if its domains do not fit.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    ram: Option<u64>,
    /// Print every domain's footprint and the total (KiB).
    #[arg(long, conflicts_with_all = ["check", "packages", "gdb_script"])]
    sizes: bool,
    /// With --packages: also the package of binary NAME, which no description names.
    #[arg(long = "extra-program", value_name = "NAME", requires = "packages")]
    extra_programs: Vec<String>,
}

/// Parses `NAME=PATH`.
fn parse_program(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok((name.to_string(), PathBuf::from(path))),
        _ => Err(format!("expected NAME=PATH, got \"{s}\"")),
    }
}

/// Parses a byte count: decimal or `0x` hexadecimal, `_` allowed.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let digits = s.replace('_', "");
    let parsed = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    parsed.ok().filter(|&n| n > 0).ok_or_else(|| format!("expected a positive number of bytes, got \"{s}\""))
}

/// `--packages`: the packages of the descriptions' programs, one per line.
fn print_packages(cli: &Cli) -> ExitCode {
    let result = BareMetalBins::of_workspace(std::path::Path::new("."))
        .and_then(|bins| packages(&cli.descriptions, &cli.extra_programs, &bins).map_err(|e| e.to_string()));
    match result {
        Ok(found) => {
            for package in found {
                println!("{package}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.packages {
        return print_packages(&cli);
    }
    let [description] = &cli.descriptions[..] else {
        eprintln!("one description at a time (several only with --packages)");
        return ExitCode::FAILURE;
    };
    if cli.check {
        let file = description.display().to_string();
        let result = std::fs::read_to_string(description)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| compile(&file, &text).map_err(|d| d.to_string()));
        return match result {
            Ok(c) => {
                println!(
                    "{file}: ok: tile \"{}\", {} domains, {} programs",
                    c.description.name,
                    c.description.domains.len(),
                    c.programs.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let programs = Programs { overrides: cli.programs, dirs: cli.program_dirs };
    if let Some(out) = &cli.gdb_script {
        let written = gdb_script(description, &programs, &cli.symbols)
            .map_err(|e| e.to_string())
            .and_then(|script| std::fs::write(out, script).map_err(|e| format!("{}: {e}", out.display())));
        return match written {
            Ok(()) => {
                println!("{}: gdb script", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let checked = build_sized(description, &programs).and_then(|(archive, sized)| {
        if cli.sizes {
            print!("{}", sizes::table(&sized.rows, sized.available(cli.ram, archive.len() as u64)));
            println!("RAM needed: {} MiB", sized.ram_needed(archive.len() as u64) >> 20);
        }
        sized.check(&description.display().to_string(), cli.ram, archive.len() as u64).map(|()| archive)
    });
    let archive = match checked {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // clap guarantees an output path when --check is absent.
    let Some(output) = cli.output else {
        return ExitCode::FAILURE;
    };
    if let Err(e) = std::fs::write(&output, &archive) {
        eprintln!("{}: {e}", output.display());
        return ExitCode::FAILURE;
    }
    println!("{}: {} bytes", output.display(), archive.len());
    ExitCode::SUCCESS
}
