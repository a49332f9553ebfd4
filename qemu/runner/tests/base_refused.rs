//! Boot test of the signed base (docs/inference.md "The signed base"), scenario
//! `base-refused` on a fresh disk: the loader is given the base's genuine signed bundle with
//! one weight byte flipped after signing. It must refuse it naming the fault
//! (`ContentHashMismatch`) and write nothing of it; the inference domain must serve no
//! base: a permitted client's requests (with an adapter, with the base alone, status) are
//! refused `NoBase` with the loader's fault, a stranger's by badge, and the domain keeps
//! answering (three requests each). The genuine bundle's acceptance is the `inference` and
//! `tile` boot tests'; the other faults (untrusted signer, an adapter's bundle as the base,
//! a signed payload that is not a base) are `tileos-inference`'s host tests.

use std::time::Duration;

use tileos_qemu::images::{fresh_disk, scenario_archive, test_images};
use tileos_qemu::{Machine, nvme_disk_args, run_until};

const TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn a_tampered_base_is_refused_by_the_loader_and_no_base_is_served() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let disk = fresh_disk("tile-base-refused.img", 32 << 20);
    let machine = Machine { extra_args: nvme_disk_args(&disk), ..Machine::default() };
    let markers = ["@event no-base-client.done domain=no-base-client", "@event no-base-client.done domain=no-base-stranger"];
    let outcome = run_until(
        &machine,
        &images.tile_boot(scenario_archive("base-refused")),
        &images.logs.join("tile-base-refused.log"),
        TIMEOUT,
        &markers,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at", "SERVED", "inference.ready", "model-loader.base "] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(80));
    }
    outcome.assert_event("model-loader.base-refused", &[("fault", "ContentHashMismatch")]);
    outcome.assert_event("inference.no-base", &[("domain", "inference"), ("fault", "ContentHashMismatch")]);
    assert!(
        outcome.serial.contains("model-loader: REFUSED the base's bundle"),
        "the loader's refusal is not logged:\n{}",
        outcome.tail(60)
    );
    for what in ["generate-t1", "generate-base", "status"] {
        outcome.assert_event(
            "no-base-client.refused",
            &[("domain", "no-base-client"), ("what", what), ("kind", "no-base"), ("fault", "ContentHashMismatch")],
        );
        outcome.assert_event(
            "no-base-client.refused",
            &[("domain", "no-base-stranger"), ("what", what), ("kind", "not-permitted"), ("badge", "145")],
        );
    }
    assert_eq!(outcome.events("no-base-client.refused").len(), 6, "{}", outcome.tail(60));
}
