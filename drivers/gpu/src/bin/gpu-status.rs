//! The `gpu-status` domain: keeps the tile status screen current. It reads every domain's
//! state from the supervisor (as a status-only client of the endpoint "supervisor") and
//! shows the title with the tile's uptime and one row per domain — name, state,
//! generation, restarts — through the gpu driver's display protocol (endpoint "display").
//! Only what changed is sent: a row when its domain's state changes, the title once a
//! second. With a capability to the twin (endpoint "twin", optional), the last two rows
//! show the digital twin's state (`tileos_driver_gpu::twin_lines`) and the domain rows stop
//! above them. With the client endpoint "telemetry" (optional), a telemetry section follows
//! the domain rows, one row per domain that reports latencies (calls, p99, CPU time, power
//! estimate: `status::telemetry_row`), after a blank row, as far as the rows left allow;
//! each row's first showing is logged (`gpu-status: telemetry row N first shown "…"`), so
//! boot tests can read the screen's text. gpu-status also reports its own call latencies
//! there every [`REPORT_EVERY`] looks (`tileos_sys::telemetry::report`).
//!
//! There is no timer service yet: between looks the domain yields. The description should
//! give it a low priority and a small scheduling budget, so that this polling only uses
//! time nobody else wants (the default tile: priority 20, 1 ms in every 50 ms).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_driver_gpu::screen::ROWS;
use tileos_driver_gpu::status::{self, Rows, Text};
use tileos_driver_gpu::twin_lines::{TWIN_ROWS, twin_lines};
use tileos_protocol::ProtocolError;
use tileos_protocol::display::{Display, Request, Response};
use tileos_protocol::supervisor::{self as control, Supervisor};
use tileos_protocol::telemetry::{self, Telemetry};
use tileos_protocol::twin::{self, Twin};
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};

/// How often the supervisor is asked, in milliseconds.
const LOOK_EVERY_MS: u64 = 250;
/// Looks between two telemetry reports of gpu-status's own latencies.
const REPORT_EVERY: u64 = 4;

tileos_sys::resources! {
    /// What gpu-status needs from the description (checked at build time).
    struct Resources {
        /// The gpu domain's display endpoint.
        display: ClientEndpoint("display"),
        /// The supervisor's endpoint, with status access.
        supervisor: ClientEndpoint("supervisor"),
        /// The digital twin (its lines at the bottom of the screen).
        twin: ClientEndpoint("twin", optional),
        /// The telemetry domain, for the telemetry section.
        telemetry: ClientEndpoint("telemetry", optional),
    }
}

tileos_sys::entry!(main);

fn main(Resources { display, supervisor, twin, telemetry }: Resources) -> ! {
    let display = Client::<Display>::new(display);
    let supervisor = Client::<Supervisor>::new(supervisor);
    let twin = twin.map(Client::<Twin>::new);
    let telemetry = telemetry.map(Client::<Telemetry>::new);
    // Rows for the domains: all of them, or those above the twin's.
    let domain_rows = if twin.is_some() { TWIN_ROWS.start } else { ROWS };
    let mode = display.call(&Request::Mode);
    log!("gpu-status: display mode {mode:?}");
    if let Err(CallError::Protocol(ProtocolError::NoServer)) = mode {
        // The display endpoint was withdrawn (its driver never started): nothing will show.
        log!("gpu-status: nobody serves the display (NoServer); stopping");
        tileos_sys::domain::stop();
    }
    // A row below the screen is refused, not drawn.
    let refused = display.call(&Request::SetLine { row: 200, text: "nowhere".try_into().unwrap_or_default() });
    log!("gpu-status: row 200 answered {refused:?}");
    let tsc_per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    let mut rows = Rows::new();
    let mut shown_title = Text::new();
    let mut first = true;
    let mut next_look = 0;
    let (mut looks, mut telemetry_logged, mut twin_logged) = (0u64, 0usize, 0u8);
    loop {
        let now = tileos_sys::timestamp();
        if now < next_look {
            tileos_sys::yield_now();
            continue;
        }
        next_look = now + LOOK_EVERY_MS * tsc_per_ms;
        let title = status::title(now / tsc_per_ms);
        let mut calls = Calls::default();
        if title != shown_title && show(&display, Request::SetTitle { text: title.clone() }, &mut calls) {
            shown_title = title;
        }
        if let Some(twin) = &twin {
            show_twin(twin, &display, &mut rows, &mut twin_logged, &mut calls);
        }
        let (listed, mut changed) = match look(&supervisor, &display, &mut rows, domain_rows, &mut calls) {
            Ok(counts) => counts,
            Err(problem) => {
                log!("gpu-status: {problem}; stopping");
                tileos_sys::domain::stop();
            }
        };
        if let Some(telemetry) = &telemetry {
            looks += 1;
            if looks.is_multiple_of(REPORT_EVERY)
                && let Err(error) = tileos_sys::telemetry::report(telemetry)
            {
                log!("gpu-status: telemetry report not taken: {error:?}");
            }
            changed += look_telemetry(telemetry, &display, &mut rows, (listed + 1, domain_rows), &mut telemetry_logged, &mut calls);
        }
        // The first look whose every display call answered `Shown` completes the screen (a
        // row refused earlier was forgotten, so this look sent it again).
        if first && calls.shown == calls.made {
            log!(
                "gpu-status: status screen shown (title and {listed} rows; {} of {} display calls answered Shown)",
                calls.shown,
                calls.made
            );
            first = false;
        } else if !first && changed > 0 {
            log!("gpu-status: screen refreshed ({changed} rows changed; {} of {} display calls answered Shown)", calls.shown, calls.made);
        }
    }
}

/// Reads every domain's state and sends the rows that changed; returns (rows listed, rows
/// changed and shown). A row is logged (`row N now "…"`) only after the display answered
/// `Shown`.
fn look(
    supervisor: &Client<Supervisor>,
    display: &Client<Display>,
    rows: &mut Rows,
    domain_rows: usize,
    calls: &mut Calls,
) -> Result<(usize, usize), &'static str> {
    let (mut listed, mut changed) = (0, 0);
    loop {
        let answer = supervisor.call(&control::Request::Status { first: listed as u16 });
        let (total, domains) = match answer {
            Ok(control::Response::Status { total, domains }) => (usize::from(total), domains),
            Ok(control::Response::Refused(_)) | Ok(_) => return Err("the supervisor refused the status request"),
            Err(_) => return Err("the supervisor did not answer the status request"),
        };
        if domains.is_empty() {
            return Ok((listed, changed));
        }
        for domain in &domains {
            let text = status::row(domain);
            if listed < domain_rows && rows.update(listed, &text) && show_row(display, rows, listed, &text, calls) {
                log!("gpu-status: row {listed} now \"{text}\"");
                changed += 1;
            }
            listed += 1;
        }
        if listed >= total {
            return Ok((listed, changed));
        }
    }
}

/// Asks the twin for its state and shows its lines where they changed (a twin that does not
/// answer leaves the lines as they were; it is logged). Each twin row is logged once, the
/// first time the display answered `Shown` for it (`logged`: one bit per row).
fn show_twin(twin: &Client<Twin>, display: &Client<Display>, rows: &mut Rows, logged: &mut u8, calls: &mut Calls) {
    match twin.call(&twin::Request::State) {
        Ok(twin::Response::State(state)) => {
            for (row, text) in TWIN_ROWS.zip(twin_lines(&state)) {
                let changed = rows.update(row, &text);
                let shown = changed && show_row(display, rows, row, &text, calls);
                // Each twin row is logged the first time the display answered `Shown` for it
                // (`logged`: one bit per twin row).
                let bit = 1 << (row - TWIN_ROWS.start);
                if shown && *logged & bit == 0 {
                    log!("gpu-status: twin row {row} first shown \"{text}\"");
                    *logged |= bit;
                }
            }
        }
        answer => log!("gpu-status: the twin answered {answer:?}"),
    }
}

/// The telemetry section from row `from` up to (not including) row `end`: one row per
/// reporting domain that changed; returns the rows changed. The section's rows beyond the
/// first `logged` are logged as they are first shown (after the display answered `Shown`).
/// A telemetry domain that does not answer is logged and its section left as it was (it may
/// be restarting).
fn look_telemetry(
    telemetry: &Client<Telemetry>,
    display: &Client<Display>,
    rows: &mut Rows,
    (from, end): (usize, usize),
    logged: &mut usize,
    calls: &mut Calls,
) -> usize {
    let (mut first, mut row, mut changed) = (0u16, from, 0);
    loop {
        let (total, units, domains) = match telemetry.call(&telemetry::Request::Figures { first }) {
            Ok(telemetry::Response::Figures { total, units, domains }) => (total, units, domains),
            answer => {
                log!("gpu-status: telemetry figures from domain {first}: {answer:?}");
                return changed;
            }
        };
        for domain in domains.iter().filter(|d| d.reporter) {
            let text = status::telemetry_row(domain, &units);
            if row < end && rows.update(row, &text) && show_row(display, rows, row, &text, calls) {
                if row - from >= *logged {
                    log!("gpu-status: telemetry row {row} first shown \"{text}\"");
                    *logged = row - from + 1;
                }
                changed += 1;
            }
            row += 1;
        }
        first = first.saturating_add(domains.len() as u16);
        if domains.is_empty() || first >= total {
            return changed;
        }
    }
}

/// Display calls of one look: made, and answered `Shown`.
#[derive(Default)]
struct Calls {
    made: u32,
    shown: u32,
}

/// Sends one display request and counts it; returns whether the display answered `Shown`.
/// Any other answer is logged as `NOT SHOWN` (the boot tests forbid it; the screen then
/// lags, nothing else).
fn show(display: &Client<Display>, request: Request, calls: &mut Calls) -> bool {
    calls.made += 1;
    match display.call(&request) {
        Ok(Response::Shown) => {
            calls.shown += 1;
            true
        }
        answer => {
            log!("gpu-status: NOT SHOWN: {request:?} answered {answer:?}");
            false
        }
    }
}

/// Shows `text` in row `row` (already recorded in `rows`); a row the display did not show is
/// forgotten, so that the next look sends it again. Returns whether it was shown.
fn show_row(display: &Client<Display>, rows: &mut Rows, row: usize, text: &Text, calls: &mut Calls) -> bool {
    let shown = show(display, Request::SetLine { row: row as u8, text: text.clone() }, calls);
    if !shown {
        rows.forget(row);
    }
    shown
}
