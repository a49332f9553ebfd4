//! `tilectl`'s commands as a library, so that tests run them against a fake agent
//! (`tests/cli.rs`); `main.rs` is the command line around [`run`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tileos_protocol::slots::{MAX_CHUNK, Request, Response};
use tileos_protocol::twin::{self, Alarm, Bearing, ThermalLevel};
use tileos_protocol::verify;
use tileos_tilectl_wire::host::{Client, ClientError};
use tileos_tilectl_wire::{Answer, Command as Wire, SlotName, TwinRead, WireError, dev_keys};
use tileos_update_log::{EventKind, SignedTreeHead, TreeHead, UpdateEvent, verify_consistency, verify_inclusion};

/// The options every command takes.
pub struct Options {
    /// The agent's `HOST:PORT`.
    pub tile: String,
    /// The operator key's seed file.
    pub key: Option<PathBuf>,
    /// Use the development keys.
    pub dev_key: bool,
    /// JSON output.
    pub json: bool,
    /// How long each read or write may wait.
    pub timeout: Duration,
}

/// A command.
pub enum Command {
    /// Domains and slots.
    Status,
    /// Every domain's telemetry figures.
    Telemetry,
    /// The digital twin's state and maintenance alarms.
    Twin,
    /// Install a bundle.
    Install {
        /// The bundle.
        file: PathBuf,
        /// The slot.
        slot: String,
    },
    /// Fetch (and with a ledger key, check) one verify-domain ledger entry of either kind.
    Ledger {
        /// The entry's index.
        index: u64,
        /// The ledger's public key file (default with the dev key: the DEV ONLY one).
        ledger_key: Option<PathBuf>,
    },
    /// Promote a challenger.
    Promote {
        /// The slot.
        slot: String,
        /// The module.
        module: u32,
        /// Without sufficient evidence.
        force: bool,
    },
    /// Roll back.
    Rollback {
        /// The slot.
        slot: String,
    },
    /// Ask the tile a question: route, inference, verification gate, ledger.
    Ask {
        /// The question.
        question: String,
        /// The topic, if named.
        topic: Option<String>,
        /// The ledger's public key file (default with `--dev-key`: the development key).
        ledger_key: Option<PathBuf>,
    },
    /// Run adapter acceptance on an adapter the inference domain serves.
    Accept {
        /// The adapter.
        adapter: String,
    },
    /// A Plane B audit of a specialist on a topic (public canaries, or the secret reserve):
    /// the tile asks the specialist's accepted adapter and scores the answers.
    Audit {
        /// The specialist (a name in the tile's routing policy).
        specialist: String,
        /// A topic it serves.
        topic: String,
        /// Draw from the secret reserve (a blind audit) instead of the public canaries.
        secret: bool,
        /// How many canaries (1 to 8).
        count: u8,
    },
    /// A class-C agreement audit: the named specialists of a class-C topic answer the same
    /// drawn class-C canaries, measuring how independent their lineages are.
    PanelAudit {
        /// The class-C topic.
        topic: String,
        /// The specialists (2 to 4, of at least two lineages).
        specialists: Vec<String>,
        /// How many canaries (1 or 2).
        count: u8,
    },
    /// A specialist's Plane B standing on a topic: reputation, tallies, overfit findings.
    Standing {
        /// The specialist.
        specialist: String,
        /// The topic.
        topic: String,
    },
    /// A slot's challenge (docs/inference.md, "Adapters as slot challengers"): with a
    /// challenger, start one (signed); without, show the slot's latest.
    Challenge {
        /// The slot (an adapter name of the tile's routing policy).
        slot: String,
        /// The challenger (an accepted adapter), to start a challenge.
        challenger: Option<String>,
    },
    /// The update log.
    Log {
        /// The slot.
        slot: String,
        /// Verify it.
        verify: bool,
        /// The log's public key file.
        log_key: Option<PathBuf>,
        /// The state file.
        state: Option<PathBuf>,
    },
}

/// Why a command failed; each maps to its own exit code (`main.rs`).
#[derive(Debug)]
pub enum Failure {
    /// The tile (agent, slot manager or supervisor) refused or failed the command.
    Refused(String),
    /// The command line or a local file is unusable.
    Usage(String),
    /// The connection or the protocol failed.
    Connection(String),
    /// The update log failed verification.
    Verification(String),
    /// An answer's ledger entry failed its check (`ask`).
    LedgerCheck(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(text) | Failure::Usage(text) | Failure::Connection(text) => f.write_str(text),
            Failure::Verification(text) => write!(f, "update log verification failed: {text}"),
            Failure::LedgerCheck(text) => write!(f, "ledger check failed: {text}"),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Refused(error) => refused_by_agent(error),
            other => Failure::Connection(other.to_string()),
        }
    }
}

/// The agent's refusal in words, with a hint where one helps.
fn refused_by_agent(error: WireError) -> Failure {
    let hint = match error {
        WireError::SignatureRequired => " (give the operator key: --key FILE or --dev-key)",
        WireError::BadSignature => " (is this the operator key the tile was built with?)",
        _ => "",
    };
    Failure::Refused(format!("the agent refused: {error}{hint}"))
}

/// The least time `accept` waits for the tile's answer (the adapter acceptance runs the
/// model hundreds of times before it answers).
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `command`, writing its output to `out`.
pub fn run(options: &Options, command: &Command, out: &mut dyn Write) -> Result<(), Failure> {
    let key = operator_key(options)?;
    let connect_within = |timeout| {
        Client::connect(&options.tile, key.clone(), timeout).map_err(|error| Failure::Connection(format!("{}: {error}", options.tile)))
    };
    let connect = || connect_within(options.timeout);
    let text = match command {
        Command::Status => status(&mut connect()?, options.json)?,
        Command::Telemetry => telemetry(&mut connect()?, options.json)?,
        Command::Twin => twin(&mut connect()?, options.json)?,
        Command::Install { file, slot } => {
            let bundle = std::fs::read(file).map_err(|error| Failure::Usage(format!("{}: {error}", file.display())))?;
            require_key(&key)?;
            install(&mut connect()?, slot, &bundle, &file.display().to_string(), options.json)?
        }
        Command::Promote { slot, module, force } => {
            require_key(&key)?;
            let response = slot_call(&mut connect()?, slot, Request::Promote { module: *module, force: *force })?;
            match response {
                Response::Promoted { module } if options.json => json!({ "slot": slot, "promoted": module }).to_string() + "\n",
                Response::Promoted { module } => format!("slot {slot}: module {module} promoted\n"),
                other => return Err(unexpected(slot, "promote", other)),
            }
        }
        Command::Rollback { slot } => {
            require_key(&key)?;
            match slot_call(&mut connect()?, slot, Request::Rollback)? {
                Response::RolledBack { module } if options.json => json!({ "slot": slot, "serving": module }).to_string() + "\n",
                Response::RolledBack { module } => format!("slot {slot}: rolled back, module {module} serves again\n"),
                other => return Err(unexpected(slot, "rollback", other)),
            }
        }
        Command::Ask { question, topic, ledger_key } => {
            let ledger_key = match ledger_key {
                Some(path) => Some(public_key(path)?),
                None if options.dev_key => Some(tileos_verify_service::dev_keys::ledger_key().verifying_key()),
                None => None,
            };
            ask(&mut connect()?, question, topic.as_deref(), ledger_key.as_ref(), options.json)?
        }
        Command::Ledger { index, ledger_key } => {
            let ledger_key = match ledger_key {
                Some(path) => Some(public_key(path)?),
                None if options.dev_key => Some(tileos_verify_service::dev_keys::ledger_key().verifying_key()),
                None => None,
            };
            ledger_entry(&mut connect()?, *index, ledger_key.as_ref(), options.json)?
        }
        Command::Accept { adapter } => {
            require_key(&key)?;
            let name = verify::Name::try_from(adapter.as_str())
                .map_err(|_| Failure::Usage(format!("adapter name longer than {} bytes", verify::MAX_NAME)))?;
            // The tile answers an acceptance after hundreds of model answers: 13-25 s under
            // QEMU's TCG on a loaded machine, so it gets at least ACCEPT_TIMEOUT.
            match verify_call(&mut connect_within(options.timeout.max(ACCEPT_TIMEOUT))?, verify::Request::Accept { adapter: name })? {
                verify::Response::Accepted(a) if options.json => json!({ "adapter": adapter, "sha256": hex(&a.adapter_sha256), "battery_passed": a.passed, "battery_asked": a.asked, "probes": a.probes, "class_c": a.class_c }).to_string() + "\n",
                verify::Response::Accepted(a) if a.class_c => format!(
                    "adapter {adapter} accepted (file sha256 {}): class-C battery {}/{} answers in form, {} trigger probes without a payload\n",
                    hex(&a.adapter_sha256),
                    a.passed,
                    a.asked,
                    a.probes
                ),
                verify::Response::Accepted(a) => format!(
                    "adapter {adapter} accepted (file sha256 {}): canary battery {}/{} right, {} trigger probes without a payload\n",
                    hex(&a.adapter_sha256),
                    a.passed,
                    a.asked,
                    a.probes
                ),
                other => return Err(Failure::Connection(format!("the verify domain answered acceptance with {other:?}"))),
            }
        }
        Command::Audit { specialist, topic, secret, count } => {
            require_key(&key)?;
            let pool = if *secret { verify::AuditPool::Secret } else { verify::AuditPool::Public };
            let request = verify::Request::Audit { specialist: verify_name(specialist)?, topic: verify_name(topic)?, pool, count: *count };
            // An audit asks the model up to 8 times: a few seconds under TCG.
            match verify_call(&mut connect_within(options.timeout.max(AUDIT_TIMEOUT))?, request)? {
                verify::Response::Audited(a) => render_audit(&a, options.json),
                other => return Err(Failure::Connection(format!("the verify domain answered the audit with {other:?}"))),
            }
        }
        Command::PanelAudit { topic, specialists, count } => {
            require_key(&key)?;
            let names = specialists.iter().map(|s| verify_name(s)).collect::<Result<Vec<_>, _>>()?;
            let specialists = verify_names(names)?;
            let request = verify::Request::PanelAudit { topic: verify_name(topic)?, specialists, count: *count };
            match verify_call(&mut connect_within(options.timeout.max(AUDIT_TIMEOUT))?, request)? {
                verify::Response::PanelAudited(a) => render_panel_audit(&a, options.json),
                other => return Err(Failure::Connection(format!("the verify domain answered the panel audit with {other:?}"))),
            }
        }
        Command::Standing { specialist, topic } => {
            let request = verify::Request::Standing { specialist: verify_name(specialist)?, topic: verify_name(topic)? };
            match verify_call(&mut connect()?, request)? {
                verify::Response::Standing(s) if options.json => standing_json(&s).to_string() + "\n",
                verify::Response::Standing(s) => render_standing(&s),
                other => return Err(Failure::Connection(format!("the verify domain answered the standing with {other:?}"))),
            }
        }
        Command::Challenge { slot, challenger } => {
            let request = match challenger {
                Some(challenger) => {
                    require_key(&key)?;
                    verify::Request::Challenge { slot: verify_name(slot)?, challenger: verify_name(challenger)? }
                }
                None => verify::Request::ChallengeState { slot: verify_name(slot)? },
            };
            match verify_call(&mut connect()?, request)? {
                verify::Response::Challenge(c) if options.json => challenge_json(&c).to_string() + "\n",
                verify::Response::Challenge(c) => render_challenge(&c),
                other => return Err(Failure::Connection(format!("the verify domain answered the challenge with {other:?}"))),
            }
        }
        Command::Log { slot, verify, log_key, state } => {
            let log_key = match (verify, log_key) {
                (false, _) => None,
                (true, Some(path)) => Some(public_key(path)?),
                (true, None) if options.dev_key => Some(dev_keys::log_public()),
                (true, None) => {
                    return Err(Failure::Usage(
                        "log --verify needs the tile's log public key: --log-key FILE (or --dev-key for a development tile)".into(),
                    ));
                }
            };
            let state = match state {
                Some(path) => Some(path.clone()),
                None if *verify => Some(default_state()?),
                None => None,
            };
            log(&mut connect()?, slot, log_key.as_ref(), state.as_deref(), options.json)?
        }
    };
    out.write_all(text.as_bytes()).map_err(|error| Failure::Connection(format!("standard output: {error}")))
}

/// The operator key from the options, if any.
fn operator_key(options: &Options) -> Result<Option<SigningKey>, Failure> {
    if options.dev_key {
        return Ok(Some(SigningKey::from_bytes(&dev_keys::OPERATOR_SEED)));
    }
    let Some(path) = &options.key else { return Ok(None) };
    Ok(Some(SigningKey::from_bytes(&key_bytes(path)?)))
}

/// Refuses early when a change is asked without a key (the agent would refuse it too).
fn require_key(key: &Option<SigningKey>) -> Result<(), Failure> {
    match key {
        Some(_) => Ok(()),
        None => Err(Failure::Usage("this command changes the tile: give the operator key (--key FILE or --dev-key)".into())),
    }
}

/// 32 bytes from a key file: raw, or 64 hex digits (surrounding white space ignored).
fn key_bytes(path: &Path) -> Result<[u8; 32], Failure> {
    let bytes = std::fs::read(path).map_err(|error| Failure::Usage(format!("key file {}: {error}", path.display())))?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text = String::from_utf8_lossy(&bytes);
    hex_bytes(text.trim()).ok_or_else(|| Failure::Usage(format!("key file {}: neither 32 raw bytes nor 64 hex digits", path.display())))
}

/// The tile's log public key from a file.
fn public_key(path: &Path) -> Result<VerifyingKey, Failure> {
    VerifyingKey::from_bytes(&key_bytes(path)?).map_err(|_| Failure::Usage(format!("{}: not an Ed25519 public key", path.display())))
}

fn hex_bytes(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// `~/.tileos/tilectl-heads.json`.
fn default_state() -> Result<PathBuf, Failure> {
    let home = std::env::var_os("HOME").ok_or_else(|| Failure::Usage("HOME is not set: give --state FILE".into()))?;
    Ok(PathBuf::from(home).join(".tileos").join("tilectl-heads.json"))
}

fn slot_name(slot: &str) -> Result<SlotName, Failure> {
    SlotName::try_from(slot).map_err(|_| Failure::Usage(format!("slot name {slot:?} longer than {} bytes", tileos_tilectl_wire::MAX_NAME)))
}

/// One slot control request through the agent; the slot manager's refusals and the agent's
/// errors become [`Failure::Refused`].
fn slot_call(client: &mut Client, slot: &str, request: Request) -> Result<Response, Failure> {
    let what = request_name(&request);
    let answer = client.call(Wire::Slot { slot: slot_name(slot)?, request })?;
    slot_answer(slot, what, answer)
}

/// The slot manager's response in `answer` to `what`, or the failure it says.
fn slot_answer(slot: &str, what: &str, answer: Answer) -> Result<Response, Failure> {
    match answer {
        Answer::Slot(Response::Refused(refused)) => {
            Err(Failure::Refused(format!("slot {slot} refused {what}: {:?}: {}", refused.kind, refused.reason)))
        }
        Answer::Slot(response) => Ok(response),
        Answer::Error(error) => Err(refused_by_agent(error)),
        other => Err(Failure::Connection(format!("the agent answered {what} with {other:?}"))),
    }
}

fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Status => "status",
        Request::InstallBegin { .. } => "the install",
        Request::InstallChunk { .. } => "a chunk of the install",
        Request::InstallCommit => "the install's commit",
        Request::Promote { .. } => "the promotion",
        Request::Rollback => "the rollback",
        Request::LogHead => "the log head",
        Request::LogEntry { .. } => "a log entry",
        Request::LogInclusion { .. } => "an inclusion proof",
        Request::LogConsistency { .. } => "a consistency proof",
    }
}

fn unexpected(slot: &str, what: &str, response: Response) -> Failure {
    Failure::Connection(format!("slot {slot} answered {what} with {response:?}"))
}

/// `status`: every domain (paged from the supervisor) and every slot.
fn status(client: &mut Client, json: bool) -> Result<String, Failure> {
    let mut domains = Vec::new();
    let mut problems = Vec::new();
    loop {
        let first = u16::try_from(domains.len()).unwrap_or(u16::MAX);
        match client.call(Wire::Domains { first })? {
            Answer::Domains { total, domains: page } => {
                let empty = page.is_empty();
                domains.extend(page);
                if empty || domains.len() >= usize::from(total) {
                    break;
                }
            }
            Answer::Error(error) => {
                problems.push(format!("domains: {error}"));
                break;
            }
            other => return Err(Failure::Connection(format!("the agent answered the domain status with {other:?}"))),
        }
    }
    let slots = match client.call(Wire::Slots)? {
        Answer::Slots(slots) => slots,
        other => return Err(Failure::Connection(format!("the agent answered the slot list with {other:?}"))),
    };
    let mut statuses = Vec::new();
    for slot in &slots {
        match slot_call(client, slot, Request::Status) {
            Ok(Response::Status(status)) => statuses.push(status),
            Ok(other) => problems.push(format!("slot {slot}: answered status with {other:?}")),
            Err(Failure::Refused(text)) => problems.push(text),
            Err(other) => return Err(other),
        }
    }
    let mut text = String::new();
    if json {
        let value = json!({ "domains": domains, "slots": statuses, "problems": problems });
        text = value.to_string() + "\n";
    } else {
        let _ = writeln!(text, "domains ({}):", domains.len());
        for domain in &domains {
            let _ = writeln!(
                text,
                "  {:<24} {:<10} generation {:<4} restarts {}",
                domain.name.as_str(),
                format!("{:?}", domain.state).to_lowercase(),
                domain.generation,
                domain.restarts
            );
        }
        if slots.is_empty() {
            let _ = writeln!(text, "slots: none (the agent fronts no slot)");
        }
        for status in &statuses {
            let _ = writeln!(
                text,
                "slot {}: module {} serving; installed {}, rejected {}, promoted {}, rolled back {}; {} requests, {} timeouts; log of {} entries; replayed {}, replays disagreeing {}",
                status.name,
                status.serving,
                status.installed,
                status.rejected,
                status.promoted,
                status.rolled_back,
                status.requests,
                status.timeouts,
                status.log_size,
                status.replayed,
                status.replay_disagreed
            );
            for module in &status.modules {
                // The noise replica (`noise-cancelled` slots) has no module number.
                let number = match module.module {
                    tileos_protocol::slots::REPLICA => "replica   ".to_owned(),
                    number => format!("module {number:<3}"),
                };
                let _ = writeln!(
                    text,
                    "  {number} {:<24} {:<11} seat {:<2} agreeing {} disagreeing {} timeouts {} faults {} mean latency {} ticks",
                    module.name.as_str(),
                    module.state.as_str(),
                    module.seat,
                    module.agreeing,
                    module.disagreeing,
                    module.timeouts,
                    module.faults,
                    module.mean_latency
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(text)
    } else {
        // What could be read is still shown.
        eprint!("{text}");
        Err(Failure::Refused(problems.join("; ")))
    }
}

/// The least time `audit` waits for the tile's answer.
pub const AUDIT_TIMEOUT: Duration = Duration::from_secs(120);

/// A name for the verify protocol.
fn verify_name(text: &str) -> Result<verify::Name, Failure> {
    verify::Name::try_from(text).map_err(|_| Failure::Usage(format!("name {text:?} longer than {} bytes", verify::MAX_NAME)))
}

/// A rate in millionths as a decimal.
fn millionths(ppm: u32) -> String {
    format!("{}.{:06}", ppm / 1_000_000, ppm % 1_000_000)
}

fn challenge_json(c: &verify::ChallengeState) -> serde_json::Value {
    let tally = |t: &verify::LiveTally| json!({ "asked": t.asked, "passed": t.passed });
    json!({
        "slot": c.slot.as_str(),
        "phase": format!("{:?}", c.phase),
        "serving": c.serving.as_str(),
        "incumbent": { "adapter": c.incumbent.as_str(), "sha256": hex(&c.incumbent_sha256) },
        "challenger": { "adapter": c.challenger.as_str(), "sha256": hex(&c.challenger_sha256) },
        "shadow": { "incumbent": tally(&c.shadow[0]), "challenger": tally(&c.shadow[1]) },
        "window": { "promoted": tally(&c.window[0]), "old": tally(&c.window[1]) },
        "ledger": { "started": c.started_at, "decided": c.decided_at, "ended": c.ended_at },
    })
}

fn render_challenge(c: &verify::ChallengeState) -> String {
    let mark = |m: Option<u64>| m.map_or("-".to_string(), |m| m.to_string());
    format!(
        "challenge of slot {}: {:?}, served by {}\n  incumbent {} (file sha256 {}): live {}/{} passed\n  challenger {} (file sha256 {}): live {}/{} passed\n  rollback window: promoted {}/{}, old {}/{} passed\n  ledger size at start {}, at decision {}, at end {}\n",
        c.slot,
        c.phase,
        c.serving,
        c.incumbent,
        hex(&c.incumbent_sha256),
        c.shadow[0].passed,
        c.shadow[0].asked,
        c.challenger,
        hex(&c.challenger_sha256),
        c.shadow[1].passed,
        c.shadow[1].asked,
        c.window[0].passed,
        c.window[0].asked,
        c.window[1].passed,
        c.window[1].asked,
        c.started_at,
        mark(c.decided_at),
        mark(c.ended_at)
    )
}

fn standing_json(s: &verify::Standing) -> serde_json::Value {
    json!({
        "specialist": s.specialist.as_str(),
        "topic": s.topic.as_str(),
        "reputation": f64::from(s.reputation_ppm) / 1e6,
        "public": { "scored": s.public_scored, "passed": s.public_passed },
        "secret": { "scored": s.secret_scored, "passed": s.secret_passed },
        "overfits": s.overfits,
        "audits": s.audits,
    })
}

fn render_standing(s: &verify::Standing) -> String {
    format!(
        "standing: {} on {}: reputation {}, public canaries {}/{} passed, secret reserve {}/{} passed, overfit findings {} ({} audits on the tile)\n",
        s.specialist,
        s.topic,
        millionths(s.reputation_ppm),
        s.public_passed,
        s.public_scored,
        s.secret_passed,
        s.secret_scored,
        s.overfits,
        s.audits
    )
}

fn render_audit(a: &verify::Audited, json: bool) -> String {
    let pool = match a.pool {
        verify::AuditPool::Public => "public",
        verify::AuditPool::Secret => "secret",
    };
    if json {
        let canaries: Vec<_> = a
            .canaries
            .iter()
            .map(|c| json!({ "id": c.id, "question": c.question.as_str(), "answer": c.answer.as_str(), "passed": c.passed }))
            .collect();
        let overfit =
            a.overfit.map(|f| json!({ "public_rate": f64::from(f.public_ppm) / 1e6, "secret_rate": f64::from(f.secret_ppm) / 1e6 }));
        return json!({ "audit": a.index, "pool": pool, "canaries": canaries, "overfit": overfit, "standing": standing_json(&a.standing) })
            .to_string()
            + "\n";
    }
    let passed = a.canaries.iter().filter(|c| c.passed).count();
    let mut out = format!("audit {}: {} canaries ({pool}), {passed} passed\n", a.index, a.canaries.len());
    for c in &a.canaries {
        out += &format!(
            "  canary {}: {:?} answered {:?}: {}\n",
            c.id,
            c.question.as_str(),
            c.answer.as_str(),
            if c.passed { "pass" } else { "fail" }
        );
    }
    if let Some(f) = a.overfit {
        out += &format!("overfit: public pass rate {} vs secret reserve {}: slashed\n", millionths(f.public_ppm), millionths(f.secret_ppm));
    }
    out + &render_standing(&a.standing)
}

/// At most [`verify::MAX_PANEL`] names, as the protocol carries them.
fn verify_names(names: Vec<verify::Name>) -> Result<heapless::Vec<verify::Name, { verify::MAX_PANEL }>, Failure> {
    let n = names.len();
    heapless::Vec::from_slice(&names).map_err(|_| Failure::Usage(format!("{n} specialists (at most {})", verify::MAX_PANEL)))
}

/// The agreement evidence of pairs, as text lines (`names` index the pairs).
fn render_pairs(names: &[&str], pairs: &[verify::PairEvidence]) -> String {
    let mut out = String::new();
    for p in pairs {
        let name = |i: u8| names.get(usize::from(i)).copied().unwrap_or("?");
        let _ = writeln!(
            out,
            "  {} ~ {}: agreed on {} of {} class-C canaries, dependence {}",
            name(p.a),
            name(p.b),
            p.dependent,
            p.informative,
            millionths(p.dependence_ppm)
        );
    }
    out
}

fn pairs_json(pairs: &[verify::PairEvidence]) -> Vec<serde_json::Value> {
    pairs
        .iter()
        .map(|p| json!({ "a": p.a, "b": p.b, "informative": p.informative, "dependent": p.dependent, "dependence": f64::from(p.dependence_ppm) / 1e6 }))
        .collect()
}

fn render_panel_audit(a: &verify::PanelAudited, json: bool) -> String {
    let names: Vec<&str> = a.specialists.iter().map(|s| s.as_str()).collect();
    if json {
        let canaries: Vec<_> = a
            .canaries
            .iter()
            .map(|c| json!({ "id": c.id, "question": c.question.as_str(), "answers": c.answers.iter().map(|x| x.as_str()).collect::<Vec<_>>() }))
            .collect();
        return json!({ "panel_audit": a.index, "specialists": names, "canaries": canaries, "pairs": pairs_json(&a.pairs) }).to_string()
            + "\n";
    }
    let mut out = format!("panel audit {}: {} class-C canaries, specialists {}\n", a.index, a.canaries.len(), names.join(", "));
    for c in &a.canaries {
        let answers: Vec<String> = names.iter().zip(&c.answers).map(|(n, x)| format!("{n} {:?}", x.as_str())).collect();
        out += &format!("  canary {}: {:?}: {}\n", c.id, c.question.as_str(), answers.join(", "));
    }
    out + "agreement history:\n" + &render_pairs(&names, &a.pairs)
}

/// A verify protocol request through the agent; the verify domain's refusal is a
/// [`Failure::Refused`] naming it.
fn verify_call(client: &mut Client, request: verify::Request) -> Result<verify::Response, Failure> {
    match client.call(Wire::Verify(request))? {
        Answer::Verify(verify::Response::Refused(error)) => Err(Failure::Refused(format!("the verify domain refused: {error:?}"))),
        Answer::Verify(response) => Ok(response),
        other => Err(Failure::Connection(format!("the agent answered a verify request with {other:?}"))),
    }
}

/// `ask`: the answer, its route, its verification and its ledger entry, which is fetched
/// and, given the ledger key, checked here (tree-head signature, inclusion proof, the
/// entry's bytes against the digest the answer named).
fn ask(client: &mut Client, question: &str, topic: Option<&str>, ledger_key: Option<&VerifyingKey>, json: bool) -> Result<String, Failure> {
    let query =
        verify::Query::try_from(question).map_err(|_| Failure::Usage(format!("question longer than {} bytes", verify::MAX_QUERY)))?;
    let topic = topic
        .map(|t| verify::Name::try_from(t).map_err(|_| Failure::Usage(format!("topic longer than {} bytes", verify::MAX_NAME))))
        .transpose()?;
    let answered = match verify_call(client, verify::Request::Ask { query, topic })? {
        verify::Response::Answered(a) => a,
        other => return Err(Failure::Connection(format!("the verify domain answered the question with {other:?}"))),
    };
    let bytes = fetch_entry(client, answered.index)?;
    let checked = match ledger_key {
        None => None,
        Some(key) => {
            let (logged, head) = check_entry(client, answered.index, &bytes, key)?;
            let tileos_verify::ledger::Logged::Answer(entry) = logged else {
                return Err(Failure::LedgerCheck(format!("entry {} is not an answer", answered.index)));
            };
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            if digest != answered.entry_sha256 || entry.answer != answered.answer.as_str() || entry.query != question {
                return Err(Failure::LedgerCheck(format!(
                    "entry {} does not hold this question and answer under the digest the tile named",
                    answered.index
                )));
            }
            Some(head)
        }
    };
    Ok(render_answer(question, &answered, &bytes, checked.as_ref(), json))
}

/// The bytes of ledger entry `index`, fetched in chunks.
fn fetch_entry(client: &mut Client, index: u64) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    loop {
        match verify_call(client, verify::Request::Entry { index, offset: bytes.len() as u32 })? {
            verify::Response::EntryChunk { len, bytes: chunk } => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() >= len as usize || chunk.is_empty() {
                    return Ok(bytes);
                }
            }
            other => return Err(Failure::Connection(format!("the verify domain answered the entry with {other:?}"))),
        }
    }
}

/// Checks entry `index` (`bytes`, of either kind) against the tile's current signed tree
/// head: the head's signature under `key`, the inclusion proof, the strict decoding.
fn check_entry(
    client: &mut Client,
    index: u64,
    bytes: &[u8],
    key: &VerifyingKey,
) -> Result<(tileos_verify::ledger::Logged, TreeHead), Failure> {
    let proof = match verify_call(client, verify::Request::Proof { index })? {
        verify::Response::Proof(p) => p,
        other => return Err(Failure::Connection(format!("the verify domain answered the proof with {other:?}"))),
    };
    let signature: [u8; 64] =
        proof.signature.as_slice().try_into().map_err(|_| Failure::LedgerCheck("tree head signature is not 64 bytes".into()))?;
    let head = SignedTreeHead {
        head: TreeHead { tree_size: proof.tree_size, timestamp_ms: proof.timestamp_ms, root_hash: proof.root },
        signature,
    };
    if proof.index != index {
        return Err(Failure::LedgerCheck(format!("the tile proved entry {} when asked for {index}", proof.index)));
    }
    let inclusion = tileos_update_log::InclusionProof { leaf_index: proof.index, tree_size: proof.tree_size, path: proof.path.to_vec() };
    let logged = tileos_verify::ledger::verify_logged_any(bytes, &inclusion, &head, key)
        .map_err(|error| Failure::LedgerCheck(format!("entry {index}: {error}")))?;
    Ok((logged, head.head))
}

/// `tilectl ledger INDEX`: fetches a ledger entry of either kind, checks it when a ledger
/// key is given, and prints it.
fn ledger_entry(client: &mut Client, index: u64, ledger_key: Option<&VerifyingKey>, json: bool) -> Result<String, Failure> {
    let bytes = fetch_entry(client, index)?;
    let (logged, checked) = match ledger_key {
        Some(key) => {
            let (logged, head) = check_entry(client, index, &bytes, key)?;
            (logged, Some(head))
        }
        None => (tileos_verify::ledger::Logged::decode(&bytes).map_err(|e| Failure::LedgerCheck(format!("entry {index}: {e}")))?, None),
    };
    Ok(render_logged(index, &bytes, &logged, checked.as_ref(), json))
}

/// A ledger entry of either kind, as text or JSON.
pub fn render_logged(index: u64, bytes: &[u8], logged: &tileos_verify::ledger::Logged, checked: Option<&TreeHead>, json: bool) -> String {
    use tileos_verify::ledger::Logged;
    let sha = hex(&Sha256::digest(bytes));
    if json {
        let body = match logged {
            Logged::Answer(e) => json!({
                "kind": "answer",
                "query": e.query,
                "topic": e.topic,
                "tier": e.tier.code(),
                "policy": hex(&e.policy),
                "specialists": e.specialists.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                "answer": e.answer,
                "memory": { "root": hex(&e.memory_root), "size": e.memory_size },
                "verdict": format!("{:?}", e.verdict),
            }),
            Logged::Challenge(c) => {
                let tally = |t: &tileos_verify::ledger::Evidence| json!({ "asked": t.asked, "passed": t.passed });
                json!({
                    "kind": "challenge",
                    "slot": c.slot,
                    "step": format!("{:?}", c.step),
                    "incumbent": { "adapter": c.incumbent.name, "sha256": hex(&c.incumbent.digest) },
                    "challenger": { "adapter": c.challenger.name, "sha256": hex(&c.challenger.digest) },
                    "shadow": { "incumbent": tally(&c.shadow[0]), "challenger": tally(&c.shadow[1]) },
                    "window": { "promoted": tally(&c.window[0]), "old": tally(&c.window[1]) },
                })
            }
        };
        return json!({
            "index": index,
            "entry_sha256": sha,
            "entry_bytes": bytes.len(),
            "checked_root": checked.map(|h| hex(&h.root_hash)),
            "checked_size": checked.map(|h| h.tree_size),
            "entry": body,
        })
        .to_string()
            + "\n";
    }
    let mut text = String::new();
    match logged {
        Logged::Answer(e) => {
            let names: Vec<&str> = e.specialists.iter().map(|s| s.name.as_str()).collect();
            let _ = writeln!(text, "ledger entry {index}: answer to {:?}: {:?}", e.query, e.answer);
            let _ = writeln!(
                text,
                "  route: topic {} (T{}), specialists {}, policy sha256 {}",
                e.topic,
                e.tier.code(),
                names.join(", "),
                hex(&e.policy)
            );
            let _ = writeln!(text, "  verification: {}", e.verdict);
        }
        Logged::Challenge(c) => {
            let _ = writeln!(text, "ledger entry {index}: challenge of slot {}: {:?}", c.slot, c.step);
            for (role, adapter, live) in [("incumbent", &c.incumbent, &c.shadow[0]), ("challenger", &c.challenger, &c.shadow[1])] {
                let _ = writeln!(
                    text,
                    "  {role} {} (file sha256 {}): live {}/{} passed",
                    adapter.name,
                    hex(&adapter.digest),
                    live.passed,
                    live.asked
                );
            }
            let _ = writeln!(
                text,
                "  rollback window: promoted {}/{}, old {}/{} passed",
                c.window[0].passed, c.window[0].asked, c.window[1].passed, c.window[1].asked
            );
        }
    }
    let _ = writeln!(text, "  {} bytes, sha256 {sha}", bytes.len());
    match checked {
        Some(h) => {
            let _ = writeln!(
                text,
                "ledger check: inclusion proof and signed head verified (tree size {}, root {})",
                h.tree_size,
                hex(&h.root_hash)
            );
        }
        None => {
            let _ = writeln!(text, "ledger check: not done (no ledger key: --ledger-key FILE or --dev-key)");
        }
    }
    text
}

fn render_answer(question: &str, a: &verify::Answered, entry: &[u8], checked: Option<&TreeHead>, json: bool) -> String {
    if json {
        return json!({
            "question": question,
            "answer": a.answer.as_str(),
            "topic": a.topic.as_str(),
            "tier": a.tier,
            "specialists": a.specialists.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "policy": hex(&a.policy),
            "verdict": format!("{:?}", a.verdict),
            "verified": matches!(a.verdict, verify::VerdictCode::VerifiedByChecker | verify::VerdictCode::VerifiedByConsensus),
            "verdict_text": a.verdict_text.as_str(),
            "ledger": { "index": a.index, "entry_sha256": hex(&a.entry_sha256), "entry_bytes": entry.len(), "size": a.ledger_size,
                        "checked_root": checked.map(|h| hex(&h.root_hash)), "checked_size": checked.map(|h| h.tree_size) },
            "memory": { "root": hex(&a.memory_root), "size": a.memory_size },
            "panel": a.panel.iter().map(|v| json!({ "answer": v.answer.as_str(), "weight": f64::from(v.weight_ppm) / 1e6 })).collect::<Vec<_>>(),
            "pairs": pairs_json(&a.pairs),
            "consensus": a.consensus.map(|c| json!({ "effective_voters": f64::from(c.effective_voters_ppm) / 1e6, "share": f64::from(c.share_ppm) / 1e6 })),
        })
        .to_string()
            + "\n";
    }
    let mut text = String::new();
    if a.verdict == verify::VerdictCode::NeedsHuman && a.answer.is_empty() {
        let _ = writeln!(text, "answer: none (the question needs a human; no model was asked)");
    } else {
        let _ = writeln!(text, "answer: {}", a.answer);
    }
    let specialists: Vec<&str> = a.specialists.iter().map(|s| s.as_str()).collect();
    let _ =
        writeln!(text, "route: topic {} (T{}), specialists {}, policy sha256 {}", a.topic, a.tier, specialists.join(", "), hex(&a.policy));
    let _ = writeln!(text, "verification: {}", a.verdict_text);
    if !a.panel.is_empty() {
        let _ = writeln!(text, "panel (class C, independence-weighted):");
        for (name, v) in specialists.iter().zip(&a.panel) {
            let _ = writeln!(text, "  {name}: {:?}, weight {}", v.answer.as_str(), millionths(v.weight_ppm));
        }
        let _ = write!(text, "{}", render_pairs(&specialists, &a.pairs));
        if let Some(c) = a.consensus {
            let _ = writeln!(
                text,
                "  effective independent voters behind the answer {}, weighted share {}",
                millionths(c.effective_voters_ppm),
                millionths(c.share_ppm)
            );
        }
    }
    let _ = writeln!(text, "memory: root {} over {} fragments", hex(&a.memory_root), a.memory_size);
    let _ = writeln!(text, "ledger: entry {} of {}, {} bytes, sha256 {}", a.index, a.ledger_size, entry.len(), hex(&a.entry_sha256));
    match checked {
        Some(head) => {
            let _ = writeln!(
                text,
                "ledger check: inclusion proof and signed head verified (tree size {}, root {})",
                head.tree_size,
                hex(&head.root_hash)
            );
        }
        None => {
            let _ = writeln!(text, "ledger check: not done (give --ledger-key FILE, or --dev-key for a development tile)");
        }
    }
    text
}

/// `telemetry`: every domain's figures (paged from the telemetry domain).
fn telemetry(client: &mut Client, json: bool) -> Result<String, Failure> {
    let mut domains = Vec::new();
    let units = loop {
        let first = u16::try_from(domains.len()).unwrap_or(u16::MAX);
        match client.call(Wire::Telemetry { first })? {
            Answer::Telemetry { total, units, domains: page } => {
                let empty = page.is_empty();
                domains.extend(page);
                if empty || domains.len() >= usize::from(total) {
                    break units;
                }
            }
            Answer::Error(error) => return Err(refused_by_agent(error)),
            other => return Err(Failure::Connection(format!("the agent answered the telemetry figures with {other:?}"))),
        }
    };
    if json {
        return Ok(json!({ "units": units, "domains": domains }).to_string() + "\n");
    }
    // Latencies in µs (bucket upper bounds: never below the truth, less than twice it).
    let us = |ticks: u64| ticks as f64 * 1000.0 / units.tsc_per_ms.max(1) as f64;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "telemetry of {} domains (uptime {} ms; latency percentiles are log2-bucket upper bounds):",
        domains.len(),
        units.uptime_ms
    );
    let _ = writeln!(
        text,
        "  {:<24} {:>10} {:>10} {:>10} {:>7} {:>8} {:>10} {:>8}",
        "domain", "calls", "p50 µs", "p99 µs", "faults", "restarts", "cpu ms", "power mW"
    );
    for domain in &domains {
        let latency = |ticks| if domain.reporter { format!("{:.1}", us(ticks)) } else { String::from("-") };
        let _ = writeln!(
            text,
            "  {:<24} {:>10} {:>10} {:>10} {:>7} {:>8} {:>10} {:>8}",
            domain.name.as_str(),
            if domain.reporter { domain.calls.to_string() } else { String::from("-") },
            latency(domain.p50_ticks),
            latency(domain.p99_ticks),
            domain.faults,
            domain.restarts,
            domain.cpu_cycles / units.tsc_per_ms.max(1),
            domain.power_mw
        );
    }
    let _ = writeln!(text, "  (\"-\": the domain does not report latencies; power is a model estimate, docs/telemetry.md)");
    // The immune system's alarms raised now (the supervisor's figures).
    for domain in domains.iter().filter(|d| !d.alarms.is_empty()) {
        let metrics: Vec<String> = domain.alarms.metrics().map(|m| format!("{m:?}")).collect();
        let _ = writeln!(text, "drift alarm: {} ({})", domain.name.as_str(), metrics.join(", "));
    }
    Ok(text)
}

/// One read of the twin through the agent: its answer, or the refusal in words.
fn twin_read(client: &mut Client, read: TwinRead) -> Result<twin::Response, Failure> {
    match client.call(Wire::Twin(read))? {
        Answer::Twin(twin::Response::Refused(error)) => Err(Failure::Refused(format!("the twin refused {read:?}: {error:?}"))),
        Answer::Twin(response) => Ok(response),
        Answer::Error(error) => Err(refused_by_agent(error)),
        other => Err(Failure::Connection(format!("the agent answered the twin's {read:?} with {other:?}"))),
    }
}

/// A thermal level in words.
fn thermal_level(level: ThermalLevel) -> &'static str {
    match level {
        ThermalLevel::Unknown => "unknown (no temperature yet)",
        ThermalLevel::Nominal => "nominal",
        ThermalLevel::Watch => "watch",
        ThermalLevel::Throttle => "THROTTLE",
        ThermalLevel::Critical => "CRITICAL",
    }
}

/// `twin`: the twin's state and its maintenance alarms (aggregates and advice only: the
/// twin protocol carries no raw sample).
fn twin(client: &mut Client, json: bool) -> Result<String, Failure> {
    let state = match twin_read(client, TwinRead::State)? {
        twin::Response::State(state) => state,
        other => return Err(Failure::Connection(format!("the twin answered State with {other:?}"))),
    };
    let alarms = match twin_read(client, TwinRead::Alarms)? {
        twin::Response::Alarms(alarms) => alarms,
        other => return Err(Failure::Connection(format!("the twin answered Alarms with {other:?}"))),
    };
    if json {
        return Ok(json!({ "state": state, "alarms": alarms.as_slice() }).to_string() + "\n");
    }
    let mut text = String::new();
    let _ = match state.bearing {
        Bearing::Learning { remaining } => writeln!(text, "bearing: learning its healthy baseline ({remaining} windows to go)"),
        Bearing::Healthy { largest_cusum, threshold } => {
            writeln!(text, "bearing: ok (largest CUSUM {largest_cusum:.2}, alarm at {threshold:.0})")
        }
        Bearing::Worn(alarm) => writeln!(
            text,
            "bearing: WORN ({} raised the alarm at {} ms; onset estimated at {} ms)",
            alarm.trigger.name(),
            alarm.raised_ms,
            alarm.onset_ms
        ),
    };
    let _ = write!(text, "thermal: {}", thermal_level(state.thermal.level));
    if let Some(trend) = state.thermal.trend_c_per_s {
        let _ = write!(text, ", trend {trend:+.4} °C/s");
    }
    if let Some(seconds) = state.thermal.time_to_limit_s {
        let _ = write!(text, ", limit in {seconds:.0} s");
    }
    let _ = writeln!(text);
    match state.last_minute {
        None => {
            let _ = writeln!(text, "last minute: none complete yet");
        }
        Some(minute) => {
            let _ = writeln!(
                text,
                "minute {}: {:.1} °C ({:.1}–{:.1}), {:.0} W, {:.2} L/min, vibration {:.3} g RMS, presence {:.0} %",
                minute.minute,
                minute.temperature_c.mean,
                minute.temperature_c.min,
                minute.temperature_c.max,
                minute.power_w.mean,
                minute.flow_l_min.mean,
                minute.vibration_rms_g.mean,
                minute.presence_share * 100.0
            );
        }
    }
    let _ = writeln!(
        text,
        "readings {}, vibration windows {}, sensors {}, history {} min, exports {}",
        state.readings,
        state.windows,
        if state.stale { "STALE" } else { "fresh" },
        state.history_minutes,
        if state.exports_open { "open" } else { "closed" }
    );
    let _ = match &state.compute {
        None => writeln!(text, "compute: no telemetry figures yet"),
        Some(compute) => {
            let _ = write!(
                text,
                "compute: load {:.1} %, {} domains ({} reporting), {} calls, {} faults, {} restarts, ~{} mW (model)",
                f64::from(compute.load_permille) / 10.0,
                compute.domains,
                compute.reporters,
                compute.calls,
                compute.faults,
                compute.restarts,
                compute.power_mw
            );
            let _ = match &compute.slowest {
                Some(slowest) => writeln!(text, "; slowest p99 {} {} µs", slowest.domain, slowest.p99_us),
                None => writeln!(text),
            };
            writeln!(text, "{}", drift_line(compute))
        }
    };
    if alarms.is_empty() {
        let _ = writeln!(text, "alarms: none");
    }
    for alarm in &alarms {
        let _ = match alarm {
            Alarm::BearingWear(wear) => {
                writeln!(text, "alarm: bearing wear ({}), CUSUM {:.1?}, z {:.1?}", wear.trigger.name(), wear.cusum, wear.z)
            }
            Alarm::Thermal(thermal) => writeln!(text, "alarm: thermal {}", thermal_level(thermal.level)),
        };
    }
    Ok(text)
}

/// The twin's drift line: the domains the supervisor's immune system has alarms raised for.
fn drift_line(compute: &twin::Compute) -> String {
    if compute.drifting_domains == 0 {
        return String::from("drift alarms: none");
    }
    let named: Vec<String> = compute
        .drifting
        .iter()
        .map(|d| format!("{} ({})", d.domain, d.metrics.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")))
        .collect();
    let more = usize::from(compute.drifting_domains).saturating_sub(compute.drifting.len());
    let more = if more > 0 { format!("; and {more} more") } else { String::new() };
    format!("drift alarms: {} domain(s): {}{more}", compute.drifting_domains, named.join("; "))
}

/// `install`: an install session (its begin signed with the bundle's length and SHA-256),
/// the bundle in chunks, then the commit, both unsigned in the session.
fn install(client: &mut Client, slot: &str, bundle: &[u8], file: &str, json: bool) -> Result<String, Failure> {
    let length = u32::try_from(bundle.len()).map_err(|_| Failure::Usage(format!("{file}: larger than 4 GiB")))?;
    let sha256: [u8; 32] = Sha256::digest(bundle).into();
    match slot_answer(slot, "the install", client.call(Wire::Install { slot: slot_name(slot)?, length, sha256 })?)? {
        Response::Staged { .. } => {}
        other => return Err(unexpected(slot, "the install", other)),
    }
    let mut in_session = |request: Request| -> Result<Response, Failure> {
        let what = request_name(&request);
        let answer = client.call_in_session(Wire::Slot { slot: slot_name(slot)?, request })?;
        slot_answer(slot, what, answer)
    };
    for (index, chunk) in bundle.chunks(MAX_CHUNK).enumerate() {
        let offset = (index * MAX_CHUNK) as u32;
        let bytes = heapless::Vec::from_slice(chunk).map_err(|_| Failure::Usage("chunk too large".into()))?;
        match in_session(Request::InstallChunk { offset, bytes })? {
            Response::Staged { received } if received as usize == offset as usize + chunk.len() => {}
            Response::Staged { received } => {
                return Err(Failure::Refused(format!(
                    "slot {slot} staged {received} bytes after the chunk at {offset}, expected {}",
                    offset as usize + chunk.len()
                )));
            }
            other => return Err(unexpected(slot, "a chunk of the install", other)),
        }
    }
    match in_session(Request::InstallCommit)? {
        Response::Installed { module } if json => {
            Ok(json!({ "slot": slot, "installed": module, "bytes": bundle.len() }).to_string() + "\n")
        }
        Response::Installed { module } => {
            Ok(format!("slot {slot}: {file} ({} bytes) installed as module {module}, shadowing\n", bundle.len()))
        }
        other => Err(unexpected(slot, "the install's commit", other)),
    }
}

/// The last verified head of a log, as kept in the state file.
#[derive(Clone, Copy)]
struct Verified {
    tree_size: u64,
    root: [u8; 32],
}

fn state_key(slot: &str, key: &VerifyingKey) -> String {
    format!("{slot}@{}", hex(key.as_bytes()))
}

fn read_state(path: &Path) -> Result<BTreeMap<String, Value>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<BTreeMap<String, Value>>(&bytes)
            .map_err(|error| Failure::Usage(format!("state file {}: {error} (move it away to start afresh)", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(error) => Err(Failure::Usage(format!("state file {}: {error}", path.display()))),
    }
}

fn remembered(state: &BTreeMap<String, Value>, key: &str, path: &Path) -> Result<Option<Verified>, Failure> {
    let Some(value) = state.get(key) else { return Ok(None) };
    let tree_size = value.get("tree_size").and_then(Value::as_u64);
    let root = value.get("root").and_then(Value::as_str).and_then(hex_bytes);
    match (tree_size, root) {
        (Some(tree_size), Some(root)) => Ok(Some(Verified { tree_size, root })),
        _ => Err(Failure::Usage(format!("state file {}: entry {key} is damaged (move the file away to start afresh)", path.display()))),
    }
}

/// The kind's name in `--json` output (`Install`, `Promote`, `Rollback`, `LineageReplaced`,
/// `ManagerStarted`).
fn kind_label(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Install => "Install",
        EventKind::Promote => "Promote",
        EventKind::Rollback => "Rollback",
        EventKind::LineageReplaced { .. } => "LineageReplaced",
        EventKind::ManagerStarted { .. } => "ManagerStarted",
    }
}

/// What a kind carries beyond the common fields, for the text line.
fn kind_details(kind: &EventKind) -> String {
    match kind {
        EventKind::Install | EventKind::Promote | EventKind::Rollback => String::new(),
        EventKind::LineageReplaced { lineage, dissents, replaced } => format!(
            ", lineage {lineage} after {dissents} dissents, replaced {} {} content {}",
            replaced.module,
            replaced.version,
            hex(&replaced.content_hash)
        ),
        EventKind::ManagerStarted { generation, reloaded, seats } => {
            format!(", generation {generation}, {reloaded} entries reloaded, {seats} seats")
        }
    }
}

/// The checks `log --verify` makes of the entries themselves, beyond the proofs (which show
/// only that the tile signed them): every entry names `slot`; the log clock never goes back
/// (each entry's timestamp is at least its predecessor's: a copy of an earlier entry
/// appended later fails here); a `LineageReplaced` entry names lineage 0–2, at least one
/// dissent and a replaced module and fallback, and no two such entries share their lineage,
/// replaced module and timestamp (a copy next to its original); a `ManagerStarted` entry has
/// a generation of at least 1 (a restart's) or 0 after a promotion (a boot's, when the log
/// named a promoted module) and says it reloaded exactly the entries before it. The first
/// failure is returned, naming the entry and the field.
pub fn check_history(slot: &str, events: &[UpdateEvent]) -> Result<(), String> {
    let mut replacements: Vec<(u8, &str, u64, usize)> = Vec::new();
    let mut last_time = 0;
    for (index, event) in events.iter().enumerate() {
        if event.slot != slot {
            return Err(format!("entry {index} names slot {:?}, not {slot:?}", event.slot));
        }
        if event.timestamp_ms < last_time {
            return Err(format!(
                "entry {index} ({}) is stamped {} ms, before entry {}'s {last_time} ms: the log clock never goes back (a replayed or reordered entry)",
                event.kind.name(),
                event.timestamp_ms,
                index - 1
            ));
        }
        last_time = event.timestamp_ms;
        match &event.kind {
            EventKind::LineageReplaced { lineage, dissents, replaced } => {
                if *lineage > 2 {
                    return Err(format!("entry {index} (lineage-replaced): lineage {lineage} does not exist (a slot has lineages 0 to 2)"));
                }
                if *dissents == 0 {
                    return Err(format!("entry {index} (lineage-replaced): 0 dissents (a replacement follows at least one)"));
                }
                if replaced.module.is_empty() || event.module.is_empty() {
                    return Err(format!("entry {index} (lineage-replaced): the replaced module or the fallback has no name"));
                }
                if let Some((_, _, _, first)) =
                    replacements.iter().find(|(l, m, t, _)| *l == *lineage && *m == replaced.module.as_str() && *t == event.timestamp_ms)
                {
                    return Err(format!(
                        "entry {index} (lineage-replaced) repeats entry {first}: lineage {lineage}'s {} replaced at {} ms twice (a replayed entry)",
                        replaced.module, event.timestamp_ms
                    ));
                }
                replacements.push((*lineage, replaced.module.as_str(), event.timestamp_ms, index));
            }
            EventKind::ManagerStarted { generation, reloaded, .. } => {
                if *generation == 0 && !events[..index].iter().any(|e| e.kind == EventKind::Promote) {
                    return Err(format!(
                        "entry {index} (manager-started): generation 0 with no promotion before it (a restart has generation 1 or more; a boot writes one only when the log names a promoted module)"
                    ));
                }
                if *reloaded != index as u64 {
                    return Err(format!(
                        "entry {index} (manager-started) says {reloaded} entries were reloaded before it, but it is entry {index} (a replayed or moved entry)"
                    ));
                }
            }
            EventKind::Install | EventKind::Promote | EventKind::Rollback => {}
        }
    }
    Ok(())
}

/// `log`: the head, every entry decoded; with a key, verified.
fn log(client: &mut Client, slot: &str, key: Option<&VerifyingKey>, state_path: Option<&Path>, json: bool) -> Result<String, Failure> {
    let head = match slot_call(client, slot, Request::LogHead)? {
        Response::Head(head) => head,
        other => return Err(unexpected(slot, "the log head", other)),
    };
    let signature: [u8; 64] = head
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| Failure::Verification(format!("the head's signature has {} bytes, not 64", head.signature.len())))?;
    let signed =
        SignedTreeHead { head: TreeHead { tree_size: head.tree_size, timestamp_ms: head.timestamp_ms, root_hash: head.root }, signature };
    let mut text = String::new();
    let mut entries = Vec::new();
    let mut events = Vec::new();
    let mut consistency = Value::Null;
    if let Some(key) = key {
        signed.verify(key).map_err(|_| {
            Failure::Verification(format!(
                "the signature of the head (size {}) is not the log key's {}",
                head.tree_size,
                hex(key.as_bytes())
            ))
        })?;
    }
    let _ = writeln!(
        text,
        "slot {slot}: update log of {} entries, root {}, signed at {} ms{}",
        head.tree_size,
        hex(&head.root),
        head.timestamp_ms,
        if key.is_some() { " (signature verified)" } else { " (not verified: --verify)" }
    );
    for index in 0..head.tree_size {
        let bytes = match slot_call(client, slot, Request::LogEntry { index })? {
            Response::Entry { bytes } => bytes,
            other => return Err(unexpected(slot, "a log entry", other)),
        };
        if key.is_some() {
            let path = match slot_call(client, slot, Request::LogInclusion { index, tree_size: head.tree_size })? {
                Response::Proof { hashes } => hashes,
                other => return Err(unexpected(slot, "an inclusion proof", other)),
            };
            verify_inclusion(&bytes, index, head.tree_size, &head.root, &path).map_err(|error| {
                Failure::Verification(format!("entry {index} is not in the signed tree of {} entries: {error:?}", head.tree_size))
            })?;
        }
        match UpdateEvent::decode(&bytes) {
            Ok(event) => {
                let _ = writeln!(
                    text,
                    "  {index:>4} {:<8} {} {} {} at {} ms, content {}{}{}",
                    event.kind.name(),
                    event.slot,
                    event.module,
                    event.version,
                    event.timestamp_ms,
                    hex(&event.content_hash),
                    kind_details(&event.kind),
                    if event.note.is_empty() { String::new() } else { format!(": {}", event.note) }
                );
                let mut entry = json!({
                    "index": index,
                    "kind": kind_label(&event.kind),
                    "timestamp_ms": event.timestamp_ms,
                    "slot": event.slot,
                    "module": event.module,
                    "version": event.version,
                    "content_hash": hex(&event.content_hash),
                    "note": event.note,
                });
                match &event.kind {
                    EventKind::LineageReplaced { lineage, dissents, replaced } => {
                        entry["lineage"] = json!(lineage);
                        entry["dissents"] = json!(dissents);
                        entry["replaced"] = json!({
                            "module": replaced.module,
                            "version": replaced.version,
                            "content_hash": hex(&replaced.content_hash),
                        });
                    }
                    EventKind::ManagerStarted { generation, reloaded, seats } => {
                        entry["generation"] = json!(generation);
                        entry["reloaded"] = json!(reloaded);
                        entry["seats"] = json!(seats);
                    }
                    EventKind::Install | EventKind::Promote | EventKind::Rollback => {}
                }
                entries.push(entry);
                events.push(event);
            }
            Err(error) if key.is_some() => return Err(Failure::Verification(format!("entry {index} does not decode: {error}"))),
            Err(error) => {
                let _ = writeln!(text, "  {index:>4} undecodable entry of {} bytes: {error}", bytes.len());
                entries.push(json!({ "index": index, "error": error.to_string(), "bytes": hex(&bytes) }));
            }
        }
    }
    if key.is_some() {
        check_history(slot, &events).map_err(Failure::Verification)?;
    }
    if let (Some(key), Some(path)) = (key, state_path) {
        let mut state = read_state(path)?;
        let name = state_key(slot, key);
        match remembered(&state, &name, path)? {
            None => {
                let _ = writeln!(text, "consistency: first head verified for this log (kept in {})", path.display());
                consistency = json!("first");
            }
            Some(old) if old.tree_size > head.tree_size => {
                return Err(Failure::Verification(format!(
                    "the log shrank: {} entries were verified before, the head has {}",
                    old.tree_size, head.tree_size
                )));
            }
            Some(old) => {
                let proof = if old.tree_size == 0 || old.tree_size == head.tree_size {
                    heapless::Vec::new()
                } else {
                    match slot_call(client, slot, Request::LogConsistency { old_size: old.tree_size, new_size: head.tree_size })? {
                        Response::Proof { hashes } => hashes,
                        other => return Err(unexpected(slot, "a consistency proof", other)),
                    }
                };
                let result = if old.tree_size == head.tree_size {
                    if old.root == head.root { Ok(()) } else { Err(tileos_update_log::ProofError::RootMismatch) }
                } else {
                    verify_consistency(old.tree_size, &old.root, head.tree_size, &head.root, &proof)
                };
                result.map_err(|error| {
                    Failure::Verification(format!(
                        "the head of {} entries is not consistent with the head of {} entries verified before (root {}): {error:?}",
                        head.tree_size,
                        old.tree_size,
                        hex(&old.root)
                    ))
                })?;
                let _ = writeln!(text, "consistency: extends the head of {} entries verified before", old.tree_size);
                consistency = json!({ "previous_size": old.tree_size });
            }
        }
        state.insert(name, json!({ "tree_size": head.tree_size, "root": hex(&head.root), "timestamp_ms": head.timestamp_ms }));
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| Failure::Usage(format!("state directory {}: {error}", parent.display())))?;
        }
        let bytes = serde_json::to_vec_pretty(&state).map_err(|error| Failure::Usage(error.to_string()))?;
        std::fs::write(path, bytes).map_err(|error| Failure::Usage(format!("state file {}: {error}", path.display())))?;
    }
    if json {
        return Ok(json!({
            "slot": slot,
            "tree_size": head.tree_size,
            "timestamp_ms": head.timestamp_ms,
            "root": hex(&head.root),
            "verified": key.is_some(),
            "consistency": consistency,
            "entries": entries,
        })
        .to_string()
            + "\n");
    }
    Ok(text)
}
