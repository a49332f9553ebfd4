//! The store protocol (`tileos_protocol::store`) served over a [`Store`]: what the store
//! domain does with each request, apart from the system calls, so that hostile requests
//! are tested on the host.
//!
//! Every client is told apart by its badge, which the description maps to a namespace
//! ([`Client`]); a badge without one gets [`Error::NoNamespace`] for every request. Keys and
//! values are read from and written to the client's shared region, which the domain passes
//! in as a byte slice; every span is checked against it first. An upload of a large value
//! is staged in the domain's memory until its commit: one per client, and at most the
//! service's upload limit staged over all clients (a longer value is [`Error::TooLarge`]
//! naming the limit; an upload that does not fit beside those in progress is answered
//! [`Error::Unavailable`] until one ends), so a client that never commits cannot exhaust
//! the heap.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use tileos_protocol::store::{self as protocol, BatchOperation, Error, Quota, Request, Response, Span};

use crate::{BatchOp, BlockDevice, Durability, Limit, MAX_KEY_LEN, MAX_VALUE_LEN, Store};

/// Most keys one [`Request::List`] answers.
const LIST_MAX: usize = 256;

/// A client the description lets use the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// Its capability's badge.
    pub badge: u64,
    /// Its namespace.
    pub namespace: u32,
}

/// An upload in progress.
struct Upload {
    key: Vec<u8>,
    length: u64,
    data: Vec<u8>,
}

/// What the domain should log after a request (besides errors it answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// The store re-mounted after a device error before serving the request.
    Remounted,
}

/// The store protocol over a store.
pub struct Service<D: BlockDevice> {
    store: Store<D>,
    clients: Vec<Client>,
    uploads: BTreeMap<u64, Upload>,
    staged: u64,
    upload_limit: u64,
}

fn durability(durability: protocol::Durability) -> Durability {
    match durability {
        protocol::Durability::Durable => Durability::Durable,
        protocol::Durability::Buffered => Durability::Buffered,
    }
}

/// The bytes of `span` in `region`.
fn bytes(region: &[u8], span: Span) -> Result<&[u8], Error> {
    span.range(region.len()).map(|range| &region[range]).ok_or(outside(region, span))
}

fn outside(region: &[u8], span: Span) -> Error {
    Error::OutsideBuffer { end: u64::from(span.offset) + u64::from(span.length), region: region.len() as u64 }
}

/// The key in `span`, checked for length.
fn key(region: &[u8], span: Span) -> Result<&[u8], Error> {
    let key = bytes(region, span)?;
    match key.len() {
        0 => Err(Error::EmptyKey),
        length if length > MAX_KEY_LEN => Err(Error::TooLarge { length: length as u64, max: MAX_KEY_LEN as u64 }),
        _ => Ok(key),
    }
}

impl<D: BlockDevice> Service<D> {
    /// Serves `clients` from `store`, staging at most `upload_limit` bytes of uploads at
    /// once (the domain gives it a share of its heap; values of up to
    /// [`MAX_VALUE_LEN`] need that much).
    pub fn new(store: Store<D>, clients: Vec<Client>, upload_limit: u64) -> Self {
        Service { store, clients, uploads: BTreeMap::new(), staged: 0, upload_limit }
    }

    /// The store (for compaction between requests and the space figures).
    pub fn store(&mut self) -> &mut Store<D> {
        &mut self.store
    }

    /// Forgets the upload of the client with `badge` (it restarted).
    pub fn forget_upload(&mut self, badge: u64) {
        if let Some(upload) = self.uploads.remove(&badge) {
            self.staged -= upload.length;
        }
    }

    /// Answers `request` from the client with `badge`, whose shared region is `region`.
    pub fn handle(&mut self, badge: u64, request: &Request, region: &mut [u8]) -> Response {
        let Some(client) = self.clients.iter().find(|client| client.badge == badge).copied() else {
            return Response::Failed(Error::NoNamespace { badge });
        };
        self.serve(client, request, region).unwrap_or_else(Response::Failed)
    }

    fn serve(&mut self, client: Client, request: &Request, region: &mut [u8]) -> Result<Response, Error> {
        let namespace = client.namespace;
        match *request {
            Request::Put { key: key_span, value, durability: wanted } => {
                let key = key(region, key_span)?;
                let value = bytes(region, value)?;
                let length = value.len() as u64;
                self.store.put(namespace, key, value, durability(wanted)).map_err(|e| error(e, key, length))?;
                Ok(Response::Stored)
            }
            Request::PutBegin { key: key_span, length } => {
                let key = key(region, key_span)?.to_vec();
                let max = MAX_VALUE_LEN.min(self.upload_limit);
                if length > max {
                    return Err(Error::TooLarge { length, max });
                }
                self.forget_upload(client.badge);
                if self.staged + length > self.upload_limit {
                    return Err(Error::Unavailable);
                }
                // The whole value's memory up front: growing it part by part would copy it
                // over and over and need twice its size at the end.
                let mut data = Vec::new();
                if data.try_reserve_exact(length as usize).is_err() {
                    return Err(Error::Unavailable);
                }
                self.staged += length;
                self.uploads.insert(client.badge, Upload { key, length, data });
                Ok(Response::Uploading { received: 0 })
            }
            Request::PutPart { data } => {
                let part = bytes(region, data)?;
                let Some(upload) = self.uploads.get_mut(&client.badge) else {
                    return Err(Error::Upload { length: 0, received: 0 });
                };
                let received = upload.data.len() as u64;
                if received + part.len() as u64 > upload.length {
                    return Err(Error::Upload { length: upload.length, received: received + part.len() as u64 });
                }
                upload.data.extend_from_slice(part);
                Ok(Response::Uploading { received: upload.data.len() as u64 })
            }
            Request::PutCommit { durability: wanted } => {
                let Some(upload) = self.uploads.get(&client.badge) else {
                    return Err(Error::Upload { length: 0, received: 0 });
                };
                if upload.data.len() as u64 != upload.length {
                    return Err(Error::Upload { length: upload.length, received: upload.data.len() as u64 });
                }
                let result = self.store.put(namespace, &upload.key, &upload.data, durability(wanted));
                if let Err(failure) = result {
                    // A retryable failure keeps the upload for another commit.
                    let error = error(failure, &upload.key, upload.length);
                    if error != Error::Unavailable {
                        self.forget_upload(client.badge);
                    }
                    return Err(error);
                }
                self.forget_upload(client.badge);
                Ok(Response::Stored)
            }
            Request::Get { key: key_span, value_offset, into } => {
                let key = key(region, key_span)?.to_vec();
                let into_range = into.range(region.len()).ok_or(outside(region, into))?;
                let length = self.store.value_len(namespace, &key).map_err(|e| error(e, &key, 0))?;
                let copied = if value_offset >= length {
                    0
                } else {
                    self.store.read(namespace, &key, value_offset, &mut region[into_range]).map_err(|e| error(e, &key, 0))?
                };
                Ok(Response::Value { length, copied: copied as u32 })
            }
            Request::Delete { key: key_span, durability: wanted } => {
                let key = key(region, key_span)?;
                self.store.delete(namespace, key, durability(wanted)).map_err(|e| error(e, key, 0))?;
                Ok(Response::Deleted)
            }
            Request::List { prefix, after, into } => {
                let prefix = bytes(region, prefix)?.to_vec();
                let after = bytes(region, after)?.to_vec();
                let into_range = into.range(region.len()).ok_or(outside(region, into))?;
                let after = if after.is_empty() { None } else { Some(&after[..]) };
                let keys = self.store.list(namespace, &prefix, after, LIST_MAX).map_err(|e| error(e, &prefix, 0))?;
                let out = &mut region[into_range];
                let (mut count, mut at) = (0, 0);
                for key in &keys {
                    let end = at + 1 + key.len();
                    if end > out.len() {
                        break;
                    }
                    out[at] = key.len() as u8;
                    out[at + 1..end].copy_from_slice(key);
                    (count, at) = (count + 1, end);
                }
                Ok(Response::Listed { count: count as u32, bytes: at as u32, more: count < keys.len() || keys.len() == LIST_MAX })
            }
            Request::Batch { operations, count, durability: wanted } => {
                let encoded = bytes(region, operations)?;
                let mut batch = Vec::new();
                BatchOperation::decode_all(encoded, count, |operation| {
                    batch.push(match operation {
                        BatchOperation::Put { key, value } => BatchOp::Put { key, value },
                        BatchOperation::Delete { key } => BatchOp::Delete { key },
                    })
                })
                .map_err(|index| Error::BadBatch { index })?;
                for (index, operation) in batch.iter().enumerate() {
                    let (BatchOp::Put { key, .. } | BatchOp::Delete { key }) = operation;
                    if key.len() > MAX_KEY_LEN {
                        return Err(Error::BadBatch { index: index as u32 });
                    }
                }
                let total = encoded.len() as u64;
                self.store.batch(namespace, &batch, durability(wanted)).map_err(|e| error(e, b"", total))?;
                Ok(Response::Stored)
            }
            Request::Sync => {
                self.store.flush().map_err(|e| error(e, b"", 0))?;
                Ok(Response::Synced)
            }
            Request::Usage => {
                let usage = self.store.usage(namespace).map_err(|e| error(e, b"", 0))?;
                let config = self.store.namespace(namespace).ok_or(Error::NoNamespace { badge: client.badge })?;
                Ok(Response::Usage { bytes: usage.bytes, keys: usage.keys, max_bytes: config.max_bytes, max_keys: config.max_keys })
            }
        }
    }
}

/// The protocol's error for a store error about `key` (a value of `length` bytes).
fn error(error: crate::Error, key: &[u8], length: u64) -> Error {
    match error {
        crate::Error::NotFound => Error::NotFound,
        crate::Error::QuotaExceeded { limit, max, would_use, .. } => Error::QuotaExceeded {
            quota: match limit {
                Limit::Bytes => Quota::Bytes,
                Limit::Keys => Quota::Keys,
            },
            needed: would_use,
            limit: max,
        },
        crate::Error::TooLarge => Error::TooLarge { length, max: MAX_VALUE_LEN },
        crate::Error::Corrupt(_) => Error::Corrupt {
            key: protocol::Key::from_slice(&key[..key.len().min(protocol::KEY_NAMED)]).unwrap_or_default(),
            key_length: key.len().min(MAX_KEY_LEN) as u8,
        },
        crate::Error::CorruptLog { lba } => Error::CorruptLog { sector: lba },
        crate::Error::NoSpace => Error::NoSpace,
        crate::Error::InvalidKey => Error::EmptyKey,
        // The domain maps only configured namespaces; the rest cannot reach the store.
        crate::Error::UnknownNamespace(_) | crate::Error::Unavailable | crate::Error::Unformatted | crate::Error::BadGeometry => {
            Error::Unavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamespaceConfig;
    use crate::sim::SimDevice;
    use alloc::vec;
    use tileos_protocol::store::Durability::{Buffered, Durable};

    const A: u64 = 0x61;
    const B: u64 = 0x62;

    fn service() -> Service<SimDevice> {
        let namespaces =
            [NamespaceConfig { id: 1, max_bytes: 64 * 1024, max_keys: 8 }, NamespaceConfig { id: 2, max_bytes: 8 << 20, max_keys: 100 }];
        let store = Store::format(SimDevice::new(512, 32 * 1024), 7, &namespaces).map_err(|failure| failure.error).unwrap();
        Service::new(store, vec![Client { badge: A, namespace: 1 }, Client { badge: B, namespace: 2 }], MAX_VALUE_LEN + 64 * 1024)
    }

    fn span(offset: u32, length: u32) -> Span {
        Span { offset, length }
    }

    /// A region holding `key` at 0 and `value` right after it.
    fn region_with(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut region = vec![0u8; 4096];
        region[..key.len()].copy_from_slice(key);
        region[key.len()..key.len() + value.len()].copy_from_slice(value);
        region
    }

    fn put(service: &mut Service<SimDevice>, badge: u64, key: &[u8], value: &[u8]) -> Response {
        let mut region = region_with(key, value);
        let request =
            Request::Put { key: span(0, key.len() as u32), value: span(key.len() as u32, value.len() as u32), durability: Durable };
        service.handle(badge, &request, &mut region)
    }

    fn get(service: &mut Service<SimDevice>, badge: u64, key: &[u8]) -> Result<Vec<u8>, Error> {
        let mut region = region_with(key, b"");
        match service.handle(badge, &Request::Get { key: span(0, key.len() as u32), value_offset: 0, into: span(1024, 3072) }, &mut region)
        {
            Response::Value { copied, .. } => Ok(region[1024..1024 + copied as usize].to_vec()),
            Response::Failed(error) => Err(error),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_badge_without_a_namespace_is_refused_for_everything() {
        let mut service = service();
        let mut region = region_with(b"k", b"v");
        for request in [Request::Sync, Request::Usage, Request::PutCommit { durability: Durable }] {
            assert_eq!(service.handle(0x99, &request, &mut region), Response::Failed(Error::NoNamespace { badge: 0x99 }));
        }
    }

    #[test]
    fn namespaces_never_see_each_other() {
        let mut service = service();
        assert_eq!(put(&mut service, A, b"secret", b"a's"), Response::Stored);
        assert_eq!(get(&mut service, B, b"secret"), Err(Error::NotFound));
        let mut region = vec![0u8; 4096];
        let listed = service.handle(B, &Request::List { prefix: span(0, 0), after: span(0, 0), into: span(0, 4096) }, &mut region);
        assert_eq!(listed, Response::Listed { count: 0, bytes: 0, more: false });
        assert_eq!(
            service.handle(B, &Request::Delete { key: span(0, 1), durability: Durable }, &mut region_with(b"s", b"")),
            Response::Failed(Error::NotFound)
        );
        assert_eq!(get(&mut service, A, b"secret"), Ok(b"a's".to_vec()));
    }

    #[test]
    fn spans_outside_the_region_and_bad_keys_are_refused_precisely() {
        let mut service = service();
        let mut region = vec![0u8; 4096];
        let huge = span(u32::MAX, u32::MAX);
        let refused = |end: u64| Response::Failed(Error::OutsideBuffer { end, region: 4096 });
        assert_eq!(
            service.handle(A, &Request::Put { key: huge, value: span(0, 1), durability: Durable }, &mut region),
            refused(2 * u64::from(u32::MAX))
        );
        assert_eq!(
            service.handle(A, &Request::Put { key: span(0, 1), value: span(4000, 97), durability: Durable }, &mut region),
            refused(4097)
        );
        assert_eq!(service.handle(A, &Request::Get { key: span(0, 1), value_offset: 0, into: span(4096, 1) }, &mut region), refused(4097));
        assert_eq!(
            service.handle(A, &Request::Put { key: span(0, 0), value: span(0, 0), durability: Durable }, &mut region),
            Response::Failed(Error::EmptyKey)
        );
        assert_eq!(
            service.handle(A, &Request::Put { key: span(0, 256), value: span(0, 0), durability: Durable }, &mut region),
            Response::Failed(Error::TooLarge { length: 256, max: 255 })
        );
        assert_eq!(
            service.handle(A, &Request::PutBegin { key: span(0, 1), length: u64::MAX }, &mut region),
            Response::Failed(Error::TooLarge { length: u64::MAX, max: MAX_VALUE_LEN })
        );
        // Still serving.
        assert_eq!(put(&mut service, A, b"k", b"v"), Response::Stored);
    }

    #[test]
    fn quota_overruns_name_the_quota_and_write_nothing() {
        let mut service = service();
        for index in 0..8u8 {
            assert_eq!(put(&mut service, A, &[b'k', index], b"v"), Response::Stored);
        }
        assert_eq!(put(&mut service, A, b"k9", b"v"), Response::Failed(Error::QuotaExceeded { quota: Quota::Keys, needed: 9, limit: 8 }));
        assert_eq!(get(&mut service, A, b"k9"), Err(Error::NotFound));
        let mut big = vec![0u8; 70 * 1024];
        big[..2].copy_from_slice(&[b'k', 0]);
        let request = Request::Put { key: span(0, 2), value: span(2, 65 * 1024), durability: Buffered };
        assert!(matches!(service.handle(A, &request, &mut big), Response::Failed(Error::QuotaExceeded { quota: Quota::Bytes, .. })));
    }

    #[test]
    fn uploads_in_parts_and_their_misuse() {
        let mut service = service();
        let mut region = region_with(b"big", b"");
        let value: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(
            service.handle(B, &Request::PutPart { data: span(0, 1) }, &mut region),
            Response::Failed(Error::Upload { length: 0, received: 0 })
        );
        assert_eq!(
            service.handle(B, &Request::PutBegin { key: span(0, 3), length: 10_000 }, &mut region),
            Response::Uploading { received: 0 }
        );
        for part in value.chunks(4096) {
            region[..part.len()].copy_from_slice(part);
            assert!(matches!(
                service.handle(B, &Request::PutPart { data: span(0, part.len() as u32) }, &mut region),
                Response::Uploading { .. }
            ));
        }
        assert_eq!(
            service.handle(B, &Request::PutPart { data: span(0, 1) }, &mut region),
            Response::Failed(Error::Upload { length: 10_000, received: 10_001 })
        );
        assert_eq!(service.handle(B, &Request::PutCommit { durability: Durable }, &mut region), Response::Stored);
        assert_eq!(
            service.handle(B, &Request::PutCommit { durability: Durable }, &mut region),
            Response::Failed(Error::Upload { length: 0, received: 0 })
        );
        let mut whole = Vec::new();
        while whole.len() < value.len() {
            region[..3].copy_from_slice(b"big");
            let request = Request::Get { key: span(0, 3), value_offset: whole.len() as u64, into: span(3, 4000) };
            let Response::Value { length, copied } = service.handle(B, &request, &mut region) else { panic!() };
            assert_eq!(length, 10_000);
            whole.extend_from_slice(&region[3..3 + copied as usize]);
        }
        assert_eq!(whole, value);
        // A commit before every byte arrived is refused, and the upload stays.
        region[..3].copy_from_slice(b"big");
        service.handle(B, &Request::PutBegin { key: span(0, 3), length: 10 }, &mut region);
        assert_eq!(
            service.handle(B, &Request::PutCommit { durability: Durable }, &mut region),
            Response::Failed(Error::Upload { length: 10, received: 0 })
        );
    }

    #[test]
    fn staged_uploads_are_bounded_over_all_clients() {
        let mut service = service();
        let mut region = region_with(b"k", b"");
        assert_eq!(
            service.handle(A, &Request::PutBegin { key: span(0, 1), length: MAX_VALUE_LEN }, &mut region),
            Response::Uploading { received: 0 }
        );
        assert_eq!(
            service.handle(B, &Request::PutBegin { key: span(0, 1), length: MAX_VALUE_LEN }, &mut region),
            Response::Failed(Error::Unavailable)
        );
        service.forget_upload(A);
        assert_eq!(
            service.handle(B, &Request::PutBegin { key: span(0, 1), length: MAX_VALUE_LEN }, &mut region),
            Response::Uploading { received: 0 }
        );
    }

    #[test]
    fn malformed_batches_name_the_operation_and_write_nothing() {
        let mut service = service();
        let mut region = vec![0u8; 4096];
        let end = BatchOperation::Put { key: b"x", value: b"1" }.encode(&mut region, 0).unwrap();
        let end2 = BatchOperation::Put { key: b"y", value: b"2" }.encode(&mut region, end).unwrap();
        region[end] = 9;
        let request = Request::Batch { operations: span(0, end2 as u32), count: 2, durability: Durable };
        assert_eq!(service.handle(A, &request, &mut region), Response::Failed(Error::BadBatch { index: 1 }));
        assert_eq!(get(&mut service, A, b"x"), Err(Error::NotFound));
        region[end] = 1;
        assert_eq!(service.handle(A, &request, &mut region), Response::Stored);
        assert_eq!(get(&mut service, A, b"y"), Ok(b"2".to_vec()));
    }

    #[test]
    fn listing_pages_through_keys_in_order() {
        let mut service = service();
        for key in [&b"a/3"[..], b"a/1", b"b/1", b"a/2"] {
            assert_eq!(put(&mut service, B, key, b"v"), Response::Stored);
        }
        let mut region = vec![0u8; 4096];
        region[..2].copy_from_slice(b"a/");
        // Room for two keys of 3 bytes.
        let first = service.handle(B, &Request::List { prefix: span(0, 2), after: span(0, 0), into: span(100, 8) }, &mut region);
        assert_eq!(first, Response::Listed { count: 2, bytes: 8, more: true });
        assert_eq!(&region[100..108], b"\x03a/1\x03a/2");
        region[200..203].copy_from_slice(b"a/2");
        let rest = service.handle(B, &Request::List { prefix: span(0, 2), after: span(200, 3), into: span(100, 100) }, &mut region);
        assert_eq!(rest, Response::Listed { count: 1, bytes: 4, more: false });
        assert_eq!(&region[100..104], b"\x03a/3");
    }

    #[test]
    fn a_device_failure_is_retryable_and_never_wrong_data() {
        let mut service = service();
        assert_eq!(put(&mut service, A, b"k", b"before"), Response::Stored);
        service.store().device_mut().fail_next_calls(1);
        assert_eq!(put(&mut service, A, b"k", b"after"), Response::Failed(Error::Unavailable));
        // The store re-mounts; the failed put may or may not have happened, never in part.
        let value = get(&mut service, A, b"k").unwrap();
        assert!(value == b"before" || value == b"after", "{value:?}");
        assert_eq!(
            service.handle(A, &Request::Usage, &mut [0u8; 16]),
            Response::Usage { bytes: 1 + value.len() as u64, keys: 1, max_bytes: 64 * 1024, max_keys: 8 }
        );
    }

    /// Any request with any spans, counts and lengths, from any badge, is answered (never a
    /// panic), and the store keeps serving an honest client afterwards.
    mod hostile {
        use super::*;
        use proptest::prelude::*;

        fn any_span() -> impl Strategy<Value = Span> {
            prop_oneof![
                (0u32..5000, 0u32..5000).prop_map(|(offset, length)| Span { offset, length }),
                (any::<u32>(), any::<u32>()).prop_map(|(offset, length)| Span { offset, length }),
            ]
        }

        fn any_durability() -> impl Strategy<Value = protocol::Durability> {
            prop_oneof![Just(Durable), Just(Buffered)]
        }

        fn any_request() -> impl Strategy<Value = Request> {
            prop_oneof![
                (any_span(), any_span(), any_durability()).prop_map(|(key, value, durability)| Request::Put { key, value, durability }),
                (any_span(), prop_oneof![0u64..20_000, any::<u64>()]).prop_map(|(key, length)| Request::PutBegin { key, length }),
                any_span().prop_map(|data| Request::PutPart { data }),
                any_durability().prop_map(|durability| Request::PutCommit { durability }),
                (any_span(), any::<u64>(), any_span()).prop_map(|(key, value_offset, into)| Request::Get { key, value_offset, into }),
                (any_span(), any_durability()).prop_map(|(key, durability)| Request::Delete { key, durability }),
                (any_span(), any_span(), any_span()).prop_map(|(prefix, after, into)| Request::List { prefix, after, into }),
                (any_span(), any::<u32>(), any_durability()).prop_map(|(operations, count, durability)| Request::Batch {
                    operations,
                    count,
                    durability
                }),
                Just(Request::Sync),
                Just(Request::Usage),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn hostile_requests_are_answered_and_the_store_keeps_serving(
                requests in proptest::collection::vec((prop_oneof![Just(A), Just(B), any::<u64>()], any_request(), proptest::collection::vec(any::<u8>(), 0..4096)), 1..24)
            ) {
                let mut service = service();
                for (badge, request, mut region) in requests {
                    let _ = service.handle(badge, &request, &mut region);
                }
                // B's quota (100 keys, 8 MiB) outlasts any 24 requests of at most 4 KiB.
                service.forget_upload(B);
                prop_assert_eq!(put(&mut service, B, b"honest", b"still served"), Response::Stored);
                prop_assert_eq!(get(&mut service, B, b"honest"), Ok(b"still served".to_vec()));
            }
        }
    }
}
