//! The hostile client of scenario `inference` (docs/inference.md "Boot tests"). It shares
//! the inference domains' store namespace (so it can plant bundles) and may restart the first
//! domain. Every check logs `@event inference-hostile.check what=… result=ok|FAILED`: raw
//! malformed messages, oversized, empty and non-printable prompts, bad `max_new`, unknown
//! adapters, forged, tampered, misnamed (replayed) and non-adapter bundles, an oversized
//! value in the store; the domain answers its honest request after each, and after the
//! supervisor restarted it (counters from zero, the adapter swapped in again, the base
//! not reloaded from anywhere but the shared region). The same program without a store
//! (domain `inference-stranger`, a badge of the second domain without `generate = 1`)
//! checks the badge refusal.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use tileos_protocol::inference::{AdapterName, BundleFault, Error, Inference, MAX_NEW_TOKENS, Prompt, Request, Response};
use tileos_protocol::store::Durability;
use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_service_inference::call as call_as;
use tileos_service_store::StoreClient;
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The first inference domain.
        inference: ClientEndpoint("inference"),
        /// The store, the inference domains' namespace (the attacker only).
        store: ClientEndpoint("store", optional),
        /// The region shared with the store.
        buffer: Region("store-buffer", optional),
        /// The supervisor (the attacker only: it restarts the inference domain).
        supervisor: ClientEndpoint("supervisor", optional),
    }
}

tileos_sys::entry!(main);

/// The bundles the build forged, by the name they are planted under.
static PLANTED: [(&str, &[u8]); 4] = [
    ("forged", include_bytes!(concat!(env!("OUT_DIR"), "/forged.bundle"))),
    ("tampered", include_bytes!(concat!(env!("OUT_DIR"), "/tampered.bundle"))),
    ("garbage", include_bytes!(concat!(env!("OUT_DIR"), "/garbage.bundle"))),
    // t2's genuine bundle replayed under another name.
    ("t9", include_bytes!(concat!(env!("OUT_DIR"), "/t2.bundle"))),
];

/// Questions the parity client (`inference-client`) asks the first domain.
const CLIENT_QUESTIONS: u64 = 20;

fn check(what: &str, ok: bool, detail: &dyn core::fmt::Debug) {
    log_event!("inference-hostile.check", what = what, result = if ok { "ok" } else { "FAILED" });
    if !ok {
        log!("inference-hostile: {what}: {detail:?}");
    }
}

fn call(client: &Client<Inference>, request: &Request) -> Response {
    call_as("inference-hostile", client, request)
}

fn generate(adapter: &str, prompt: &[u8], max_new: u16) -> Request {
    Request::Generate {
        adapter: Some(AdapterName::try_from(adapter).unwrap_or_default()),
        prompt: Prompt::from_slice(prompt).unwrap_or_default(),
        max_new,
    }
}

fn refused(client: &Client<Inference>, what: &str, request: &Request, expected: Error) {
    let answer = call(client, request);
    check(what, answer == Response::Refused(expected), &answer);
    // The domain keeps serving an honest request.
    let honest = call(client, &generate("t1", b"12+7", 8));
    check("still-serving", matches!(honest, Response::Generated(_)), &honest);
}

fn main(resources: Resources) -> ! {
    let client = Client::<Inference>::new(resources.inference);
    let (Some(store), Some(buffer), Some(supervisor)) = (resources.store, resources.buffer, resources.supervisor) else {
        stranger(&client);
    };
    // The parity client asks the first domain 20 questions: let it finish, so that the
    // counters after the restart are this client's alone.
    while !matches!(call(&client, &Request::Status), Response::Status(status) if status.counters.generated >= CLIENT_QUESTIONS) {
        tileos_sys::yield_now();
    }
    let store = StoreClient::new(store, buffer);
    for (name, bundle) in PLANTED {
        let key = tileos_inference::service::adapter_key(name);
        let planted = store.put(key.as_bytes(), bundle, Durability::Buffered);
        check("plant", planted.is_ok(), &planted);
    }
    let huge = alloc::vec![0u8; 80 * 1024];
    let planted = store.put(b"adapter/huge", &huge, Durability::Buffered);
    check("plant", planted.is_ok(), &planted);

    let name = |n: &str| AdapterName::try_from(n).unwrap_or_default();
    let rejected = |n: &str, fault| Error::AdapterRejected { adapter: name(n), fault };
    let max = MAX_NEW_TOKENS as u16;
    refused(&client, "prompt-too-long", &generate("t1", &[b'1'; 62], 8), Error::PromptTooLong { len: 62, max: 61 });
    refused(&client, "prompt-wire-maximum", &generate("t1", &[b'7'; 256], 8), Error::PromptTooLong { len: 256, max: 61 });
    refused(&client, "prompt-empty", &generate("t1", b"", 8), Error::EmptyPrompt);
    refused(&client, "prompt-byte", &generate("t1", b"1+\x1b1", 8), Error::PromptByte { index: 2, byte: 0x1b });
    refused(&client, "max-new-zero", &generate("t1", b"1+1", 0), Error::MaxNew { requested: 0, max });
    refused(&client, "max-new-huge", &generate("t1", b"1+1", u16::MAX), Error::MaxNew { requested: u16::MAX, max });
    refused(&client, "unknown-adapter", &generate("t7", b"1+1", 8), Error::UnknownAdapter(name("t7")));
    refused(&client, "forged-bundle", &generate("forged", b"1+1", 8), rejected("forged", BundleFault::UnknownSigner));
    refused(&client, "tampered-bundle", &generate("tampered", b"1+1", 8), rejected("tampered", BundleFault::ContentHashMismatch));
    refused(&client, "replayed-bundle", &generate("t9", b"1+1", 8), rejected("t9", BundleFault::WrongModule));
    refused(&client, "not-an-adapter", &generate("garbage", b"1+1", 8), rejected("garbage", BundleFault::BadAdapterFile));
    refused(&client, "oversized-bundle", &generate("huge", b"1+1", 8), rejected("huge", BundleFault::TooLarge));

    // Raw messages a typed client cannot send.
    let cptr = resources.inference.cptr();
    let error_of = |label, words: &[u64]| tileos_sys::rpc::raw_call_error(cptr, label, words);
    let unknown = error_of(0x7777, &[1, 2]);
    check("unknown-label", unknown == Some(ProtocolError::UnknownLabel), &unknown);
    let negative = error_of(MESSAGE, &[u64::MAX, 0]);
    check("negative-length", negative == Some(ProtocolError::Truncated), &negative);
    let undecodable = error_of(MESSAGE, &[2, 0xC8C8]);
    check("undecodable", undecodable == Some(ProtocolError::Malformed), &undecodable);
    // Generate with no adapter and a prompt claiming 300 bytes (the wire limit is 256):
    // variant 0, None, length 300 (varint 0xac 0x02).
    let oversized = error_of(MESSAGE, &[5, 0x02ac_0000, 0]);
    check("oversized-wire-prompt", oversized == Some(ProtocolError::Malformed), &oversized);

    // After a restart: counters from zero, the base from the same frames, still refusing.
    let Response::Status(before) = call(&client, &Request::Status) else {
        check("status", false, &"no status");
        tileos_sys::domain::stop();
    };
    let supervisor = Client::<Supervisor>::new(supervisor);
    let restarted = supervisor.call(&supervisor::Request::Restart { domain: "inference".try_into().unwrap_or_default() });
    check("restart", matches!(restarted, Ok(supervisor::Response::Restarted { .. })), &restarted);
    refused(&client, "forged-after-restart", &generate("forged", b"1+1", 8), rejected("forged", BundleFault::UnknownSigner));
    let Response::Status(after) = call(&client, &Request::Status) else {
        check("status", false, &"no status");
        tileos_sys::domain::stop();
    };
    let fresh = after.counters.generated == 1 && after.counters.refused == 1 && after.counters.swaps == 1;
    check("restarted-counters", fresh && after.base == before.base && after.counters.base_loads == 1, &(&before, &after));
    log_event!("inference-hostile.done", base_paddr = after.base.region_paddr);
    tileos_sys::domain::stop();
}

/// A badge without `generate = 1`.
fn stranger(client: &Client<Inference>) -> ! {
    let answer = call(client, &generate("t1", b"1+1", 8));
    let ok = matches!(answer, Response::Refused(Error::NotPermitted { .. }));
    check("stranger-generate", ok, &answer);
    let answer = call(client, &Request::Status);
    check("stranger-status", matches!(answer, Response::Refused(Error::NotPermitted { .. })), &answer);
    log_event!("inference-hostile.stranger-done");
    tileos_sys::domain::stop();
}
