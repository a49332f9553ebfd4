//! The twin domain (docs/twin.md "The twin domain"): the tile's digital twin. It subscribes
//! to every quantity of the sensors domain, feeds `tileos_twin::service::Twin` (state
//! model, bearing-wear detector, thermal advice, sample windows), writes each minute's
//! aggregate to the store (a ring of [`HISTORY_SLOTS`] keys `twin/history/NN`), keeps the
//! export gate's ledger in the store (key `twin/ledger`, written durably before any
//! release leaves) and serves the twin protocol (`tileos_protocol::twin`) on "twin".
//!
//! Budgets come from the description: each client of "twin" with params `eps_micros` (and
//! optionally `delta_femtos`) is a recipient with that budget; its badge names it. Without
//! a store (the capability is optional) the twin runs, but exports stay closed and no
//! history is kept.
//!
//! With a telemetry capability it reports its own call latencies and reads every domain's
//! figures every [`REPORT_EVERY`] sensor updates: their sums, the slowest reporter and the
//! tile's load become the state's compute part, and the load goes to the sensors domain
//! (`ReportLoad`), whose simulator's power and thermal models follow it. With a
//! federation capability (optional) it then publishes the tile's summary of each compute
//! state it takes (`PublishFigures` of `tileos_twin::compute::tile_figures`, logged as
//! `@event twin.published`) when the description names it `[federation] figures_publisher`;
//! a failed publish is logged once per kind of failure and is never fatal.
//!
//! It waits on its endpoint with the sensors domain's notification bound to its thread (a
//! signal ends the wait), so it does not poll; if the binding is refused it polls both and
//! yields when idle. It runs below the sensors domain with a budget.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use core::fmt::Write;
use tileos_abi::invocation::{CPtr, TcbBindNotification};
use tileos_protocol::federation::{self, Federation};
use tileos_protocol::sensors::{self, ALL_QUANTITIES, Quantity, Sensors};
use tileos_protocol::store::{Durability, Error as StoreError};
use tileos_protocol::telemetry::{self, Telemetry};
use tileos_protocol::twin::{self, Bearing, Request, Response};
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};
use tileos_twin::drbg::HashDrbg;
use tileos_twin::service::{Grant, Twin, encode_minute};

/// The store key of the export gate's ledger.
const LEDGER_KEY: &[u8] = b"twin/ledger";
/// The prefix of the history keys.
const HISTORY_PREFIX: &str = "twin/history/";
/// Minutes of history kept (the ring's size).
const HISTORY_SLOTS: u32 = 60;
/// Shortest time between two sensor notifications, ms.
const WAKE_MS: u32 = 200;
/// Sensor updates taken between two telemetry reports (about 2 s at one signal per 200 ms).
const REPORT_EVERY: u32 = 10;
/// Most recipients (the description's params hold at most 16 entries).
const MAX_GRANTS: usize = 16;

tileos_sys::resources! {
    /// What the twin needs from the description.
    struct Resources {
        /// The twin protocol's endpoint.
        twin: ServedEndpoint("twin"),
        /// The sensor protocol.
        sensors: ClientEndpoint("sensors"),
        /// Signalled by the sensors domain (`sensor-wake.<badge>`).
        wake: WaitNotification("sensor-wake"),
        /// The store (history and ledger).
        store: ClientEndpoint("store", optional),
        /// The region shared with the store.
        buffer: Region("store-buffer", optional),
        /// The telemetry domain, if the description has it: the twin reports its call
        /// latencies (to the sensors domain and the store) and reads every domain's figures
        /// every [`REPORT_EVERY`] updates.
        telemetry: ClientEndpoint("telemetry", optional),
        /// The federation service, if the description has it: the twin publishes the
        /// tile's figures after each compute state it takes.
        federation: ClientEndpoint("federation", optional),
    }
}

tileos_sys::entry!(main);

/// Milliseconds since boot (the sensors domain's clock: the same time-stamp counter).
fn now_ms() -> u64 {
    tileos_sys::timestamp() / tileos_sys::domain::info().tsc_per_ms.max(1)
}

/// How long a store that answers `Unavailable` (restarting, or its disk is missing) is
/// retried before the twin goes on without it, ms.
const STORE_PATIENCE_MS: u64 = 3000;

/// Runs `operation` until it succeeds or fails for good; a restarting or unavailable store
/// is retried for [`STORE_PATIENCE_MS`], then its last error is the result.
fn retrying<T>(mut operation: impl FnMut() -> Result<T, ClientError>) -> Result<T, ClientError> {
    let started = now_ms();
    loop {
        match operation() {
            Err(error) if error.is_retryable() && now_ms().saturating_sub(started) < STORE_PATIENCE_MS => tileos_sys::yield_now(),
            result => return result,
        }
    }
}

/// The recipients the description grants a budget.
fn grants() -> heapless::Vec<Grant, MAX_GRANTS> {
    let mut grants: heapless::Vec<Grant, MAX_GRANTS> = heapless::Vec::new();
    for (badge, name, value) in tileos_sys::domain::params("twin") {
        if name != "eps_micros" {
            continue;
        }
        let delta_femtos = tileos_sys::domain::param("twin", badge, "delta_femtos").unwrap_or(0);
        let _ = grants.push(Grant { badge, epsilon_micros: value, delta_femtos });
    }
    grants
}

/// Loads or creates the ledger and writes it when it changed. Exports stay closed when the
/// ledger cannot be read or the new one cannot be written. Returns whether the store
/// answered at all (a store unavailable for [`STORE_PATIENCE_MS`] is not used again: no
/// history either, rather than a stall at every minute).
fn open_ledger(twin: &mut Twin, store: &StoreClient) -> bool {
    let grants = grants();
    let stored = match retrying(|| store.get(LEDGER_KEY)) {
        Ok(bytes) => Some(bytes),
        Err(ClientError::Store(StoreError::NotFound)) => None,
        Err(error) => {
            log!("twin: exports closed, no history: reading the ledger {:?} from the store failed: {error:?}", "twin/ledger");
            log_event!("twin.ledger", state = "closed", reason = "store");
            return false;
        }
    };
    let opened = match twin.open_ledger(stored.as_deref(), &grants) {
        Ok(opened) => opened,
        Err(error) => {
            log!("twin: exports closed: the ledger {:?} in the store is refused: {error:?}", "twin/ledger");
            log_event!("twin.ledger", state = "closed", reason = "corrupt");
            return true;
        }
    };
    for (badge, error) in &opened.refused {
        log!("twin: the budget of badge {badge} (description param eps_micros/delta_femtos of endpoint twin) is refused: {error}");
    }
    if opened.changed() && !persist(twin, store) {
        // The ledger lives only in memory; releases would be withheld anyway, so close now.
        twin.close_ledger();
        log_event!("twin.ledger", state = "closed", reason = "unwritable");
        return true;
    }
    log_event!("twin.ledger", state = "open", created = opened.created, recipients = grants.len());
    true
}

/// Writes the ledger durably; whether it was.
fn persist(twin: &Twin, store: &StoreClient) -> bool {
    let Some(bytes) = twin.ledger_bytes() else { return false };
    match retrying(|| store.put(LEDGER_KEY, &bytes, Durability::Durable)) {
        Ok(()) => true,
        Err(error) => {
            log!("twin: writing the ledger ({} bytes) to the store failed: {error:?}", bytes.len());
            false
        }
    }
}

/// The history key of `minute`.
fn history_key(minute: u32) -> heapless::String<24> {
    let mut key = heapless::String::new();
    let _ = write!(key, "{HISTORY_PREFIX}{:02}", minute % HISTORY_SLOTS);
    key
}

fn main(resources: Resources) -> ! {
    let mut twin = Twin::new();
    let mut store = resources.store.zip(resources.buffer).map(|(endpoint, buffer)| StoreClient::new(endpoint, buffer));
    let mut drbg = HashDrbg::new(&seed());
    if let Some(client) = &store
        && !open_ledger(&mut twin, client)
    {
        store = None;
    }
    match &store {
        Some(store) => {
            let mut minutes = 0;
            match retrying(|| {
                minutes = 0;
                store.list(HISTORY_PREFIX.as_bytes(), |_| minutes += 1)
            }) {
                Ok(()) => twin.set_history_minutes(minutes),
                Err(error) => log!("twin: listing the history in the store failed: {error:?}"),
            }
        }
        None if resources.store.is_none() => {
            log!("twin: no store capability: no history, exports closed");
            log_event!("twin.ledger", state = "closed", reason = "no-store");
        }
        None => {}
    }
    let sensors = Client::<Sensors>::new(resources.sensors);
    let subscribed = loop {
        match sensors.call(&sensors::Request::Subscribe { quantities: ALL_QUANTITIES, min_interval_ms: WAKE_MS }) {
            Ok(sensors::Response::Subscribed { quantities }) => break quantities,
            Ok(other) => {
                log!("twin: FAILED: the sensors domain refused the subscription: {other:?}");
                tileos_sys::domain::stop();
            }
            Err(_) => tileos_sys::yield_now(),
        }
    };
    log!("twin: subscribed to the sensors (set {subscribed:#x}), generation {}", tileos_sys::domain::info().generation);
    log_event!("twin.ready", generation = tileos_sys::domain::info().generation);
    let mut vibration = [0i32; 3];
    let telemetry = resources.telemetry.map(Client::<Telemetry>::new);
    let federation = resources.federation.map(Client::<Federation>::new);
    let mut publish_failures = PublishFailures::default();
    let mut updates = 0u32;
    // The sensor notification bound to this thread ends a wait on the endpoint, so the twin
    // blocks instead of polling (its idle time is then no one's CPU time, docs/twin.md "Limits
    // of the load"); without the binding it polls both and yields.
    let bound = tileos_sys::domain::own_tcb().invoke(TcbBindNotification { notification: CPtr(resources.wake.cptr()) }).is_ok();
    if !bound {
        log!("twin: cannot bind the sensor notification to the thread: polling");
    }
    let endpoint = resources.twin.cptr();
    loop {
        let signalled = !bound && resources.wake.poll() != 0;
        let message = tileos_sys::recv(endpoint, bound);
        // Bound, a message with label 0 and no words is the notification's word (a client's
        // empty call looks the same: it is no request, and its caller's wait ends with a lost
        // reply at the next `Recv`).
        let signal = bound && message.info.label() == 0 && message.info.length() == 0;
        if signalled || signal {
            drbg.stir(&tileos_sys::timestamp().to_le_bytes());
            take_updates(&mut twin, &sensors, store.as_ref(), &mut vibration);
            updates = updates.wrapping_add(1);
            if let Some(telemetry) = &telemetry
                && updates.is_multiple_of(REPORT_EVERY)
            {
                if let Err(error) = tileos_sys::telemetry::report(telemetry) {
                    log!("twin: telemetry report not taken: {error:?}");
                }
                if let Some(figures) = take_compute(&mut twin, telemetry, &sensors)
                    && let Some(federation) = &federation
                {
                    publish(federation, figures, &mut publish_failures);
                }
            }
        }
        let request = !signal && (message.info.label() != 0 || message.info.length() != 0 || message.badge != 0);
        if request {
            drbg.stir(&tileos_sys::timestamp().to_le_bytes());
            let answer = tileos_sys::rpc::decode_request::<twin::Twin>(&message).map(|request| match request {
                Request::Export { query, mechanism } => {
                    let answer = twin.export(message.badge, &query, mechanism, &mut drbg, now_ms());
                    let persisted = answer.ledger.is_some() && store.as_ref().is_some_and(|store| persist(&twin, store));
                    answer.after_persist(persisted)
                }
                other => twin.answer(message.badge, &other),
            });
            match &answer {
                Err(error) => log_event!("twin.refused", badge = message.badge, error = DebugWord(error)),
                Ok(Response::Refused(error)) => log_event!("twin.refused", badge = message.badge, error = DebugWord(error)),
                Ok(Response::Released { charged, remaining, .. }) => log_event!(
                    "twin.released",
                    badge = message.badge,
                    charged_micros = charged.epsilon_micros,
                    remaining_micros = remaining.epsilon_micros
                ),
                Ok(_) => {}
            }
            tileos_sys::rpc::answer::<twin::Twin>(None, answer);
        }
        if !bound && !signalled && !request {
            tileos_sys::yield_now();
        }
    }
}

/// The kinds of publish failure already logged (each is logged once).
#[derive(Default)]
struct PublishFailures(u8);

impl PublishFailures {
    /// Whether failure kind `kind` (0..8) is new, marking it logged.
    fn first(&mut self, kind: u8) -> bool {
        let bit = 1u8 << (kind & 7);
        let new = self.0 & bit == 0;
        self.0 |= bit;
        new
    }
}

/// Publishes the tile's summary to the federation service; a failure is logged once per
/// kind (the call failed, `NotPublisher`, `BadFigures`, another refusal, an unexpected
/// answer) and the twin carries on.
fn publish(federation: &Client<Federation>, figures: federation::TileFigures, failures: &mut PublishFailures) {
    let answer = federation.call(&federation::Request::PublishFigures(figures));
    let kind = match &answer {
        Ok(federation::Response::Done) => {
            log_event!(
                "twin.published",
                load_permille = figures.load_permille,
                faults = figures.faults,
                restarts = figures.restarts,
                calls = figures.calls,
                p99_us = figures.p99_us
            );
            return;
        }
        Err(_) => 0,
        Ok(federation::Response::Failed(federation::Error::NotPublisher)) => 1,
        Ok(federation::Response::Failed(federation::Error::BadFigures)) => 2,
        Ok(federation::Response::Failed(_)) => 3,
        Ok(_) => 4,
    };
    if failures.first(kind) {
        log!("twin: publishing the tile's figures to the federation service failed: {answer:?} (logged once; the twin carries on)");
        log_event!("twin.publish_failed", kind = kind);
    }
}

/// Reads every domain's figures from the telemetry domain (page by page) into the twin's
/// compute state and reports the tile's load to the sensors domain; returns the tile's
/// summary of the compute state taken (`None` if none was).
fn take_compute(twin: &mut Twin, telemetry: &Client<Telemetry>, sensors: &Client<Sensors>) -> Option<federation::TileFigures> {
    let mut figures = Vec::new();
    let units = loop {
        let first = u16::try_from(figures.len()).unwrap_or(u16::MAX);
        match telemetry.call(&telemetry::Request::Figures { first }) {
            Ok(telemetry::Response::Figures { total, units, domains }) => {
                let empty = domains.is_empty();
                figures.extend(domains);
                if empty || figures.len() >= usize::from(total) {
                    break units;
                }
            }
            other => {
                log!("twin: reading the telemetry figures (from domain {first}) failed: {other:?}");
                return None;
            }
        }
    };
    let compute = match twin.take_figures(&units, &figures) {
        Ok(compute) => compute,
        Err(error) => {
            log!("twin: the telemetry figures were not taken: {error:?}");
            return None;
        }
    };
    let load = compute.load_permille;
    let figures = tileos_twin::compute::tile_figures(compute);
    log_event!("twin.compute", domains = compute.domains, calls = compute.calls, load_permille = load, drifting = compute.drifting_domains);
    match sensors.call(&sensors::Request::ReportLoad { permille: load }) {
        Ok(sensors::Response::LoadAccepted) => {}
        other => log!("twin: reporting the load ({load} permille) to the sensors domain failed: {other:?}"),
    }
    Some(figures)
}

/// Takes the changed readings and feeds them to the twin; writes an ended minute to the
/// store; logs a raised alarm with the vibration window that raised it.
fn take_updates(twin: &mut Twin, sensors: &Client<Sensors>, store: Option<&StoreClient>, vibration: &mut [i32; 3]) {
    let readings = match sensors.call(&sensors::Request::Updates) {
        Ok(sensors::Response::Updates(readings)) => readings,
        other => {
            log!("twin: taking the sensor updates failed: {other:?}");
            return;
        }
    };
    for reading in &readings {
        let received = tileos_sys::timestamp();
        match reading.quantity {
            Quantity::VibrationRms => vibration[0] = reading.value,
            Quantity::VibrationKurtosis => vibration[1] = reading.value,
            Quantity::VibrationFaultBand => vibration[2] = reading.value,
            _ => {}
        }
        let ingested = match twin.ingest(reading) {
            Ok(ingested) => ingested,
            Err(error) => {
                log!("twin: reading of {} (sample {}) refused: {error:?}", reading.quantity.name(), reading.sample);
                continue;
            }
        };
        if let Some(alarm) = ingested.wear_raised {
            log_event!(
                "twin.wear-alarm",
                trigger = alarm.trigger.name(),
                raised_ms = alarm.raised_ms,
                onset_ms = alarm.onset_ms,
                rms = vibration[0],
                kurtosis = vibration[1],
                band = vibration[2]
            );
        }
        if ingested.assessed {
            let state = twin.state();
            let windows = state.windows;
            match state.bearing {
                Bearing::Learning { remaining: 0 } => log_event!("twin.learned", windows = windows),
                Bearing::Healthy { largest_cusum, .. } if windows.is_multiple_of(20) => {
                    log_event!("twin.bearing", windows = windows, state = "healthy", cusum_x100 = (largest_cusum * 100.0) as u32)
                }
                _ => {}
            }
            // Sample to update: from the time the sensors domain took the sample (whole ms
            // on the shared time-stamp counter, so up to 1 ms too long) to now, when the
            // twin's state holds it; and the twin's own share (ingesting the reading).
            let now = tileos_sys::timestamp();
            let tsc_per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
            let latency_us = now.saturating_sub(reading.taken_ms * tsc_per_ms) * 1000 / tsc_per_ms;
            log_event!(
                "twin.update",
                windows = windows,
                sample_to_update_us = latency_us,
                ingest_us = now.saturating_sub(received) * 1000 / tsc_per_ms
            );
        }
        if let (Some(minute), Some(store)) = (ingested.minute, store) {
            let key = history_key(minute.minute);
            match retrying(|| store.put(key.as_bytes(), &encode_minute(&minute), Durability::Buffered)) {
                Ok(()) => {
                    twin.history_written(HISTORY_SLOTS);
                    log_event!("twin.minute", minute = minute.minute, key = key.as_str());
                }
                Err(error) => log!("twin: writing {key} to the store failed: {error:?}"),
            }
        }
    }
}

/// What seeds the noise generator: the time-stamp counter and the domain's generation
/// (docs/twin.md says how weak that is without `rdrand`).
fn seed() -> [u8; 16] {
    let mut seed = [0u8; 16];
    seed[..8].copy_from_slice(&tileos_sys::timestamp().to_le_bytes());
    seed[8..].copy_from_slice(&tileos_sys::domain::info().generation.to_le_bytes());
    seed
}

/// The first word of a value's `Debug` form (its variant's name), for event fields.
struct DebugWord<'a, T: core::fmt::Debug>(&'a T);

impl<T: core::fmt::Debug> core::fmt::Display for DebugWord<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut text: heapless::String<64> = heapless::String::new();
        let _ = write!(text, "{:?}", self.0);
        f.write_str(text.split([' ', '(', '{']).next().unwrap_or(""))
    }
}
