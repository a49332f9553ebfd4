//! The in-memory index: where the live value of every (namespace, key) is, and what each
//! namespace uses. Rebuilt from the log at mount.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::format::{Entry, Op};
use crate::log::DataRef;

/// Where a live value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    /// Log offset of the record holding it.
    pub record: u64,
    /// The record's values.
    pub data: DataRef,
    /// Offset of this value inside the record's values.
    pub value_off: u64,
    /// Length of the value.
    pub len: u64,
}

/// What a namespace uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sum of key and value lengths of the live keys.
    pub bytes: u64,
    /// Number of live keys.
    pub keys: u64,
}

/// Every live key of every namespace (configured or not).
#[derive(Default)]
pub(crate) struct Index {
    map: BTreeMap<(u32, Vec<u8>), Loc>,
    usage: BTreeMap<u32, Usage>,
}

impl Index {
    /// The live value of `key`.
    pub fn get(&self, namespace: u32, key: &[u8]) -> Option<Loc> {
        // The BTreeMap is keyed by owned keys; a borrowed lookup needs the same tuple type.
        self.map.get(&(namespace, key.to_vec())).copied()
    }

    /// What `namespace` uses.
    pub fn usage(&self, namespace: u32) -> Usage {
        self.usage.get(&namespace).copied().unwrap_or_default()
    }

    /// Applies the entries of the record at log offset `record` with values `data`.
    pub fn apply(&mut self, record: u64, data: DataRef, entries: &[Entry]) {
        let mut value_off = 0;
        for e in entries {
            let old = match e.op {
                Op::Put => self.map.insert((e.namespace, e.key.clone()), Loc { record, data, value_off, len: e.value_len }),
                Op::Delete => self.map.remove(&(e.namespace, e.key.clone())),
            };
            let u = self.usage.entry(e.namespace).or_default();
            if let Some(old) = old {
                u.bytes -= e.key.len() as u64 + old.len;
                u.keys -= 1;
            }
            if e.op == Op::Put {
                u.bytes += e.key.len() as u64 + e.value_len;
                u.keys += 1;
            }
            value_off += e.value_len;
        }
    }

    /// Up to `max` keys of `namespace` starting with `prefix`, in order, after `after`.
    pub fn list(&self, namespace: u32, prefix: &[u8], after: Option<&[u8]>, max: usize) -> Vec<Vec<u8>> {
        let start = match after {
            Some(a) if a > prefix => a,
            _ => prefix,
        };
        let from = (namespace, start.to_vec());
        self.map
            .range(from..)
            .skip_while(|((_, k), _)| Some(k.as_slice()) == after)
            .take_while(|((ns, k), _)| *ns == namespace && k.starts_with(prefix))
            .take(max)
            .map(|((_, k), _)| k.clone())
            .collect()
    }
}
