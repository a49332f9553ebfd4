//! The in-guest kernel test suite as cargo tests: boots the test kernel with the root
//! server in kernel-test mode once, then reports every `ktest <name> ... ok|FAILED: …`
//! line of the serial log as a test of its own (plus one test for the run as a whole, so a
//! crash or hang before the summary fails visibly).

use libtest_mimic::{Arguments, Failed, Trial};
use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::images::test_images;
use tileos_qemu::{Boot, BootModule, Ended, Machine, run};

fn main() {
    let arguments = Arguments::from_args();
    let images = match test_images() {
        Ok(images) => images,
        Err(error) => {
            let trial = Trial::test("kernel_suite_run", move || Err(Failed::from(error.clone())));
            libtest_mimic::run(&arguments, vec![trial]).exit();
        }
    };
    let boot = Boot::Kernel {
        kernel: images.kernel.clone(),
        cmdline: String::new(),
        modules: vec![BootModule { path: images.rootserver.clone(), cmdline: "rootserver test=kernel".into() }],
    };
    let log = images.logs.join("kernel-suite.log");
    let outcome = run(&Machine::default(), &boot, &log, Duration::from_secs(300));
    let mut trials = Vec::new();
    match outcome {
        Err(error) => {
            let message = error.to_string();
            trials.push(Trial::test("kernel_suite_run", move || Err(Failed::from(message))));
        }
        Ok(outcome) => {
            for line in outcome.serial.lines() {
                let Some(rest) = line.strip_prefix("ktest ") else { continue };
                let Some((name, result)) = rest.split_once(" ... ") else { continue };
                let (name, result) = (name.to_string(), result.to_string());
                trials.push(Trial::test(format!("ktest::{name}"), move || if result == "ok" { Ok(()) } else { Err(Failed::from(result)) }));
            }
            let summary = outcome.serial.lines().any(|line| line.starts_with("ktest summary:"));
            let verdict_ok = outcome.ended == Ended::Verdict(GuestVerdict::Pass);
            let detail = format!("{}; last serial lines:\n{}", outcome.ended, outcome.tail(30));
            trials.push(Trial::test("kernel_suite_run", move || if summary && verdict_ok { Ok(()) } else { Err(Failed::from(detail)) }));
        }
    }
    libtest_mimic::run(&arguments, trials).exit();
}
