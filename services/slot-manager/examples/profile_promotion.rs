//! A profile of the manager's handling of a promotion by the policy, on the host: the
//! simulated tile of the host tests (`tests/common`) with two challengers shadowing, the
//! first promoted once it has 2,000 agreeing answers (the switch after its state transfer
//! before the switch). Run it under callgrind, collecting only the switch
//! (`Manager::switch_to`; its entry is persisted before, by `log_policy_promotion`, which
//! can be collected the same way; docs/slots.md, "Bench figures", `slots11`):
//!
//! ```text
//! cargo build --release -p tileos-slot-manager --example profile_promotion
//! valgrind --tool=callgrind --toggle-collect='*switch_to*' target/release/examples/profile_promotion
//! callgrind_annotate --inclusive=yes callgrind.out.*
//! ```
#[path = "../tests/common/mod.rs"]
mod common;

use common::{Sim, policy};

fn main() {
    let mut p = policy();
    p.min_agreeing = 2_000;
    let mut sim = Sim::auto_promoting_two_fast(p);
    let mut x = 0;
    while sim.m.slot().serving() == 0 && x < 10_000 {
        x += 1;
        sim.request(1, x);
        sim.pump();
    }
    println!("promoted module {} after {x} requests", sim.m.slot().serving());
    for line in sim.notes().lines().filter(|l| l.contains("slot.switch")) {
        println!("{line}");
    }
}
