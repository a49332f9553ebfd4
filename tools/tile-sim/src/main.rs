//! `tileos-tile-sim`: serve a scenario to QEMU's COM2, print a scenario's trace, or its
//! ground truth (docs/sensors.md, "Running the simulator").

use clap::{Parser, Subcommand};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tileos_sensor_wire::chips::Chip;
use tileos_tile_sim::link::{Mode, Sim, serve};
use tileos_tile_sim::model::Model;
use tileos_tile_sim::scenario;

#[derive(Parser)]
#[command(about = "The tile simulator: the sensor chips QEMU's COM2 talks to (docs/sensors.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen on a TCP address; QEMU connects COM2 to it
    /// (`-chardev socket,id=sensors,host=…,port=…,reconnect=1 -device isa-serial,chardev=sensors,index=1`).
    Serve {
        /// The scenario file.
        scenario: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: String,
        /// Simulated seconds per wall-clock second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Corrupt every N-th answer (1: all).
        #[arg(long)]
        garble: Option<u32>,
    },
    /// Print the model's truth and every chip's channels as CSV, every `every_s` simulated
    /// seconds until `until_s`.
    Trace {
        /// The scenario file.
        scenario: PathBuf,
        /// End, simulated seconds.
        #[arg(long, default_value_t = 600.0)]
        until_s: f64,
        /// Interval, simulated seconds.
        #[arg(long, default_value_t = 60.0)]
        every_s: f64,
    },
    /// Print the scenario's ground truth: each fault, when it begins and when it would fail.
    Truth {
        /// The scenario file.
        scenario: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli.command) {
        eprintln!("tileos-tile-sim: {error}");
        std::process::exit(1);
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { scenario, listen, speed, garble } => {
            let scenario = scenario::load(&scenario).map_err(|e| e.to_string())?;
            if speed <= 0.0 || !speed.is_finite() {
                return Err(format!("--speed {speed}: must be a positive number"));
            }
            let mode = match garble {
                Some(0) => return Err("--garble 0: must be at least 1".into()),
                Some(every) => Mode::Garble { every },
                None => Mode::Healthy,
            };
            let listener = TcpListener::bind(&listen).map_err(|e| format!("listen on {listen}: {e}"))?;
            eprintln!("tileos-tile-sim: scenario {:?} on {listen} at {speed}x ({mode:?})", scenario.name);
            serve(listener, Arc::new(Mutex::new(Sim::new(Model::new(scenario), mode))), speed);
            Ok(())
        }
        Command::Trace { scenario, until_s, every_s } => {
            let scenario = scenario::load(&scenario).map_err(|e| e.to_string())?;
            if every_s <= 0.0 {
                return Err(format!("--every-s {every_s}: must be positive"));
            }
            let mut model = Model::new(scenario);
            println!(
                "time_s,load,wear,temperature_c,power_w,flow_ml_min,pressure_pa,temp_mc,power_mw,flow,pressure,vib_rms_ug,vib_kurtosis_x1000,vib_band_ug,present,distance_mm"
            );
            let mut t = 0.0;
            while t <= until_s {
                model.advance_to((t * 1000.0) as u64);
                let truth = model.truth();
                let channels: Vec<String> = Chip::ALL.iter().flat_map(|&chip| model.measure(chip)).map(|v| v.to_string()).collect();
                println!(
                    "{:.1},{:.2},{:.4},{:.3},{:.2},{:.1},{:.0},{}",
                    truth.time_s,
                    truth.load,
                    truth.wear,
                    truth.temperature_c,
                    truth.power_w,
                    truth.flow_ml_min,
                    truth.pressure_pa,
                    channels.join(",")
                );
                t += every_s;
            }
            Ok(())
        }
        Command::Truth { scenario } => {
            let scenario = scenario::load(&scenario).map_err(|e| e.to_string())?;
            println!("scenario {} seed {}", scenario.name, scenario.seed);
            if scenario.faults.is_empty() {
                println!("no faults");
            }
            for fault in &scenario.faults {
                println!("fault {} begins_s={} fails_s={}", fault.kind.name(), fault.begins_s, fault.fails_s);
            }
            Ok(())
        }
    }
}
