//! `tilectl ledger`'s rendering of a challenge step, as text and JSON (the fetch and check
//! against a running tile are in the `ask` boot test).

use tileos_tilectl::render_logged;
use tileos_update_log::TreeHead;
use tileos_verify::ledger::{AdapterRef, ChallengeEntry, ChallengeStep, Evidence, Logged};

#[test]
fn a_challenge_step_renders_with_both_digests_and_its_tallies() {
    let step = ChallengeEntry {
        slot: "t1".into(),
        incumbent: AdapterRef { name: "t1".into(), digest: [0x11; 32] },
        challenger: AdapterRef { name: "t1b".into(), digest: [0x22; 32] },
        step: ChallengeStep::RolledBack,
        shadow: [Evidence { asked: 6, passed: 1 }, Evidence { asked: 6, passed: 6 }],
        window: [Evidence { asked: 6, passed: 0 }, Evidence { asked: 6, passed: 6 }],
    };
    let logged = Logged::Challenge(step);
    let bytes = logged.encode().unwrap();
    let head = TreeHead { tree_size: 19, timestamp_ms: 5, root_hash: [0x33; 32] };
    let text = render_logged(18, &bytes, &logged, Some(&head), false);
    assert!(text.starts_with("ledger entry 18: challenge of slot t1: RolledBack\n"), "{text}");
    assert!(text.contains(&format!("challenger t1b (file sha256 {}): live 6/6 passed", "22".repeat(32))), "{text}");
    assert!(text.contains("rollback window: promoted 0/6, old 6/6 passed"), "{text}");
    assert!(text.contains("ledger check: inclusion proof and signed head verified (tree size 19"), "{text}");
    let unchecked = render_logged(18, &bytes, &logged, None, false);
    assert!(unchecked.contains("ledger check: not done"), "{unchecked}");

    let json: serde_json::Value = serde_json::from_str(&render_logged(18, &bytes, &logged, Some(&head), true)).unwrap();
    assert_eq!(json["index"], 18);
    assert_eq!(json["checked_size"], 19);
    assert_eq!(json["entry"]["kind"], "challenge");
    assert_eq!(json["entry"]["step"], "RolledBack");
    assert_eq!(json["entry"]["incumbent"]["sha256"], "11".repeat(32));
    assert_eq!(json["entry"]["window"]["promoted"]["passed"], 0);
    assert_eq!(json["entry"]["shadow"]["challenger"]["asked"], 6);
}
