//! Where the node keeps what must survive a restart: the [`BundleStore`] trait, shaped
//! like the store domain's put/get/delete/list (docs/store.md), and [`MemoryStore`], an
//! in-memory implementation whose buffered writes a simulated crash loses.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

pub use tileos_protocol::store::Durability;

/// Why a store operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store cannot be reached now (e.g. its domain or disk is restarting).
    Unavailable,
    /// The store is full or the namespace's quota is used up.
    Full,
    /// The stored value failed its checksum.
    Corrupt,
}

/// Persistent key-value storage for spooled bundles and replicated state. On the tile this
/// is the store domain (a client of `tileos_protocol::store`); keys are at most 255 bytes.
pub trait BundleStore {
    /// Stores `value` under `key`. With [`Durability::Durable`], `Ok` means it survives a
    /// crash; with [`Durability::Buffered`], a crash may lose it (and later buffered changes).
    fn put(&mut self, key: &[u8], value: &[u8], durability: Durability) -> Result<(), StoreError>;
    /// The value under `key`, if any.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes `key` (no error if it does not exist).
    fn delete(&mut self, key: &[u8], durability: Durability) -> Result<(), StoreError>;
    /// Up to `max` keys starting with `prefix` that sort after `after`, in byte order.
    fn list(&mut self, prefix: &[u8], after: Option<&[u8]>, max: usize) -> Result<Vec<Vec<u8>>, StoreError>;
}

/// A change not yet durable.
#[derive(Clone, Debug)]
enum Pending {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// An in-memory [`BundleStore`] with the store domain's crash semantics: buffered changes
/// become durable, in order, with the next durable change; [`MemoryStore::crash`] loses
/// the ones that are not. It can also be told to fail writes.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    pending: Vec<Pending>,
    fail_writes: bool,
    writes: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a power cut: every change not yet durable is lost.
    pub fn crash(&mut self) {
        self.pending.clear();
    }

    /// Makes every later put and delete fail with [`StoreError::Full`] (or succeed again).
    pub fn fail_writes(&mut self, fail: bool) {
        self.fail_writes = fail;
    }

    /// Puts and deletes that succeeded so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Number of keys visible now (durable and buffered).
    pub fn len(&self) -> usize {
        self.view().len()
    }

    /// Whether no key is visible.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `value` under `key` durably without any check (for tests that plant records).
    pub fn plant(&mut self, key: &[u8], value: &[u8]) {
        self.flush();
        self.durable.insert(key.to_vec(), value.to_vec());
    }

    fn flush(&mut self) {
        for change in core::mem::take(&mut self.pending) {
            match change {
                Pending::Put(key, value) => self.durable.insert(key, value),
                Pending::Delete(key) => self.durable.remove(&key),
            };
        }
    }

    /// What a reader sees: the durable map with the buffered changes applied.
    fn view(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut view = self.durable.clone();
        for change in &self.pending {
            match change {
                Pending::Put(key, value) => view.insert(key.clone(), value.clone()),
                Pending::Delete(key) => view.remove(key),
            };
        }
        view
    }

    fn write(&mut self, change: Pending, durability: Durability) -> Result<(), StoreError> {
        if self.fail_writes {
            return Err(StoreError::Full);
        }
        self.pending.push(change);
        if durability == Durability::Durable {
            self.flush();
        }
        self.writes += 1;
        Ok(())
    }
}

impl BundleStore for MemoryStore {
    fn put(&mut self, key: &[u8], value: &[u8], durability: Durability) -> Result<(), StoreError> {
        self.write(Pending::Put(key.to_vec(), value.to_vec()), durability)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let buffered = self.pending.iter().rev().find_map(|change| match change {
            Pending::Put(k, v) if k == key => Some(Some(v.clone())),
            Pending::Delete(k) if k == key => Some(None),
            _ => None,
        });
        Ok(buffered.unwrap_or_else(|| self.durable.get(key).cloned()))
    }

    fn delete(&mut self, key: &[u8], durability: Durability) -> Result<(), StoreError> {
        self.write(Pending::Delete(key.to_vec()), durability)
    }

    fn list(&mut self, prefix: &[u8], after: Option<&[u8]>, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let view = self.view();
        let keys = view.keys().filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_slice() > a));
        Ok(keys.take(max).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_durable_changes_and_loses_buffered_ones() {
        let mut store = MemoryStore::new();
        store.put(b"a", b"1", Durability::Buffered).unwrap();
        store.put(b"b", b"2", Durability::Durable).unwrap();
        store.delete(b"b", Durability::Buffered).unwrap();
        store.put(b"c", b"3", Durability::Buffered).unwrap();
        assert_eq!(store.get(b"b").unwrap(), None);
        assert_eq!(store.list(b"", None, 10).unwrap(), [b"a".to_vec(), b"c".to_vec()]);
        store.crash();
        // "a" became durable with the durable put of "b"; the delete and "c" are lost.
        assert_eq!(store.list(b"", None, 10).unwrap(), [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(store.list(b"", Some(b"a"), 10).unwrap(), [b"b".to_vec()]);
        store.fail_writes(true);
        assert_eq!(store.put(b"d", b"", Durability::Durable), Err(StoreError::Full));
    }
}
