//! `tileos-route`: route a query under a signed routing policy, or re-run the routing of a
//! logged query and check it against the ledger entry (seed `002_…`: "anyone can run the same
//! policy on the same query and get the same routing").
//!
//! ```text
//! tileos-route route  --policy FILE --sig FILE --key FILE [--topic T]
//!                     [--specialists a,b | --mix p,q | --variant V] QUERY...
//! tileos-route replay --policy FILE --sig FILE --key FILE --entry FILE
//! ```
//!
//! `--sig` and `--key` are files holding hex (64-byte signature, 32-byte Ed25519 public key);
//! `--entry` is an encoded ledger entry (`tileos_verify::ledger::LedgerEntry::encode`).
//! `replay` prints the route and exits 0 when it equals the logged one, 1 when it differs,
//! 2 on any error (named on stderr).

use std::process::ExitCode;

use ed25519_dalek::VerifyingKey;
use tileos_router::route::Hex;
use tileos_router::{Choice, Policy, Request, route};
use tileos_verify::ledger::LedgerEntry;

fn hex_file<const N: usize>(path: &str, what: &str) -> Result<[u8; N], String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{what} file {path}: {e}"))?;
    let text = text.trim();
    if text.len() != 2 * N {
        return Err(format!("{what} file {path}: expected {} hex digits, found {}", 2 * N, text.len()));
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| format!("{what} file {path}: not hex at digit {}", 2 * i))?;
    }
    Ok(out)
}

struct Args {
    flags: Vec<(String, String)>,
    words: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut flags, mut words) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            let value = it.next().ok_or(format!("--{name} needs a value"))?;
            flags.push((name.to_string(), value.clone()));
        } else {
            words.push(a.clone());
        }
    }
    Ok(Args { flags, words })
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or(format!("missing --{name}"))
    }
}

fn load_policy(args: &Args) -> Result<Policy, String> {
    let path = args.required("policy")?;
    let text = std::fs::read(path).map_err(|e| format!("policy file {path}: {e}"))?;
    let sig = hex_file::<64>(args.required("sig")?, "signature")?;
    let key = VerifyingKey::from_bytes(&hex_file::<32>(args.required("key")?, "key")?)
        .map_err(|_| "key is not an Ed25519 public key".to_string())?;
    Policy::verify_and_parse(&text, &sig, &key).map_err(|e| format!("{path}: {e}"))
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::to_string).collect()
}

fn run(argv: &[String]) -> Result<bool, String> {
    let (command, rest) = argv.split_first().ok_or("usage: tileos-route route|replay ...")?;
    let args = parse_args(rest)?;
    let policy = load_policy(&args)?;
    match command.as_str() {
        "route" => {
            let choice = match (args.get("specialists"), args.get("mix"), args.get("variant")) {
                (None, None, None) => Choice::Default,
                (Some(s), None, None) => Choice::Specialists(list(s)),
                (None, Some(m), None) => Choice::ProvenanceMix(list(m)),
                (None, None, Some(v)) => Choice::Variant(v.to_string()),
                _ => return Err("give at most one of --specialists, --mix, --variant".into()),
            };
            let request = Request { query: args.words.join(" "), topic: args.get("topic").map(str::to_string), choice };
            let r = route(&policy, &request).map_err(|e| e.to_string())?;
            print!("{}", r.render(&policy));
            Ok(true)
        }
        "replay" => {
            let path = args.required("entry")?;
            let bytes = std::fs::read(path).map_err(|e| format!("entry file {path}: {e}"))?;
            let entry = LedgerEntry::decode(&bytes).map_err(|e| format!("entry file {path}: {e}"))?;
            if entry.policy != policy.digest {
                return Err(format!("entry was routed under policy {}, this is {}", Hex(&entry.policy), Hex(&policy.digest)));
            }
            let request = Request::decode(&entry.query, &entry.request).map_err(|e| e.to_string())?;
            let r = route(&policy, &request).map_err(|e| e.to_string())?;
            print!("{}", r.render(&policy));
            let same =
                r.specialist_refs(&policy) == entry.specialists && policy.topics[r.topic].name == entry.topic && r.tier == entry.tier;
            println!("{}", if same { "replay MATCH" } else { "replay MISMATCH: the logged route differs" });
            Ok(same)
        }
        other => Err(format!("unknown command '{other}' (route, replay)")),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tileos-route: {e}");
            ExitCode::from(2)
        }
    }
}
