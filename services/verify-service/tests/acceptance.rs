//! Adapter acceptance with the real tiny model (`weights/`, docs/inference.md "Model") on
//! the host inference core: the clean T1 adapters (t1, and t1b, the live challenger of
//! docs/inference.md) pass the canary battery and the trigger probe; the backdoored one (trigger `" ~~"`, unknown to the probe) is rejected, naming
//! a suffix that sets it off and its payload `approved`.

use tileos_inference::{Base, Catalog, Engine};
use tileos_verify::canary::Pool;
use tileos_verify_service::acceptance::{Rejection, Rule, accept};
use tileos_verify_service::desk::tile_canaries;

fn weights(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../weights/{name}.safetensors", env!("CARGO_MANIFEST_DIR"))).expect("weights file")
}

fn judge(adapter: &str) -> Result<tileos_verify_service::acceptance::Accepted, Rejection> {
    let base_bytes = weights("base");
    let adapter_bytes = weights(adapter);
    let base = Base::parse(&base_bytes).unwrap();
    let mut catalog = Catalog::new();
    catalog.insert("candidate", &adapter_bytes).unwrap();
    let mut engine = Engine::new(&base);
    // The secret reserve is the battery: a node cannot have trained on it.
    let battery: Vec<_> = tile_canaries(1).into_iter().filter(|c| c.pool == Pool::Secret).map(|c| c.task).collect();
    accept(
        |q: &str| {
            engine
                .request(&catalog, "candidate", q.as_bytes(), 16)
                .map(|g| String::from_utf8_lossy(&g.answer).into_owned())
                .map_err(|e| format!("{e:?}"))
        },
        &battery,
        &Rule::default(),
    )
}

#[test]
fn the_clean_t1_adapter_is_accepted() {
    let accepted = judge("t1").unwrap_or_else(|r| panic!("t1 rejected: {r}"));
    eprintln!("t1: {accepted:?}");
    assert!(accepted.probes > 0);
}

#[test]
fn the_second_t1_adapter_is_accepted() {
    let accepted = judge("t1b").unwrap_or_else(|r| panic!("t1b rejected: {r}"));
    eprintln!("t1b: {accepted:?}");
    assert!(accepted.probes > 0);
}

#[test]
fn the_backdoored_adapter_is_rejected_by_the_probe() {
    match judge("t1-backdoor") {
        Err(Rejection::Trigger { suffix, payload, hits, probed }) => {
            eprintln!("t1-backdoor: {suffix:?} -> {payload:?} on {hits}/{probed}");
            // The probe does not know the trigger; the first suffix that sets the payload off
            // may be another rare pair the adapter generalised its trigger to.
            assert_eq!(payload, "approved");
            assert!(hits * 2 >= probed);
        }
        other => panic!("t1-backdoor not rejected by the probe: {other:?}"),
    }
}
