//! The router against the example policy: reproducibility, tier provenance enforcement,
//! diverse panels, the requester's choice, and precise errors for every bad input.

use ed25519_dalek::SigningKey;
use tileos_router::policy::MAX_POLICY_LEN;
use tileos_router::{Choice, Class, Policy, PolicyError, PolicyErrorKind, Request, Route, RouteError, route, sign_policy};
use tileos_verify::Tier;
use tileos_verify::ledger::MAX_QUERY_LEN;

const EXAMPLE: &str = include_str!("../policies/example.policy");

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn policy() -> Policy {
    let sig = sign_policy(EXAMPLE.as_bytes(), &key());
    Policy::verify_and_parse(EXAMPLE.as_bytes(), &sig, &key().verifying_key()).unwrap()
}

fn req(query: &str, choice: Choice) -> Request {
    Request { query: query.into(), topic: None, choice }
}

fn names(p: &Policy, r: &Route) -> Vec<String> {
    r.specialists.iter().map(|&i| p.specialists[i].name.clone()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn routing_is_reproducible_byte_for_byte() {
    let queries = [
        "what is 17 * 23",
        "convert 5 km to mi",
        "write a short email to the crew",
        "our partner strategy for next year",
        "something with no keyword at all",
        "draft a poem about 3 + 4",
    ];
    let a = policy();
    let b = policy();
    for q in queries {
        for choice in [Choice::Default, Choice::Variant("wide".into()), Choice::ProvenanceMix(strings(&["eu"]))] {
            let ra = route(&a, &req(q, choice.clone()));
            let rb = route(&b, &req(q, choice.clone()));
            assert_eq!(ra, rb, "{q}");
            if let (Ok(ra), Ok(rb)) = (ra, rb) {
                assert_eq!(ra.encode(), rb.encode());
                assert_eq!(ra.render(&a), rb.render(&b));
            }
        }
    }
    // Pinned: the route of one query under this exact policy text.
    let r = route(&a, &req("write a short email to the crew", Choice::Default)).unwrap();
    assert_eq!(names(&a, &r), ["draft-q1", "draft-m", "draft-o"]);
}

#[test]
fn topics_tiers_and_classes() {
    let p = policy();
    let r = route(&p, &req("what is 17 * 23 plus 4", Choice::Default)).unwrap();
    assert_eq!((p.topics[r.topic].name.as_str(), r.tier, r.class), ("arith", Tier::T1, Class::A));
    assert_eq!(names(&p, &r), ["calc-q"], "class A: the most competent single specialist");
    let r = route(&p, &req("convert 3 kg to lb", Choice::Default)).unwrap();
    assert_eq!(p.topics[r.topic].name, "units");
    let r = route(&p, &req("draft a poem about 3 + 4", Choice::Default)).unwrap();
    assert_eq!(p.topics[r.topic].name, "drafts");
    assert_eq!(r.also.iter().map(|&t| p.topics[t].name.as_str()).collect::<Vec<_>>(), ["arith"]);
    let r = route(&p, &req("hello there", Choice::Default)).unwrap();
    assert_eq!(p.topics[r.topic].name, "drafts", "the default topic");
    let named = Request { topic: Some("units".into()), ..req("hello there", Choice::Default) };
    assert_eq!(p.topics[route(&p, &named).unwrap().topic].name, "units");
}

#[test]
fn consensus_panels_are_provenance_diverse_not_top_k() {
    let p = policy();
    let r = route(&p, &req("write a draft", Choice::Default)).unwrap();
    // Top-3 by competence would be draft-q1, draft-q2 (same lineage and provenance) and
    // draft-m; the diverse panel takes one qwen and adds mistral and olmo.
    assert_eq!(names(&p, &r), ["draft-q1", "draft-m", "draft-o"]);
    let wide = route(&p, &req("write a draft", Choice::Variant("wide".into()))).unwrap();
    assert_eq!(names(&p, &wide), ["draft-q1", "draft-m", "draft-o", "draft-q2"]);
}

#[test]
fn t3_never_reaches_a_disallowed_provenance() {
    let p = policy();
    let queries = ["partner strategy", "security policy for the tile", "defence partner review", "policy"];
    for q in queries {
        for choice in [Choice::Default, Choice::Variant("wide".into()), Choice::ProvenanceMix(strings(&["eu", "open"]))] {
            let r = route(&p, &req(q, choice)).unwrap();
            assert_eq!(r.tier, Tier::T3);
            for &s in &r.specialists {
                assert!(["eu", "us", "open"].contains(&p.specialists[s].provenance.as_str()), "{q}: {}", p.specialists[s].name);
            }
        }
    }
    // draft-q1 serves the policy topic and is the most competent, but its provenance is cn.
    let explicit = req("partner strategy", Choice::Specialists(strings(&["draft-m", "draft-q1"])));
    assert_eq!(
        route(&p, &explicit),
        Err(RouteError::ProvenanceDisallowed { specialist: "draft-q1".into(), provenance: "cn".into(), tier: Tier::T3 })
    );
    let mix = req("partner strategy", Choice::ProvenanceMix(strings(&["cn"])));
    assert_eq!(route(&p, &mix), Err(RouteError::MixDisallowed { provenance: "cn".into(), tier: Tier::T3 }));
    // The eu-only variant narrows T3 to a single lineage: refused rather than a one-lineage panel.
    let eu = req("partner strategy", Choice::Variant("eu-only".into()));
    assert_eq!(route(&p, &eu), Err(RouteError::NotDiverse { topic: "policy".into(), lineages: 1 }));
}

#[test]
fn requester_choices() {
    let p = policy();
    let r = route(&p, &req("write a draft", Choice::Specialists(strings(&["draft-o", "draft-q2"])))).unwrap();
    assert_eq!(names(&p, &r), ["draft-o", "draft-q2"]);
    let r = route(&p, &req("write a draft", Choice::ProvenanceMix(strings(&["open", "eu"])))).unwrap();
    assert_eq!(names(&p, &r), ["draft-o", "draft-m", "draft-q1"], "the mix first, then diversity-first filling");
    let twice = req("write a draft", Choice::ProvenanceMix(strings(&["open", "open"])));
    assert_eq!(route(&p, &twice), Err(RouteError::MixUnavailable("open".into())), "one open specialist, two asked");
    let r = route(&p, &req("17 * 23", Choice::Variant("eu-only".into()))).unwrap();
    assert_eq!(names(&p, &r), ["calc-m"], "the variant excludes cn");
    let r = route(&p, &req("17 * 23", Choice::ProvenanceMix(strings(&["eu"])))).unwrap();
    assert_eq!(names(&p, &r), ["calc-m"]);
}

#[test]
fn bad_requests_get_precise_errors() {
    let p = policy();
    assert_eq!(route(&p, &req("   ", Choice::Default)), Err(RouteError::EmptyQuery));
    let long = "x".repeat(MAX_QUERY_LEN + 1);
    assert_eq!(route(&p, &req(&long, Choice::Default)), Err(RouteError::QueryTooLong(MAX_QUERY_LEN + 1)));
    let unknown = Request { topic: Some("astrology".into()), ..req("hi", Choice::Default) };
    assert_eq!(route(&p, &unknown), Err(RouteError::UnknownTopic("astrology".into())));
    assert_eq!(route(&p, &req("hi", Choice::Variant("nope".into()))), Err(RouteError::UnknownVariant("nope".into())));
    assert_eq!(route(&p, &req("hi", Choice::Specialists(strings(&["ghost"])))), Err(RouteError::UnknownSpecialist("ghost".into())));
    assert_eq!(
        route(&p, &req("hi", Choice::Specialists(strings(&["draft-o", "draft-o"])))),
        Err(RouteError::DuplicateSpecialist("draft-o".into()))
    );
    assert_eq!(
        route(&p, &req("hi", Choice::Specialists(strings(&["calc-q"])))),
        Err(RouteError::NotForTopic { specialist: "calc-q".into(), topic: "drafts".into() })
    );
    assert_eq!(route(&p, &req("hi", Choice::ProvenanceMix(strings(&["us"])))), Err(RouteError::MixUnavailable("us".into())));
    assert_eq!(route(&p, &req("hi", Choice::Specialists(vec!["a".into(); 9]))), Err(RouteError::TooManyChoices));
    let no_default = Policy::parse(EXAMPLE.replace("default drafts", "").as_bytes()).unwrap();
    assert_eq!(route(&no_default, &req("hello there", Choice::Default)), Err(RouteError::NoTopic));
}

#[test]
fn wrong_signatures_are_refused() {
    let p = EXAMPLE.as_bytes();
    let sig = sign_policy(p, &key());
    let other = SigningKey::from_bytes(&[8; 32]);
    assert_eq!(Policy::verify_and_parse(p, &sig, &other.verifying_key()), Err(PolicyError::BadSignature));
    let altered = EXAMPLE.replace("allow T3 provenance=eu,us,open", "allow T3 provenance=eu,us,open,cn");
    assert_eq!(Policy::verify_and_parse(altered.as_bytes(), &sig, &key().verifying_key()), Err(PolicyError::BadSignature));
    let mut flipped = sig;
    flipped[10] ^= 1;
    assert_eq!(Policy::verify_and_parse(p, &flipped, &key().verifying_key()), Err(PolicyError::BadSignature));
    assert_eq!(Policy::verify_and_parse(p, &[0; 64], &key().verifying_key()), Err(PolicyError::BadSignature));
}

fn line_error(text: &str) -> PolicyError {
    Policy::parse(text.as_bytes()).unwrap_err()
}

#[test]
fn malformed_policies_name_line_and_field() {
    use PolicyErrorKind::*;
    let head = "policy p version=1\n";
    let bad = |key: &str, value: &str| BadValue { key: key.into(), value: value.into() };
    let cases: Vec<(String, PolicyError)> = vec![
        ("topic a tier=T1 class=A keywords=x\n".into(), PolicyError::Line(1, Header)),
        (format!("{head}policy q version=2\n"), PolicyError::Line(2, Header)),
        ("# nothing\n".into(), PolicyError::NoHeader),
        ("policy p\n".into(), PolicyError::Line(1, MissingKey("version"))),
        ("policy p version=x1\n".into(), PolicyError::Line(1, bad("version", "x1"))),
        (format!("{head}route a\n"), PolicyError::Line(2, UnknownDirective("route".into()))),
        (format!("{head}topic\n"), PolicyError::Line(2, MissingName)),
        (format!("{head}topic a/b tier=T1\n"), PolicyError::Line(2, BadName("a/b".into()))),
        (format!("{head}topic a tier\n"), PolicyError::Line(2, NotKeyValue("tier".into()))),
        (format!("{head}topic a colour=red\n"), PolicyError::Line(2, UnknownKey("colour".into()))),
        (format!("{head}topic a tier=T1 tier=T2\n"), PolicyError::Line(2, DuplicateKey("tier".into()))),
        (format!("{head}topic a tier=T4 class=A keywords=x\n"), PolicyError::Line(2, bad("tier", "T4"))),
        (format!("{head}topic a tier=T1 class=B keywords=x\n"), PolicyError::Line(2, bad("class", "B"))),
        (format!("{head}topic a tier=T2 class=C keywords=x\n"), PolicyError::Line(2, MissingKey("panel"))),
        (format!("{head}topic a tier=T2 class=C panel=9 keywords=x\n"), PolicyError::Line(2, bad("panel", "9"))),
        (format!("{head}topic a tier=T1 class=A panel=2 keywords=x\n"), PolicyError::Line(2, bad("panel", "2"))),
        (format!("{head}topic a tier=T1 class=A keywords=x,,y\n"), PolicyError::Line(2, bad("keywords", "x,,y"))),
        (
            format!("{head}topic a tier=T1 class=A keywords=x\ntopic a tier=T1 class=A keywords=y\n"),
            PolicyError::Line(3, Duplicate("a".into())),
        ),
        (
            format!("{head}specialist s base=b adapter=a lineage=l provenance=p competence=5 topics=nope\n"),
            PolicyError::Line(2, UnknownTopic("nope".into())),
        ),
        (
            format!(
                "{head}topic a tier=T1 class=A keywords=x\nspecialist s base=b adapter=a lineage=l provenance=p competence=101 topics=a\n"
            ),
            PolicyError::Line(3, bad("competence", "101")),
        ),
        (
            format!("{head}topic a tier=T1 class=A keywords=x\nspecialist s base=b adapter=a lineage=l competence=1 topics=a\n"),
            PolicyError::Line(3, MissingKey("provenance")),
        ),
        (format!("{head}allow T9 provenance=eu\n"), PolicyError::Line(2, bad("tier", "T9"))),
        (format!("{head}allow T3 provenance=eu\nallow T3 provenance=us\n"), PolicyError::Line(3, Duplicate("T3".into()))),
        (format!("{head}default nope\n"), PolicyError::Line(2, UnknownTopic("nope".into()))),
        (format!("{head}variant v panel=1\n"), PolicyError::Line(2, bad("panel", "1"))),
    ];
    for (text, expected) in cases {
        assert_eq!(line_error(&text), expected, "{text}");
    }
    assert_eq!(Policy::parse(&[0xff, 0xfe]), Err(PolicyError::NotUtf8));
    assert_eq!(Policy::parse("#".repeat(MAX_POLICY_LEN + 1).as_bytes()), Err(PolicyError::TooLarge));
    let many: String = (0..33).map(|i| format!("topic t{i} tier=T1 class=A keywords=k\n")).collect();
    assert_eq!(line_error(&format!("{head}{many}")), PolicyError::Line(34, TooMany("topics")));
}

#[test]
fn logged_requests_decode_to_the_same_route() {
    let p = policy();
    for choice in [
        Choice::Default,
        Choice::Specialists(strings(&["draft-o", "draft-m"])),
        Choice::ProvenanceMix(strings(&["eu"])),
        Choice::Variant("wide".into()),
    ] {
        let original = Request { topic: Some("drafts".into()), ..req("write a draft", choice) };
        let logged = original.encode_choice().unwrap();
        let replayed = Request::decode(&original.query, &logged).unwrap();
        assert_eq!(replayed, original);
        assert_eq!(route(&p, &replayed).unwrap().encode(), route(&p, &original).unwrap().encode());
    }
    assert_eq!(req("q", Choice::Specialists(vec!["a".into(); 9])).encode_choice(), Err(RouteError::TooManyChoices));
    let good = req("q", Choice::Variant("wide".into())).encode_choice().unwrap();
    assert!(matches!(Request::decode("q", &good[..good.len() - 1]), Err(RouteError::Malformed(_))));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(Request::decode("q", &trailing), Err(RouteError::Malformed(_))));
    let mut code = good.clone();
    code[2] = 9;
    assert!(matches!(Request::decode("q", &code), Err(RouteError::Malformed(_))));
}
