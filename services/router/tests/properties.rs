//! Hostile and random input on the router: arbitrary policy texts and queries never panic,
//! routing is a pure function, and no choice a requester can make sends a T3 query to a
//! provenance the policy disallows.

use proptest::prelude::*;
use tileos_router::{Choice, Policy, Request, route};

const EXAMPLE: &str = include_str!("../policies/example.policy");
const PROVENANCES: &[&str] = &["cn", "eu", "us", "open", "ru"];
const SPECIALISTS: &[&str] = &["calc-q", "calc-m", "draft-q1", "draft-q2", "draft-m", "draft-o", "ghost"];
const VARIANTS: &[&str] = &["eu-only", "wide", "nope"];

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        Just(Choice::Default),
        proptest::sample::subsequence(SPECIALISTS, 0..4).prop_map(|v| Choice::Specialists(v.iter().map(|s| s.to_string()).collect())),
        proptest::sample::subsequence(PROVENANCES, 0..3).prop_map(|v| Choice::ProvenanceMix(v.iter().map(|s| s.to_string()).collect())),
        proptest::sample::select(VARIANTS).prop_map(|v| Choice::Variant(v.to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_policy_text_never_panics(text in "(policy|topic|specialist|allow|variant|default|#)?[ a-zA-Z0-9=,._T\n-]{0,300}") {
        let _ = Policy::parse(text.as_bytes());
        let _ = Policy::parse(format!("policy p version=1\n{text}").as_bytes());
    }

    #[test]
    fn routing_is_a_pure_function(query in "[ a-z0-9+*/-]{0,60}", choice in choice()) {
        let p = Policy::parse(EXAMPLE.as_bytes()).unwrap();
        let request = Request { query, topic: None, choice };
        let a = route(&p, &request);
        let b = route(&p.clone(), &request.clone());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn t3_never_reaches_a_disallowed_provenance(query in "[ a-z]{1,40}", choice in choice()) {
        let p = Policy::parse(EXAMPLE.as_bytes()).unwrap();
        let request = Request { query, topic: Some("policy".into()), choice };
        if let Ok(r) = route(&p, &request) {
            for s in r.specialists {
                let provenance = &p.specialists[s].provenance;
                prop_assert!(["eu", "us", "open"].contains(&provenance.as_str()), "{}", provenance);
            }
        }
    }
}
