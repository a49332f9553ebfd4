//! Fragmentation (RFC 9171 §5.8) and reassembly (RFC 9171 §5.9).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::Eid;
use crate::bundle::{Bundle, CanonicalBlock, CreationTimestamp, FragmentInfo, block_flags, block_type, bstr_head_len, bundle_flags};
use crate::error::Error;

impl Bundle {
    /// Splits the bundle into fragments whose encodings are each at most `max_size` bytes
    /// (RFC 9171 §5.8). A bundle that already fits is returned unchanged as the only element.
    ///
    /// The first fragment carries every extension block; later ones only the blocks flagged
    /// "must be replicated in every fragment". Fragmenting a fragment keeps offsets relative
    /// to the original application data unit. Each fragment holds only its own piece of the
    /// payload, so memory use is linear in the payload, not in fragments × payload.
    pub fn fragment(&self, max_size: usize) -> Result<Vec<Bundle>, Error> {
        if self.encoded_len()? <= max_size {
            return Ok(alloc::vec![self.clone()]);
        }
        if self.flags & bundle_flags::DO_NOT_FRAGMENT != 0 {
            return Err(Error::DoNotFragment);
        }
        if self.blocks.iter().any(|b| b.block_type == block_type::BIB || b.block_type == block_type::BCB) {
            return Err(Error::SecuredBundle);
        }
        let (base_offset, total) = match self.fragment {
            Some(f) => (f.offset, f.total_adu_length),
            None => (0, self.payload().len() as u64),
        };
        let payload = self.payload();
        let max_size = max_size as u64;
        let mut fragments = Vec::new();
        let mut done: usize = 0;
        while done < payload.len() {
            let mut piece = self.empty_fragment(done > 0);
            piece.fragment = Some(FragmentInfo { offset: base_offset.saturating_add(done as u64), total_adu_length: total });
            // Encoded size is `empty + n + head(n) - head(0)` for `n` payload bytes.
            let empty = piece.encoded_len()? as u64;
            let room = max_size.checked_sub(empty).ok_or(Error::MaxSizeTooSmall)?;
            let remaining = (payload.len() - done) as u64;
            let mut n = room.min(remaining);
            while n > 0 && n + bstr_head_len(n) - 1 > room {
                n -= 1;
            }
            if n == 0 {
                return Err(Error::MaxSizeTooSmall);
            }
            let end = done + n as usize;
            if let Some(p) = piece.blocks.last_mut() {
                p.data = payload[done..end].to_vec();
            }
            fragments.push(piece);
            done = end;
        }
        Ok(fragments)
    }

    /// A copy of the bundle flagged as a fragment with an empty payload block: every extension
    /// block for the first fragment, only the replicated ones for `later` fragments. The
    /// payload is never copied.
    fn empty_fragment(&self, later: bool) -> Bundle {
        let blocks = self
            .blocks
            .iter()
            .filter(|b| b.block_type == block_type::PAYLOAD || !later || b.flags & block_flags::MUST_REPLICATE != 0)
            .map(|b| CanonicalBlock { data: if b.block_type == block_type::PAYLOAD { Vec::new() } else { b.data.clone() }, ..*b })
            .collect();
        Bundle {
            flags: self.flags | bundle_flags::IS_FRAGMENT,
            destination: self.destination.clone(),
            source: self.source.clone(),
            report_to: self.report_to.clone(),
            blocks,
            ..*self
        }
    }
}

/// Identity of the original bundle a fragment belongs to (RFC 9171 §5.9).
type Key = (Eid, CreationTimestamp);

/// Fragments of one original bundle received so far.
#[derive(Debug)]
struct Partial {
    total: u64,
    /// The fragment at offset 0, whose blocks the reassembled bundle takes.
    first: Option<Bundle>,
    /// Payload pieces by offset.
    pieces: BTreeMap<u64, Vec<u8>>,
    buffered: usize,
}

impl Partial {
    /// Whether the pieces cover `0..total` (overlaps allowed); checked without copying.
    fn is_complete(&self) -> bool {
        let mut covered = 0u64;
        for (&offset, data) in &self.pieces {
            if offset > covered {
                return false;
            }
            covered = covered.max(offset.saturating_add(data.len() as u64));
        }
        covered >= self.total
    }

    /// The whole ADU; call only when `is_complete`.
    fn assemble(&self) -> Vec<u8> {
        let mut adu = Vec::with_capacity(usize::try_from(self.total).unwrap_or(0));
        for (&offset, data) in &self.pieces {
            let skip = usize::try_from((adu.len() as u64).saturating_sub(offset)).unwrap_or(0);
            if let Some(rest) = data.get(skip..) {
                adu.extend_from_slice(rest);
            }
        }
        adu
    }
}

/// Collects fragments and returns each original bundle once all its payload has arrived
/// (RFC 9171 §5.9). Limits bound the memory an untrusted sender can make it hold.
#[derive(Debug)]
pub struct Reassembler {
    max_adu_length: u64,
    max_buffered: usize,
    buffered: usize,
    pending: BTreeMap<Key, Partial>,
}

impl Reassembler {
    /// A reassembler accepting original payloads up to `max_adu_length` bytes and holding at
    /// most `max_buffered` payload bytes across all incomplete bundles.
    pub fn new(max_adu_length: u64, max_buffered: usize) -> Self {
        Reassembler { max_adu_length, max_buffered, buffered: 0, pending: BTreeMap::new() }
    }

    /// Number of original bundles with fragments still missing.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Payload bytes currently held.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Drops the fragments held for the bundle `(source, creation)`, e.g. when it expired.
    pub fn discard(&mut self, source: &Eid, creation: CreationTimestamp) {
        if let Some(partial) = self.pending.remove(&(source.clone(), creation)) {
            self.buffered -= partial.buffered;
        }
    }

    /// Adds one fragment; returns the reassembled bundle when this fragment completes it.
    pub fn push(&mut self, fragment: Bundle) -> Result<Option<Bundle>, Error> {
        let info = fragment.fragment.ok_or(Error::NotAFragment)?;
        if info.total_adu_length > self.max_adu_length {
            return Err(Error::AduTooLarge);
        }
        let len = fragment.payload().len();
        let end = info.offset.checked_add(len as u64).ok_or(Error::FragmentOutOfRange)?;
        if end > info.total_adu_length {
            return Err(Error::FragmentOutOfRange);
        }
        let key = (fragment.source.clone(), fragment.creation);
        if self.pending.get(&key).is_some_and(|partial| partial.total != info.total_adu_length) {
            return Err(Error::InconsistentFragments);
        }
        if self.buffered.saturating_add(len) > self.max_buffered {
            return Err(Error::ReassemblyBufferFull);
        }
        let partial = self.pending.entry(key.clone()).or_insert_with(|| Partial {
            total: info.total_adu_length,
            first: None,
            pieces: BTreeMap::new(),
            buffered: 0,
        });

        let mut fragment = fragment;
        let data = fragment.blocks.last_mut().map(|b| core::mem::take(&mut b.data)).unwrap_or_default();
        let replaced = match partial.pieces.get(&info.offset) {
            Some(old) if old.len() >= data.len() => None,
            _ => Some(partial.pieces.insert(info.offset, data)),
        };
        if let Some(old) = replaced {
            let old_len = old.map_or(0, |o| o.len());
            partial.buffered = partial.buffered - old_len + len;
            self.buffered = self.buffered - old_len + len;
        }
        if info.offset == 0 && partial.first.is_none() {
            partial.first = Some(fragment);
        }

        if partial.first.is_none() || !partial.is_complete() {
            return Ok(None);
        }
        let adu = partial.assemble();
        let Some(mut whole) = partial.first.take() else {
            return Ok(None);
        };
        self.buffered -= partial.buffered;
        self.pending.remove(&key);
        whole.flags &= !bundle_flags::IS_FRAGMENT;
        whole.fragment = None;
        if let Some(p) = whole.blocks.last_mut() {
            p.data = adu;
        }
        Ok(Some(whole))
    }
}
