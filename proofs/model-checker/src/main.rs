//! `tileos-model-checker [--depth N] [--keep-going] [--small] [--kernel-mutate]`:
//! explores every operation sequence of up to N steps (default 3) over the standard
//! universe, printing progress every few seconds and a summary; exits with status 1 and the
//! failing trace if an invariant breaks (with `--keep-going`: one shortest trace per
//! invariant and operation kind, after exploring everything else). `--small` explores
//! the smaller universe of `Universe::small` (for deeper runs).
//!
//! `--kernel-mutate` uses the kernel's current mutate rule (an original endpoint may be
//! badged in place) instead of seL4's (never).
//!
//! `--mapping` (with `--large` for the 2 MiB frame and PDPT universe) explores the mapping
//! state instead: page-table contents, ASIDs and the thread's address space
//! (`tileos_model_checker::mapping`).
//!
//! `--donation` explores scheduling-context donation instead
//! (`tileos_model_checker::donation`).
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;
use tileos_model_checker::mapping::{self, MapUniverse};
use tileos_model_checker::{Config, Stats, Universe, explore};

fn usage() -> ExitCode {
    eprintln!("usage: tileos-model-checker [--depth N] [--keep-going] [--small] [--kernel-mutate] [--mapping [--large]] [--donation]");
    ExitCode::from(2)
}

fn print_stats(stats: &Stats) {
    println!(
        "{} states, {} transitions ({} rejected operations), depth {}, per depth {:?}, {:.1} s; most slot accesses: {} in an atomic operation, {} in a one-unit kernel entry",
        stats.states,
        stats.transitions,
        stats.rejected,
        stats.max_depth(),
        stats.levels,
        stats.elapsed.as_secs_f64(),
        stats.worst_atomic,
        stats.worst_unit_entry
    );
}

fn main() -> ExitCode {
    let mut config = Config { depth: 3, keep_going: false };
    let (mut small, mut kernel_mutate, mut mapping, mut large, mut donation) = (false, false, false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--depth" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => config.depth = n,
                None => return usage(),
            },
            "--keep-going" => config.keep_going = true,
            "--small" => small = true,
            "--kernel-mutate" => kernel_mutate = true,
            "--mapping" => mapping = true,
            "--large" => large = true,
            "--donation" => donation = true,
            _ => return usage(),
        }
    }
    if donation {
        return explore_donation(config.depth);
    }
    if mapping {
        return explore_mapping(if large { MapUniverse::large() } else { MapUniverse::standard() }, config.depth);
    }
    let mut universe = if small { Universe::small() } else { Universe::standard() };
    universe.mutate_badges_originals = kernel_mutate;
    println!("exploring every operation sequence up to depth {}", config.depth);
    let report = explore(&universe, config, &mut |stats| {
        print!("  progress: ");
        print_stats(stats);
    });
    for violation in &report.violations {
        print!("{}", violation.report(&universe));
    }
    if report.violations.is_empty() {
        print!("done, all invariants hold: ");
    } else {
        print!("{} violation(s) found: ", report.violations.len());
    }
    print_stats(&report.stats);
    if report.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn explore_mapping(universe: MapUniverse, depth: usize) -> ExitCode {
    println!("exploring every mapping operation sequence up to depth {depth} over {universe:?}");
    let start = Instant::now();
    let (stats, violation) = mapping::explore(&universe, depth);
    let figures = format!(
        "{} states, {} transitions ({} rejected operations), {:.1} s",
        stats.states,
        stats.transitions,
        stats.rejected,
        start.elapsed().as_secs_f64()
    );
    match violation {
        None => {
            println!("done, the mapping invariant holds: {figures}");
            ExitCode::SUCCESS
        }
        Some(violation) => {
            println!("invariant {:?} violated: {}", violation.invariant, violation.detail);
            for (index, op) in violation.trace.iter().enumerate() {
                println!("  {}. {op:?}", index + 1);
            }
            println!("{figures}");
            ExitCode::FAILURE
        }
    }
}

fn explore_donation(depth: usize) -> ExitCode {
    use tileos_model_checker::donation;
    println!("exploring every donation operation sequence up to depth {depth} over {} threads", donation::THREADS);
    let start = Instant::now();
    let (stats, violation) = donation::explore(depth);
    let figures = format!("{} states, {} transitions, {:.1} s", stats.states, stats.transitions, start.elapsed().as_secs_f64());
    match violation {
        None => {
            println!("done, the donation invariant holds: {figures}");
            ExitCode::SUCCESS
        }
        Some((trace, detail)) => {
            println!("donation invariant violated: {detail}");
            for (index, op) in trace.iter().enumerate() {
                println!("  {}. {op:?}", index + 1);
            }
            println!("{figures}");
            ExitCode::FAILURE
        }
    }
}
