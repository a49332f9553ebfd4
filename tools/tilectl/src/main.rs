//! `tilectl`: manage a running tile through its update agent (`docs/tilectl.md`).
//!
//! ```text
//! tilectl [--tile HOST:PORT] [--key FILE | --dev-key] [--json] status
//! tilectl … telemetry
//! tilectl … twin
//! tilectl … install FILE --slot NAME
//! tilectl … promote --slot NAME MODULE [--force]
//! tilectl … rollback --slot NAME
//! tilectl … log --slot NAME [--verify] [--log-key FILE] [--state FILE]
//! tilectl … ask QUESTION [--topic NAME] [--ledger-key FILE]
//! tilectl … accept ADAPTER
//! tilectl … audit SPECIALIST TOPIC [--secret] [--count N]
//! tilectl … standing SPECIALIST TOPIC
//! tilectl … challenge SLOT [CHALLENGER]
//! tilectl … ledger INDEX [--ledger-key FILE]
//! ```
//!
//! Exit codes: 0 done; 1 the tile refused or failed the command; 2 usage; 3 the connection
//! or the protocol failed; 4 the update log (or `ask`'s ledger entry) failed verification.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tileos_tilectl::{Failure, Options, run};

#[derive(Parser)]
#[command(name = "tilectl", version, about = "Manage a running tile through its update agent (docs/tilectl.md)")]
struct Cli {
    /// The agent's address (QEMU forwards host port 7700 to it with `make run`).
    #[arg(long, global = true, default_value = "127.0.0.1:7700")]
    tile: String,
    /// The operator key: a file holding its 32-byte Ed25519 seed (raw, or 64 hex digits).
    #[arg(long, global = true, conflicts_with = "dev_key")]
    key: Option<PathBuf>,
    /// Use the development operator key (and the development log key for `log --verify`).
    #[arg(long, global = true)]
    dev_key: bool,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the tile on each read or write (`accept` waits at least 300).
    #[arg(long, global = true, default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every domain's state (from the supervisor) and every slot's modules and counters.
    Status,
    /// Every domain's telemetry: calls, latency percentiles, faults, restarts, CPU time, power estimate.
    Telemetry,
    /// The digital twin's state (bearing, thermal advice, the last minute's means) and its
    /// maintenance alarms: aggregates only, no raw sample.
    Twin,
    /// Install a signed module bundle into a slot as a challenger (needs the operator key).
    Install {
        /// The bundle file (`make bundles` writes them to build/bundles/).
        file: PathBuf,
        /// The slot (the name of the endpoint it fronts).
        #[arg(long)]
        slot: String,
    },
    /// Promote a challenger (needs the operator key).
    Promote {
        /// The slot.
        #[arg(long)]
        slot: String,
        /// The module's number in the slot (as `status` shows it).
        module: u32,
        /// Promote even without sufficient evidence.
        #[arg(long)]
        force: bool,
    },
    /// Roll back the promotion whose rollback window is open (needs the operator key).
    Rollback {
        /// The slot.
        #[arg(long)]
        slot: String,
    },
    /// Ask the tile a question: routed under the signed policy, answered by the inference
    /// domain, judged by the verification gate and logged; prints the answer, the route, the
    /// verification and the ledger entry (checked against the ledger key when given).
    Ask {
        /// The question (e.g. "12+7", "5 km in m", "may we share the site plans?").
        question: String,
        /// The topic, instead of the router's keyword classification.
        #[arg(long)]
        topic: Option<String>,
        /// The ledger's public key: 32 bytes, raw or as 64 hex digits (default with
        /// --dev-key: the development ledger key).
        #[arg(long)]
        ledger_key: Option<PathBuf>,
    },
    /// Run adapter acceptance (canary battery, trigger probe) on an adapter the inference
    /// domain serves; `ask` uses only accepted adapters (needs the operator key).
    Accept {
        /// The adapter's name (t1, t2, t2b, t2c, t3, t1-backdoor, t1b).
        adapter: String,
    },
    /// A Plane B audit: the tile draws canaries of the topic (public, or the secret reserve),
    /// asks the specialist's accepted adapter, scores the answers into its reputation and
    /// the overfit detector, and keeps the audit (needs the operator key).
    Audit {
        /// The specialist (t1 serves arith and units on the default tile).
        specialist: String,
        /// A topic it serves.
        topic: String,
        /// A blind audit from the secret reserve (never reward-bearing).
        #[arg(long)]
        secret: bool,
        /// How many canaries (1 to 8).
        #[arg(long, default_value_t = 4)]
        count: u8,
    },
    /// A class-C agreement audit: the named specialists of a class-C topic answer the same
    /// drawn public class-C canaries; their agreement is what the class-C gate weighs
    /// independence by (needs the operator key).
    PanelAudit {
        /// The class-C topic (text on the default tile).
        topic: String,
        /// The specialists (2 to 4 of at least two lineages; t2 t2b t2c on the default tile).
        #[arg(required = true)]
        specialists: Vec<String>,
        /// How many canaries (1 or 2).
        #[arg(long, default_value_t = 2)]
        count: u8,
    },
    /// A specialist's Plane B standing on a topic: reputation, public and secret tallies,
    /// overfit findings.
    Standing {
        /// The specialist.
        specialist: String,
        /// The topic.
        topic: String,
    },
    /// A slot's challenge on live traffic: with CHALLENGER (an accepted adapter), start
    /// one (signed); without, show the slot's latest challenge.
    Challenge {
        /// The slot (an adapter name of the tile's routing policy, e.g. t1).
        slot: String,
        /// The challenger.
        challenger: Option<String>,
    },
    /// One entry of the verify domain's ledger (an answer or a challenge step), checked
    /// against the signed tree head when a ledger key is given (--dev-key: the DEV ONLY one).
    Ledger {
        /// The entry's index.
        index: u64,
        /// The ledger's public key: 32 bytes, raw or as 64 hex digits.
        #[arg(long)]
        ledger_key: Option<PathBuf>,
    },
    /// The slot's update log: its signed head and every entry, decoded.
    Log {
        /// The slot.
        #[arg(long)]
        slot: String,
        /// Verify the head's signature, every entry's inclusion proof and the consistency
        /// with the last head verified (kept in the state file).
        #[arg(long)]
        verify: bool,
        /// The tile's log public key: 32 bytes, raw or as 64 hex digits (default with
        /// --dev-key: the development log key).
        #[arg(long)]
        log_key: Option<PathBuf>,
        /// Where the last verified heads are kept (default: ~/.tileos/tilectl-heads.json).
        #[arg(long)]
        state: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options =
        Options { tile: cli.tile, key: cli.key, dev_key: cli.dev_key, json: cli.json, timeout: Duration::from_secs(cli.timeout.max(1)) };
    let command = match cli.command {
        Command::Status => tileos_tilectl::Command::Status,
        Command::Telemetry => tileos_tilectl::Command::Telemetry,
        Command::Twin => tileos_tilectl::Command::Twin,
        Command::Install { file, slot } => tileos_tilectl::Command::Install { file, slot },
        Command::Promote { slot, module, force } => tileos_tilectl::Command::Promote { slot, module, force },
        Command::Rollback { slot } => tileos_tilectl::Command::Rollback { slot },
        Command::Log { slot, verify, log_key, state } => tileos_tilectl::Command::Log { slot, verify, log_key, state },
        Command::Ask { question, topic, ledger_key } => tileos_tilectl::Command::Ask { question, topic, ledger_key },
        Command::Accept { adapter } => tileos_tilectl::Command::Accept { adapter },
        Command::Audit { specialist, topic, secret, count } => tileos_tilectl::Command::Audit { specialist, topic, secret, count },
        Command::PanelAudit { topic, specialists, count } => tileos_tilectl::Command::PanelAudit { topic, specialists, count },
        Command::Standing { specialist, topic } => tileos_tilectl::Command::Standing { specialist, topic },
        Command::Challenge { slot, challenger } => tileos_tilectl::Command::Challenge { slot, challenger },
        Command::Ledger { index, ledger_key } => tileos_tilectl::Command::Ledger { index, ledger_key },
    };
    let mut stdout = std::io::stdout().lock();
    match run(&options, &command, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tilectl: {failure}");
            ExitCode::from(match failure {
                Failure::Refused(_) => 1,
                Failure::Usage(_) => 2,
                Failure::Connection(_) => 3,
                Failure::Verification(_) | Failure::LedgerCheck(_) => 4,
            })
        }
    }
}
