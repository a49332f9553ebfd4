//! Reproduces the qualitative node table of seed `002_…` §9.9 (nodes A, B, C, D) with the
//! default parameters (half-life 30 days, κ = 5, C₀ = 0.5, γ = 0.5, S ×0.1, g_max = 2).

use tileos_reputation::{Audit, Params, Reputation, TopicRecord, vote_weights};

const NOW: f64 = 1000.0;
const STAKE: f64 = 10.0;

/// `count` audits of difficulty `d`, the first `passed` of them passed, spread evenly over
/// the ten days ending at `end`.
fn history(count: usize, passed: usize, d: f64, end: f64) -> Vec<Audit> {
    (0..count)
        .map(|i| Audit { time: end - 10.0 * i as f64 / count as f64, difficulty: d, outcome: if i < passed { 1.0 } else { 0.0 } })
        .collect()
}

fn record(p: &Params, audits: &[Audit]) -> TopicRecord {
    let mut rec = TopicRecord::new();
    for a in audits {
        rec.record(p, *a).unwrap();
    }
    rec
}

struct Table {
    a: Reputation,
    b: Reputation,
    c: Reputation,
    d: Reputation,
}

fn table(p: &Params) -> Table {
    // A: 200 hard audits (d = 0.9), 96 % passed, recent.
    let a_hist = history(200, 192, 0.9, NOW);
    // B: the same history, three half-lives earlier.
    let b_hist = history(200, 192, 0.9, NOW - 3.0 * p.half_life);
    // C: 1000 trivial tasks (d = 0.05), all passed, recent.
    let c_hist = history(1000, 1000, 0.05, NOW);
    let mut d_rec = record(p, &a_hist);
    // D: was top (A's history), caught colluding now: slashed, stake burned.
    d_rec.slash(p, NOW).unwrap();
    Table {
        a: record(p, &a_hist).reputation(p, STAKE, NOW).unwrap(),
        b: record(p, &b_hist).reputation(p, STAKE, NOW).unwrap(),
        c: record(p, &c_hist).reputation(p, STAKE, NOW).unwrap(),
        d: d_rec.reputation(p, 0.0, NOW).unwrap(),
    }
}

#[test]
fn a_recent_hard_audits_give_high_competence_and_mass() {
    let p = Params::default();
    let t = table(&p);
    assert!(t.a.competence > 0.9, "Ĉ_A = {}", t.a.competence);
    assert!(t.a.mass > 150.0, "N_A = {}", t.a.mass);
    assert!(t.a.raw > t.b.raw && t.a.raw > t.c.raw && t.a.raw > t.d.raw);
}

#[test]
fn b_three_half_lives_old_has_an_eighth_of_the_mass_and_drifts_to_prior() {
    let p = Params::default();
    let t = table(&p);
    assert!((t.b.mass / t.a.mass - 0.125).abs() < 1e-12, "ratio {}", t.b.mass / t.a.mass);
    // Same pass-rate, but the shrunk competence moves toward C₀.
    assert!((t.b.pass_rate.unwrap() - t.a.pass_rate.unwrap()).abs() < 1e-12);
    assert!(t.b.competence < t.a.competence && t.b.competence > p.prior_competence);
    assert!(t.b.raw < 0.4 * t.a.raw, "R_B/R_A = {}", t.b.raw / t.a.raw);
}

#[test]
fn c_trivial_farmer_cannot_outweigh_a() {
    let p = Params::default();
    let t = table(&p);
    assert_eq!(t.c.pass_rate, Some(1.0));
    assert!(t.c.mass < t.a.mass / 3.0);
    assert!(t.c.raw < 0.6 * t.a.raw, "R_C/R_A = {}", t.c.raw / t.a.raw);
}

#[test]
fn d_slashed_colluder_ends_near_zero() {
    let p = Params::default();
    let t = table(&p);
    assert!((t.d.slashing - 0.1).abs() < 1e-12);
    assert_eq!(t.d.stake_factor, 1.0);
    // ×0.1 from S and ×1/g(10) ≈ ×1/1.6 from the burned stake: R_D = R_A/16 on the spot
    // (at most ×1/20 with the seed's cap g_max = 2), then the evidence decays as usual.
    assert!((t.d.raw * 16.0 / t.a.raw - 1.0).abs() < 0.01, "R_D/R_A = {}", t.d.raw / t.a.raw);
}

#[test]
fn vote_shares_follow_the_table() {
    // Unclipped shares among the four nodes.
    let p = Params { w_max: 1.0, ..Params::default() };
    let t = table(&p);
    let w = vote_weights(&p, &[t.a.raw, t.b.raw, t.c.raw, t.d.raw]).unwrap().weights;
    assert!(w[0] > 0.5, "w_A = {}", w[0]);
    assert!(w[3] < 0.05, "w_D = {}", w[3]);
    // In a topic with six more ordinary nodes, the default clip (15 %) caps A and A
    // still holds the largest share.
    let p = Params::default();
    let ordinary = record(&p, &history(50, 40, 0.5, NOW)).reputation(&p, STAKE, NOW).unwrap();
    let mut r = vec![t.a.raw, t.b.raw, t.c.raw, t.d.raw];
    r.extend([ordinary.raw; 6]);
    let v = vote_weights(&p, &r).unwrap();
    assert!(v.bound_met);
    assert!(v.weights[0] <= p.w_max * (1.0 + 1e-12));
    assert!(v.weights.iter().all(|w| *w <= v.weights[0]));
    assert!(v.weights[3] < 0.05);
}
