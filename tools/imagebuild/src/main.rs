//! `tileos-imagebuild`: validates a `tile.toml` and writes the boot archive.
//!
//! ```text
//! tileos-imagebuild tile.toml -o archive.bin [--program NAME=PATH]... [--program-dir DIR]...
//! tileos-imagebuild tile.toml --check
//! ```
//!
//! Exit status 0 on success, 1 with `file:line: message` on standard error otherwise.

#![forbid(unsafe_code)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tileos_imagebuild::{Programs, build, compile};

/// Command line.
#[derive(Parser)]
#[command(version, about = "tile.toml + domain ELFs -> tileos boot archive")]
struct Cli {
    /// The system description.
    description: PathBuf,
    /// Where to write the archive (required unless --check).
    #[arg(short, long, required_unless_present = "check")]
    output: Option<PathBuf>,
    /// The ELF of program NAME is PATH (overrides the search).
    #[arg(long = "program", value_name = "NAME=PATH", value_parser = parse_program)]
    programs: Vec<(String, PathBuf)>,
    /// Search DIR/NAME for program NAME (default: the description's directory).
    #[arg(long = "program-dir", value_name = "DIR")]
    program_dirs: Vec<PathBuf>,
    /// Only validate the description (no programs, no output).
    #[arg(long)]
    check: bool,
}

/// Parses `NAME=PATH`.
fn parse_program(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH, got \"{s}\"")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check {
        let file = cli.description.display().to_string();
        let result = std::fs::read_to_string(&cli.description)
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
    let programs = Programs {
        overrides: cli.programs,
        dirs: cli.program_dirs,
    };
    let archive = match build(&cli.description, &programs) {
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
