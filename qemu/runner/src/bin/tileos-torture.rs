//! `tileos-torture [CYCLES] [SEED]`: the store's power-cut torture (`make torture`,
//! `tileos_qemu::torture`). Boots scenario `torture` on a fresh disk image CYCLES times
//! (default 10, seed default 1), killing QEMU at random moments, prints a line per cycle
//! and the result, and fails if any acknowledged durable write was lost, any durably
//! deleted one came back, or any value was read back wrong.

use std::process::ExitCode;
use std::time::Duration;
use tileos_qemu::Machine;
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::torture::{Config, run};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: u64| -> Result<u64, String> {
        arguments.get(index).map_or(Ok(default), |text| {
            text.parse().map_err(|_| format!("tileos-torture: {text:?} is not a number (usage: tileos-torture [CYCLES] [SEED])"))
        })
    };
    let (cycles, seed) = match (number(0, 10), number(1, 1)) {
        (Ok(cycles), Ok(seed)) => (cycles, seed),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let images = match test_images() {
        Ok(images) => images,
        Err(error) => {
            eprintln!("tileos-torture: {error}");
            return ExitCode::FAILURE;
        }
    };
    let disk = images.logs.join("torture-disk.img");
    let _ = std::fs::create_dir_all(&images.logs);
    let _ = std::fs::remove_file(&disk);
    let config = Config {
        cycles: u32::try_from(cycles).unwrap_or(u32::MAX),
        seed,
        disk,
        serial_log: images.logs.join("torture.log"),
        boot_timeout: Duration::from_secs(120),
    };
    eprintln!("tileos-torture: {cycles} cycles, seed {seed}, disk {}", config.disk.display());
    match run(&config, &Machine::default(), &images.tile_boot(scenario_archive("torture")), |line| eprintln!("{line}")) {
        Ok(report) => {
            print!("{report}");
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("tileos-torture: {error}");
            ExitCode::FAILURE
        }
    }
}
