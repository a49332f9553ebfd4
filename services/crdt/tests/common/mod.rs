//! Shared by the property tests: every CRDT type behind one interface that turns random
//! bytes into a delta mutation, so each law and scenario runs on all types.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tileos_crdt::{AwSet, CCounter, Causal, GCounter, Lattice, LwwRegister, MvReg, OrMap, PnCounter};

/// A CRDT under test: `op` is a delta mutator chosen by `code` with argument `arg`.
pub trait Model: Lattice + Clone + PartialEq + Debug + Serialize + DeserializeOwned {
    fn op(state: &Self, replica: u64, code: u8, arg: u8) -> Self;
}

impl Model for GCounter {
    fn op(s: &Self, r: u64, _code: u8, arg: u8) -> Self {
        s.inc(r, u64::from(arg % 5)).unwrap()
    }
}

impl Model for PnCounter {
    fn op(s: &Self, r: u64, code: u8, arg: u8) -> Self {
        let n = u64::from(arg % 5);
        if code % 2 == 0 { s.inc(r, n) } else { s.dec(r, n) }.unwrap()
    }
}

impl Model for LwwRegister<u8> {
    fn op(s: &Self, r: u64, code: u8, arg: u8) -> Self {
        // Few distinct timestamps, so ties between replicas are common.
        s.set(r, u64::from(arg % 8), code % 4).unwrap()
    }
}

impl Model for Causal<MvReg<u8>> {
    fn op(s: &Self, r: u64, _code: u8, arg: u8) -> Self {
        s.store().write(s.context(), r, arg % 8).unwrap()
    }
}

impl Model for Causal<AwSet<u8>> {
    fn op(s: &Self, r: u64, code: u8, arg: u8) -> Self {
        let e = arg % 8;
        match code % 8 {
            0..=3 => s.store().add(s.context(), r, e).unwrap(),
            4..=6 => s.store().remove(&e),
            _ => s.store().clear(),
        }
    }
}

impl Model for Causal<CCounter> {
    fn op(s: &Self, r: u64, _code: u8, arg: u8) -> Self {
        s.store().inc(s.context(), r, i64::from(arg) - 128).unwrap()
    }
}

impl Model for Causal<OrMap<u8, AwSet<u8>>> {
    fn op(s: &Self, r: u64, code: u8, arg: u8) -> Self {
        let (key, e) = (arg % 4, (arg / 4) % 4);
        match code % 4 {
            0 | 1 => s.store().apply(s.context(), key, |v, c| v.add(c, r, e)).unwrap(),
            2 => s.store().apply(s.context(), key, |v, _| Ok(v.remove(&e))).unwrap(),
            _ => s.store().remove(&key),
        }
    }
}

impl Model for Causal<OrMap<u8, MvReg<u8>>> {
    fn op(s: &Self, r: u64, code: u8, arg: u8) -> Self {
        let key = arg % 4;
        match code % 3 {
            0 | 1 => s.store().apply(s.context(), key, |v, c| v.write(c, r, code)).unwrap(),
            _ => s.store().remove(&key),
        }
    }
}

impl Model for Causal<OrMap<u8, OrMap<u8, CCounter>>> {
    fn op(s: &Self, r: u64, code: u8, arg: u8) -> Self {
        let (outer, inner) = (arg % 3, (arg / 3) % 3);
        match code % 4 {
            0 | 1 => s.store().apply(s.context(), outer, |m, c| m.apply(c, inner, |ctr, c| ctr.inc(c, r, i64::from(code)))).unwrap(),
            2 => s.store().apply(s.context(), outer, |m, _| Ok(m.remove(&inner))).unwrap(),
            _ => s.store().remove(&outer),
        }
    }
}

/// Expands to one `#[test]` per CRDT type, each calling `$check::<Type>` on the inputs.
#[macro_export]
macro_rules! for_every_type {
    ($cases:expr, $check:ident, $($arg:ident in $strategy:expr),+) => {
        proptest::proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases($cases))]
            #[test] fn gcounter($($arg in $strategy),+) { $check::<tileos_crdt::GCounter>($($arg),+)?; }
            #[test] fn pncounter($($arg in $strategy),+) { $check::<tileos_crdt::PnCounter>($($arg),+)?; }
            #[test] fn lww_register($($arg in $strategy),+) { $check::<tileos_crdt::LwwRegister<u8>>($($arg),+)?; }
            #[test] fn mv_register($($arg in $strategy),+) {
                $check::<tileos_crdt::Causal<tileos_crdt::MvReg<u8>>>($($arg),+)?;
            }
            #[test] fn aw_set($($arg in $strategy),+) {
                $check::<tileos_crdt::Causal<tileos_crdt::AwSet<u8>>>($($arg),+)?;
            }
            #[test] fn ccounter($($arg in $strategy),+) {
                $check::<tileos_crdt::Causal<tileos_crdt::CCounter>>($($arg),+)?;
            }
            #[test] fn or_map_of_sets($($arg in $strategy),+) {
                $check::<tileos_crdt::Causal<tileos_crdt::OrMap<u8, tileos_crdt::AwSet<u8>>>>($($arg),+)?;
            }
            #[test] fn or_map_of_registers($($arg in $strategy),+) {
                $check::<tileos_crdt::Causal<tileos_crdt::OrMap<u8, tileos_crdt::MvReg<u8>>>>($($arg),+)?;
            }
            #[test] fn nested_or_map_of_counters($($arg in $strategy),+) {
                $check::<tileos_crdt::Causal<tileos_crdt::OrMap<u8, tileos_crdt::OrMap<u8, tileos_crdt::CCounter>>>>($($arg),+)?;
            }
        }
    };
}
