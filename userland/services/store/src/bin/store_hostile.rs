//! A hostile client of the store (the store boot test, scenario `store`): it sends what an
//! attacker would — messages that are no request, spans outside its region and of
//! overflowing lengths, empty and oversized keys, uploads out of order, malformed
//! batches, reads of other namespaces' keys, writes past its quota — and logs one
//! `@event store-hostile.attempt name=… verdict=refused|ALLOWED` per attempt: `refused`
//! when the store answered the precise error expected. The same program run without a
//! namespace (a client entry without parameters, as domain `store-stranger`) checks that
//! every request is answered `NoNamespace`. It ends with `<its domain name>: done`.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use tileos_protocol::store::{Error, Quota, Request, Response, Span};
use tileos_protocol::{ERROR, MESSAGE, ProtocolError};
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// The store and, if it has a namespace, the region shared with it.
    struct Resources {
        /// The store's endpoint.
        store: ClientEndpoint("store"),
        /// The region the store maps as `store-buffer.<badge>`.
        buffer: Region("store-buffer", optional),
    }
}

tileos_sys::entry!(main);

fn span(offset: u32, length: u32) -> Span {
    Span { offset, length }
}

/// Logs one attempt: refused when `answer` is what `expected` accepts.
fn attempt(name: &str, answer: Result<Response, ClientError>, expected: impl Fn(&Result<Response, ClientError>) -> bool) {
    let verdict = if expected(&answer) { "refused" } else { "ALLOWED" };
    log!("{} answer {answer:?}", tileos_sys::event_line!("store-hostile.attempt", name = name, verdict = verdict));
}

fn store_error(answer: &Result<Response, ClientError>, wanted: Error) -> bool {
    matches!(answer, Err(ClientError::Store(error)) if *error == wanted)
}

/// A raw message to the store: `label` and `words` as given.
fn raw(endpoint: tileos_sys::cap::Endpoint, label: u64, words: &[u64]) -> (u64, u64) {
    let reply = tileos_sys::call(endpoint.cptr(), label, words, &[]);
    (reply.info.label(), reply.words[0])
}

fn with_namespace(store: &StoreClient, endpoint: tileos_sys::cap::Endpoint) {
    let region = store.buffer().len() as u32;
    let malformed = |label, words: &[u64], wanted: ProtocolError| {
        let (reply_label, code) = raw(endpoint, label, words);
        let verdict = if reply_label == ERROR && code == wanted as u64 { "refused" } else { "ALLOWED" };
        log_event!("store-hostile.attempt", name = "malformed-message", verdict = verdict, error = code);
    };
    malformed(MESSAGE, &[1000, 0], ProtocolError::Truncated);
    malformed(0x7777, &[0], ProtocolError::UnknownLabel);
    malformed(MESSAGE, &[3, 0xFFFF_FFFF], ProtocolError::Malformed);
    let outside = |end: u64| {
        move |answer: &Result<Response, ClientError>| store_error(answer, Error::OutsideBuffer { end, region: u64::from(region) })
    };
    let put = |key, value| Request::Put { key, value, durability: tileos_protocol::store::Durability::Durable };
    attempt("key-outside-region", store.call(&put(span(region, 1), span(0, 0))), outside(u64::from(region) + 1));
    attempt("overflowing-span", store.call(&put(span(u32::MAX, u32::MAX), span(0, 0))), outside(2 * u64::from(u32::MAX)));
    attempt("value-outside-region", store.call(&put(span(0, 1), span(1, region))), outside(u64::from(region) + 1));
    attempt("empty-key", store.call(&put(span(0, 0), span(0, 0))), |a| store_error(a, Error::EmptyKey));
    attempt("oversized-key", store.call(&put(span(0, 256), span(0, 0))), |a| store_error(a, Error::TooLarge { length: 256, max: 255 }));
    attempt("oversized-upload", store.call(&Request::PutBegin { key: span(0, 1), length: 5 << 20 }), |a| {
        // The limit is 4 MiB or the store's upload limit (half its heap), whichever is lower.
        matches!(a, Err(ClientError::Store(Error::TooLarge { length, max })) if *length == 5 << 20 && *max <= 4 << 20)
    });
    attempt("part-without-upload", store.call(&Request::PutPart { data: span(0, 1) }), |a| {
        store_error(a, Error::Upload { length: 0, received: 0 })
    });
    store.buffer().write_bytes(0, b"u");
    let _ = store.call(&Request::PutBegin { key: span(0, 1), length: 100 });
    attempt("early-commit", store.call(&Request::PutCommit { durability: tileos_protocol::store::Durability::Durable }), |a| {
        store_error(a, Error::Upload { length: 100, received: 0 })
    });
    attempt("part-past-length", store.call(&Request::PutPart { data: span(0, 101) }), |a| {
        store_error(a, Error::Upload { length: 100, received: 101 })
    });
    for (name, count) in [("batch-of-none", 0), ("batch-of-thousands", 5000)] {
        let batch = Request::Batch { operations: span(0, 64), count, durability: tileos_protocol::store::Durability::Durable };
        attempt(name, store.call(&batch), |a| store_error(a, Error::BadBatch { index: count }));
    }
    store.buffer().fill(0, 64, 0xEE);
    let garbage = Request::Batch { operations: span(0, 64), count: 2, durability: tileos_protocol::store::Durability::Durable };
    attempt("garbage-batch", store.call(&garbage), |a| store_error(a, Error::BadBatch { index: 0 }));
    attempt(
        "read-into-outside",
        store.call(&Request::Get { key: span(0, 1), value_offset: 0, into: span(region - 1, 2) }),
        outside(u64::from(region) + 1),
    );
    // Other namespaces' keys: the demo's boot counter and the writer's first number.
    for key in [&b"boots"[..], b"w/00000001", b"greeting"] {
        attempt("other-namespace-key", store.get(key).map(|_| Response::Stored), |a| store_error(a, Error::NotFound));
    }
    // Listing everything shows only this namespace's own keys (the `q…` keys below, from
    // an earlier boot), never another's.
    let mut foreign = 0;
    let listed = store.list(b"", |key| foreign += u32::from(!key.starts_with(b"q"))).map(|()| Response::Listed {
        count: foreign,
        bytes: 0,
        more: false,
    });
    attempt("list-everything", listed, |a| matches!(a, Ok(Response::Listed { count: 0, .. })));
    // Past the quota (4 keys, 4 KiB): the fifth key, then a value too large.
    for index in 0..4u8 {
        let _ = store.put(&[b'q', index], b"x", tileos_protocol::store::Durability::Buffered);
    }
    attempt("fifth-key", store.put(b"q9", b"x", tileos_protocol::store::Durability::Durable).map(|()| Response::Stored), |a| {
        matches!(a, Err(ClientError::Store(Error::QuotaExceeded { quota: Quota::Keys, needed: 5, limit: 4 })))
    });
    attempt(
        "over-byte-quota",
        store.put(&[b'q', 0], &[0; 5000], tileos_protocol::store::Durability::Durable).map(|()| Response::Stored),
        |a| matches!(a, Err(ClientError::Store(Error::QuotaExceeded { quota: Quota::Bytes, .. }))),
    );
    // Nothing of the refused write is there.
    match store.get(&[b'q', 0]) {
        Ok(value) if value == b"x" => log_event!("store-hostile.attempt", name = "quota-left-nothing", verdict = "refused"),
        other => {
            log!("{} answer {other:?}", tileos_sys::event_line!("store-hostile.attempt", name = "quota-left-nothing", verdict = "ALLOWED"))
        }
    }
}

fn without_namespace(endpoint: tileos_sys::cap::Endpoint) {
    let client = tileos_sys::rpc::Client::<tileos_protocol::store::Store>::new(endpoint);
    let badge_refused =
        |answer: &Result<Response, tileos_sys::rpc::CallError>| matches!(answer, Ok(Response::Failed(Error::NoNamespace { .. })));
    for (name, request) in [
        ("stranger-usage", Request::Usage),
        ("stranger-sync", Request::Sync),
        ("stranger-get", Request::Get { key: span(0, 1), value_offset: 0, into: span(0, 1) }),
        ("stranger-list", Request::List { prefix: span(0, 0), after: span(0, 0), into: span(0, 64) }),
    ] {
        let answer = client.call(&request);
        let verdict = if badge_refused(&answer) { "refused" } else { "ALLOWED" };
        log!("{} answer {answer:?}", tileos_sys::event_line!("store-hostile.attempt", name = name, verdict = verdict));
    }
}

fn main(resources: Resources) -> ! {
    match resources.buffer {
        Some(buffer) => {
            let endpoint = resources.store;
            with_namespace(&StoreClient::new(endpoint, buffer), endpoint);
        }
        None => without_namespace(resources.store),
    }
    log!("{}: done", tileos_sys::domain::name());
    tileos_sys::domain::stop();
}
