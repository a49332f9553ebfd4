//! The client side of the store protocol (`tileos_protocol::store`): a domain holding a
//! capability to the endpoint "store" and a region shared with the store calls
//! [`StoreClient`]'s methods with keys and values in its own memory; the client copies them
//! through the region, uploads values too large for it in parts, and reads them back in
//! pieces.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use tileos_mmio::Mmio;
use tileos_protocol::store::{BatchOperation, Durability, Error, MAX_KEY, Request, Response, Span, Store};
use tileos_sys::rpc::{CallError, Client};

/// Why a store call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The store refused the request.
    Store(Error),
    /// The call itself failed (the store restarted mid-call, or the message was refused).
    Call(CallError),
    /// The store answered something the request does not allow.
    Unexpected(Response),
    /// The key, or a batch, does not fit in the shared region.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes in the region.
        region: usize,
    },
}

impl ClientError {
    /// Whether trying the same request again may succeed: the disk or the store is being
    /// restarted.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Store(Error::Unavailable) | ClientError::Call(CallError::ServerRestarted))
    }
}

/// A client of the store over its endpoint and its shared region.
pub struct StoreClient {
    client: Client<Store>,
    buffer: Mmio,
}

fn span(offset: usize, length: usize) -> Span {
    Span { offset: offset as u32, length: length as u32 }
}

impl StoreClient {
    /// A client calling through `endpoint`, with `buffer` the region the store maps as
    /// `store-buffer.<badge>`.
    pub fn new(endpoint: tileos_sys::cap::Endpoint, buffer: Mmio) -> StoreClient {
        StoreClient { client: Client::new(endpoint), buffer }
    }

    /// The shared region (to place bytes for [`StoreClient::call`]).
    pub fn buffer(&self) -> &Mmio {
        &self.buffer
    }

    /// Sends `request` as it is; a [`Response::Failed`] becomes [`ClientError::Store`].
    pub fn call(&self, request: &Request) -> Result<Response, ClientError> {
        match self.client.call(request).map_err(ClientError::Call)? {
            Response::Failed(error) => Err(ClientError::Store(error)),
            response => Ok(response),
        }
    }

    /// Copies `key` to the start of the region; its span.
    fn place_key(&self, key: &[u8]) -> Result<Span, ClientError> {
        if key.len() > self.buffer.len() || key.len() > MAX_KEY {
            return Err(ClientError::BufferTooSmall { needed: key.len(), region: self.buffer.len() });
        }
        self.buffer.write_bytes(0, key);
        Ok(span(0, key.len()))
    }

    fn expect(&self, request: &Request, wanted: fn(&Response) -> bool) -> Result<Response, ClientError> {
        let response = self.call(request)?;
        if wanted(&response) { Ok(response) } else { Err(ClientError::Unexpected(response)) }
    }

    /// Stores `value` under `key`: in one request if both fit in the region, else uploaded
    /// in parts of the region's size.
    pub fn put(&self, key: &[u8], value: &[u8], durability: Durability) -> Result<(), ClientError> {
        let key_span = self.place_key(key)?;
        if key.len() + value.len() <= self.buffer.len() {
            self.buffer.write_bytes(key.len(), value);
            let request = Request::Put { key: key_span, value: span(key.len(), value.len()), durability };
            return self.expect(&request, |r| *r == Response::Stored).map(|_| ());
        }
        self.put_begin(key, value.len())?;
        for part in value.chunks(self.buffer.len()) {
            self.put_part(part)?;
        }
        self.put_commit(durability)
    }

    /// Begins an upload of a value of `length` bytes for `key` ([`StoreClient::put_part`],
    /// then [`StoreClient::put_commit`]), one call: for a caller that sends the parts at
    /// moments of its own choosing. A new one forgets an unfinished one.
    pub fn put_begin(&self, key: &[u8], length: usize) -> Result<(), ClientError> {
        let key_span = self.place_key(key)?;
        self.expect(&Request::PutBegin { key: key_span, length: length as u64 }, |r| matches!(r, Response::Uploading { .. })).map(|_| ())
    }

    /// The next bytes of the upload, in order, in parts of the region's size.
    pub fn put_part(&self, bytes: &[u8]) -> Result<(), ClientError> {
        for part in bytes.chunks(self.buffer.len().max(1)) {
            self.buffer.write_bytes(0, part);
            self.expect(&Request::PutPart { data: span(0, part.len()) }, |r| matches!(r, Response::Uploading { .. }))?;
        }
        Ok(())
    }

    /// Stores the uploaded value (every byte must have been sent).
    pub fn put_commit(&self, durability: Durability) -> Result<(), ClientError> {
        self.expect(&Request::PutCommit { durability }, |r| *r == Response::Stored).map(|_| ())
    }

    /// The value of `key`, read in pieces of the region's size.
    pub fn get(&self, key: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut value = Vec::new();
        self.read(key, |length, piece| {
            if value.is_empty() {
                value.reserve_exact(length as usize);
            }
            value.extend_from_slice(piece);
        })?;
        Ok(value)
    }

    /// Reads the value of `key` in pieces of the region's size, calling `each` with the
    /// value's whole length and every piece in order (a value larger than memory can be
    /// checked this way).
    pub fn read(&self, key: &[u8], mut each: impl FnMut(u64, &[u8])) -> Result<(), ClientError> {
        let key_span = self.place_key(key)?;
        let into = span(key.len(), self.buffer.len() - key.len());
        let mut piece = alloc::vec![0u8; into.length as usize];
        let mut offset = 0u64;
        loop {
            let request = Request::Get { key: key_span, value_offset: offset, into };
            let response = self.call(&request)?;
            let Response::Value { length, copied } = response else { return Err(ClientError::Unexpected(response)) };
            let copied = (copied as usize).min(piece.len());
            self.buffer.read_bytes(into.offset as usize, &mut piece[..copied]);
            if copied > 0 || offset == 0 {
                each(length, &piece[..copied]);
            }
            offset += copied as u64;
            if offset >= length || copied == 0 {
                return Ok(());
            }
        }
    }

    /// Removes `key`.
    pub fn delete(&self, key: &[u8], durability: Durability) -> Result<(), ClientError> {
        let key = self.place_key(key)?;
        self.expect(&Request::Delete { key, durability }, |r| *r == Response::Deleted).map(|_| ())
    }

    /// Calls `each` with every key that starts with `prefix`, in byte order.
    pub fn list(&self, prefix: &[u8], mut each: impl FnMut(&[u8])) -> Result<(), ClientError> {
        let mut after: heapless::Vec<u8, MAX_KEY> = heapless::Vec::new();
        let prefix_span = self.place_key(prefix)?;
        let after_at = prefix.len();
        let into_at = after_at + MAX_KEY;
        if into_at + 1 + MAX_KEY > self.buffer.len() {
            return Err(ClientError::BufferTooSmall { needed: into_at + 1 + MAX_KEY, region: self.buffer.len() });
        }
        let mut listed = alloc::vec![0u8; self.buffer.len() - into_at];
        loop {
            self.buffer.write_bytes(after_at, &after);
            let request = Request::List { prefix: prefix_span, after: span(after_at, after.len()), into: span(into_at, listed.len()) };
            let response = self.call(&request)?;
            let Response::Listed { count, bytes, more } = response else { return Err(ClientError::Unexpected(response)) };
            let bytes = (bytes as usize).min(listed.len());
            self.buffer.read_bytes(into_at, &mut listed[..bytes]);
            let mut at = 0;
            for _ in 0..count {
                let Some(&length) = listed.get(at) else { break };
                let Some(key) = listed.get(at + 1..at + 1 + usize::from(length)) else { break };
                each(key);
                after.clear();
                let _ = after.extend_from_slice(key);
                at += 1 + usize::from(length);
            }
            if !more || count == 0 {
                return Ok(());
            }
        }
    }

    /// Applies `operations` all at once, or none of them.
    pub fn batch(&self, operations: &[BatchOperation<'_>], durability: Durability) -> Result<(), ClientError> {
        let mut encoded = Vec::new();
        for operation in operations {
            let at = encoded.len();
            encoded.resize(at + operation.encoded_len(), 0);
            if operation.encode(&mut encoded, at).is_none() {
                return Err(ClientError::Store(Error::TooLarge { length: operation.encoded_len() as u64, max: MAX_KEY as u64 }));
            }
        }
        if encoded.len() > self.buffer.len() {
            return Err(ClientError::BufferTooSmall { needed: encoded.len(), region: self.buffer.len() });
        }
        self.buffer.write_bytes(0, &encoded);
        let request = Request::Batch { operations: span(0, encoded.len()), count: operations.len() as u32, durability };
        self.expect(&request, |r| *r == Response::Stored).map(|_| ())
    }

    /// Makes every acknowledged change durable.
    pub fn sync(&self) -> Result<(), ClientError> {
        self.expect(&Request::Sync, |r| *r == Response::Synced).map(|_| ())
    }
}
