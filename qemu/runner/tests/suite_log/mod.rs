//! Shared by the boot tests that run the in-guest kernel suite (`kernel_suite`, `kpti`): one
//! QEMU run of the suite, reported as one cargo test per `ktest <name> ... ok|FAILED: …` line
//! of its serial log, plus one for the run as a whole (so a crash or hang before the summary
//! fails visibly).

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::images::test_images;
use tileos_qemu::{Boot, BootModule, Ended, Machine, run};

/// What one run of the suite boots, and what its log must show besides the suite's lines.
pub struct SuiteRun<'a> {
    /// The kernel (`None`: the test kernel).
    pub kernel: Option<&'a Path>,
    /// The machine (`Machine::default()`: one CPU).
    pub machine: Machine,
    /// The root server's command line.
    pub rootserver_cmdline: &'a str,
    /// The serial log's file name in the test images' log directory.
    pub log_name: &'a str,
    /// The run's own trial.
    pub run_name: &'static str,
    /// Further trials: (name, a line the serial log must hold).
    pub required_lines: &'a [(&'static str, &'static str)],
}

/// Boots the suite as `suite` says and runs the trials.
pub fn run_suite(suite: SuiteRun) -> ! {
    let SuiteRun { kernel, machine, rootserver_cmdline, log_name, run_name, required_lines } = suite;
    let arguments = Arguments::from_args();
    let images = match test_images() {
        Ok(images) => images,
        Err(error) => {
            let trial = Trial::test(run_name, move || Err(Failed::from(error.clone())));
            libtest_mimic::run(&arguments, vec![trial]).exit();
        }
    };
    let boot = Boot::Kernel {
        kernel: kernel.map_or_else(|| images.kernel.clone(), Path::to_path_buf),
        cmdline: String::new(),
        modules: vec![BootModule { path: images.rootserver.clone(), cmdline: rootserver_cmdline.into() }],
    };
    let log = images.logs.join(log_name);
    let outcome = run(&machine, &boot, &log, Duration::from_secs(300));
    let mut trials = Vec::new();
    match outcome {
        Err(error) => {
            let message = error.to_string();
            trials.push(Trial::test(run_name, move || Err(Failed::from(message))));
        }
        Ok(outcome) => {
            for line in outcome.serial.lines() {
                let Some(rest) = line.strip_prefix("ktest ") else { continue };
                let Some((name, result)) = rest.split_once(" ... ") else { continue };
                let (name, result) = (name.to_string(), result.to_string());
                trials.push(Trial::test(format!("ktest::{name}"), move || if result == "ok" { Ok(()) } else { Err(Failed::from(result)) }));
            }
            for &(name, required) in required_lines {
                let found = outcome.serial.lines().any(|line| line == required);
                trials.push(Trial::test(name, move || {
                    if found { Ok(()) } else { Err(Failed::from(format!("no line \"{required}\" in the log"))) }
                }));
            }
            let summary = outcome.serial.lines().any(|line| line.starts_with("ktest summary:"));
            let verdict_ok = outcome.ended == Ended::Verdict(GuestVerdict::Pass);
            let detail = format!("{}; last serial lines:\n{}", outcome.ended, outcome.tail(30));
            trials.push(Trial::test(run_name, move || if summary && verdict_ok { Ok(()) } else { Err(Failed::from(detail)) }));
        }
    }
    libtest_mimic::run(&arguments, trials).exit();
}
