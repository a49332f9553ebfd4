//! The supervisor's figures and its immune system (docs/telemetry.md, "The immune system").
//!
//! * `Figures`: faults, restarts and CPU time of every domain (the supervisor alone holds
//!   the TCBs), each domain's badge on the `telemetry` endpoint, and the immune system's
//!   alarms raised for it now (the twin shows them).
//! * `Observe`: one reporting interval of a domain's latencies, from the domain serving
//!   `telemetry` only. It goes to the domain's `tileos_telemetry::immune::DomainImmunity`
//!   (the twin's drift monitor), with the fault count the supervisor keeps itself; every
//!   alarm raised or cleared is logged with its evidence, and a raised one is acted on by
//!   the domain's `on_drift` parameter: restart it, or ask its slot to roll back.
//! * A rollback is asked without calling anyone: the alarm is kept as the slot's pending
//!   rollback and the manager's doorbell rung (`IMMUNE_DOORBELL` on the seat-faults
//!   notification it waits on); the manager takes it (`PendingRollback`), rolls back and
//!   records the alarm in the slot's update log.
//! * `SlotEvidence`: a slot manager's comparison totals, fed with every observation of a
//!   domain watched for that slot to its disagreement detector.
//!
//! A domain's slot ([`slot_of`]): the slot it is the manager or a seat of, else the one slot
//! whose front endpoint it calls (a client of two slots' endpoints is ambiguous: refused at
//! boot when `on_drift = 2`).
//!
//! The work per request is bounded (a few domains' lines; four detectors), and nothing a
//! client sends can make it panic: badges are looked up, numbers only divided by non-zero
//! rates.

use super::PendingRestart;
use super::build::Kill;
use super::supervise::Supervision;
use ::alloc_crate::format;
use core::arch::x86_64::_rdtsc;
use tileos_protocol::supervisor::{
    IMMUNE_DOORBELL, ImmuneAction, ImmuneFinding, ImmuneMetric, MAX_FIGURES, RaisedAlarms, Refusal, Response, SupervisedFigures,
};
use tileos_sys::{event, println};
use tileos_sysdesc::{DomainId, Endpoint, SystemDescription};
use tileos_telemetry::immune::{Decision, DomainImmunity, Observation, OnDrift, Verdict};
use tileos_twin::drift::Metric;

/// The endpoint domains report their latencies on.
pub(super) const TELEMETRY_ENDPOINT: &str = "telemetry";
/// The parameter of a `telemetry` client entry that configures the immune system's action.
pub(super) const ON_DRIFT: &str = "on_drift";

/// The immune system's record of one slot.
#[derive(Default)]
pub(super) struct SlotImmunity {
    /// The rollback asked and not yet taken by the manager: the domain whose alarm asked
    /// for it (description index) and the alarm.
    pending: Option<(usize, ImmuneFinding)>,
    /// The manager's comparison totals `(compared, disagreeing)`, as last reported.
    totals: Option<(u64, u64)>,
}

/// The slot of `domain` (index in the description's slots): the one it manages or sits in,
/// else the one whose front endpoint it calls; `Err` names two slots whose endpoints it
/// calls.
pub(super) fn slot_of(description: &SystemDescription, domain: DomainId) -> Result<Option<usize>, (usize, usize)> {
    if let Some(slot) = description.slots.iter().position(|slot| slot.manager == domain || slot.seat_of(domain).is_some()) {
        return Ok(Some(slot));
    }
    let mut called = description.slots.iter().enumerate().filter(|(_, slot)| {
        description.endpoints.get(slot.endpoint as usize).is_some_and(|e| e.clients.iter().any(|c| c.domain == domain))
    });
    match (called.next(), called.next()) {
        (Some((a, _)), Some((b, _))) => Err((a, b)),
        (first, _) => Ok(first.map(|(slot, _)| slot)),
    }
}

/// The description's `telemetry` endpoint, if it has one.
pub(super) fn telemetry_endpoint(description: &SystemDescription) -> Option<&Endpoint> {
    description.endpoints.iter().find(|endpoint| endpoint.name == TELEMETRY_ENDPOINT)
}

/// Checks every `on_drift` parameter of the description; the first bad one, described
/// (`endpoint "telemetry": client "x": parameter "on_drift" = 7: …`).
pub(super) fn check_configuration(description: &SystemDescription) -> Result<(), ::alloc_crate::string::String> {
    let Some(endpoint) = telemetry_endpoint(description) else { return Ok(()) };
    for client in &endpoint.clients {
        let value = client.params.iter().find(|p| p.name == ON_DRIFT).map(|p| p.value);
        let name = &description.domains[client.domain as usize].name;
        match OnDrift::from_param(value) {
            Err(bad) => {
                return Err(format!(
                    "endpoint \"{TELEMETRY_ENDPOINT}\": client \"{name}\": parameter \"{ON_DRIFT}\" = {bad}: must be 0 (alarm only), 1 (restart) or 2 (roll back its slot)"
                ));
            }
            Ok(OnDrift::RollBack) => match slot_of(description, client.domain) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(format!(
                        "endpoint \"{TELEMETRY_ENDPOINT}\": client \"{name}\": parameter \"{ON_DRIFT}\" = 2 (roll back its slot), but it is no slot's manager or seat and calls no slot's endpoint"
                    ));
                }
                Err((a, b)) => {
                    return Err(format!(
                        "endpoint \"{TELEMETRY_ENDPOINT}\": client \"{name}\": parameter \"{ON_DRIFT}\" = 2 (roll back its slot), but it calls the endpoints of slots \"{}\" and \"{}\": which one is ambiguous",
                        description.slots[a].name, description.slots[b].name
                    ));
                }
            },
            Ok(_) => {}
        }
    }
    Ok(())
}

/// The supervisor's clock, ms (time-stamp counter since reset).
fn now_ms() -> u64 {
    // SAFETY: rdtsc is allowed in user mode.
    (unsafe { _rdtsc() }) / crate::clock::tsc_per_ms().max(1)
}

/// The protocol's name of a drift metric.
fn metric(metric: Metric) -> ImmuneMetric {
    match metric {
        Metric::LatencyP50 => ImmuneMetric::LatencyP50,
        Metric::LatencyP99 => ImmuneMetric::LatencyP99,
        Metric::FaultRate => ImmuneMetric::FaultRate,
        Metric::SlotDisagreement => ImmuneMetric::SlotDisagreement,
    }
}

/// The protocol's form of `decision`, with the action taken.
fn finding(decision: &Decision, action: ImmuneAction) -> ImmuneFinding {
    ImmuneFinding {
        metric: metric(decision.alarm.metric),
        raised: decision.raised,
        baseline_milli: (decision.alarm.evidence.baseline_mean * 1000.0) as u64,
        observed_milli: (decision.alarm.evidence.observed * 1000.0) as u64,
        action,
    }
}

/// Precise consumed cycles as any supervisor client may read them: rounded down to a
/// multiple of 100 µs of the time-stamp counter, so the figures are no finer timing channel
/// into another domain than they need to be for a load over seconds (docs/security.md).
fn quantised_cycles(cycles: u64) -> u64 {
    let quantum = (crate::clock::tsc_per_ms() / 10).max(1);
    cycles - cycles % quantum
}

impl Supervision<'_, '_> {
    /// The figures of the domains from `first` ([`tileos_protocol::supervisor::Request::Figures`]).
    pub(super) fn figures(&self, first: u16) -> Response {
        let description = self.description;
        let telemetry = telemetry_endpoint(description);
        let domains = (first as usize..description.domains.len())
            .take(MAX_FIGURES)
            .map(|index| {
                let state = &self.tile.states[index];
                let consumed = state.consumed();
                let badge = telemetry.and_then(|e| e.clients.iter().find(|c| c.domain as usize == index)).map_or(0, |c| c.badge);
                SupervisedFigures {
                    name: description.domains[index].name.as_str().try_into().unwrap_or_default(),
                    faults: state.faults,
                    restarts: u64::from(state.restarts),
                    cpu_ticks: consumed.ticks,
                    cpu_cycles: quantised_cycles(consumed.cycles),
                    telemetry_badge: badge,
                    alarms: state
                        .immunity
                        .as_ref()
                        .map_or_else(RaisedAlarms::default, |i| i.raised().map(metric).fold(RaisedAlarms::default(), RaisedAlarms::with)),
                }
            })
            .collect();
        Response::Figures {
            total: description.domains.len() as u16,
            tsc_per_ms: crate::clock::tsc_per_ms(),
            tick_us: crate::clock::tick_us(),
            uptime_ms: now_ms(),
            domains,
        }
    }

    /// One reporting interval of the domain with badge `reporter` on `telemetry`, sent by
    /// the domain `caller` (description index; `client` in logs).
    pub(super) fn observe(
        &mut self,
        caller: Option<u32>,
        client: &str,
        reporter: u64,
        calls: u64,
        p50_ticks: u64,
        p99_ticks: u64,
    ) -> Response {
        let description = self.description;
        let Some(endpoint) = telemetry_endpoint(description).filter(|e| caller.is_some() && e.server.domain() == caller) else {
            println!("supervisor: observation from \"{client}\" refused: it does not serve \"{TELEMETRY_ENDPOINT}\"");
            event!("immune.refused", client = client, reason = "NotTelemetryDomain");
            return Response::Refused(Refusal::NotTelemetryDomain);
        };
        let Some(entry) = endpoint.clients.iter().find(|c| c.badge == reporter) else {
            println!("supervisor: observation of unknown reporter badge {reporter:#x} from \"{client}\" refused");
            return Response::Refused(Refusal::UnknownReporter);
        };
        let index = entry.domain as usize;
        if self.tile.states[index].refused.is_some() {
            // Never built, so nothing to observe; and admission counted no immune record
            // of it in the root server's heap.
            println!("supervisor: observation of \"{}\" from \"{client}\" refused: it was not built", description.domains[index].name);
            return Response::Refused(Refusal::UnknownReporter);
        }
        let on_drift = OnDrift::from_param(entry.params.iter().find(|p| p.name == ON_DRIFT).map(|p| p.value)).unwrap_or(OnDrift::AlarmOnly);
        let slot =
            slot_of(description, index as DomainId).ok().flatten().and_then(|slot| self.slot_immunity.get(slot)).and_then(|s| s.totals);
        let state = &mut self.tile.states[index];
        let observation = Observation { calls, p50_ticks, p99_ticks, faults: state.faults, slot, at: now_ms() };
        let decisions = match state
            .immunity
            .get_or_insert_with(|| ::alloc_crate::boxed::Box::new(DomainImmunity::new(on_drift)))
            .observe(&observation, crate::clock::tsc_per_ms())
        {
            Ok(decisions) => decisions,
            Err(error) => {
                println!("supervisor: observation of \"{}\" not taken: {error:?}", description.domains[index].name);
                return Response::Observed { findings: Default::default() };
            }
        };
        let mut findings = tileos_protocol::heapless::Vec::new();
        for decision in decisions {
            let action = self.act(index, &decision);
            // At most one finding per metric: the vector holds them all.
            let _ = findings.push(finding(&decision, action));
        }
        Response::Observed { findings }
    }

    /// Logs `decision` about domain `index` with its evidence, and carries out its verdict.
    fn act(&mut self, index: usize, decision: &Decision) -> ImmuneAction {
        let name = self.description.domains[index].name.as_str();
        let evidence = decision.alarm.evidence;
        let (kind, action) = match (decision.raised, decision.verdict) {
            (false, _) => ("cleared", ImmuneAction::AlarmOnly),
            (true, Verdict::Log) => ("raised", ImmuneAction::AlarmOnly),
            (true, Verdict::RollBack) => ("raised", self.request_rollback(index, decision)),
            (true, Verdict::Restart) => ("raised", self.immune_restart(index)),
        };
        println!(
            "supervisor: immune alarm {kind} for domain \"{name}\": {:?} observed {:.1} against baseline {:.1} +/- {:.1} (z = {:.1}) since {} ms; action: {action:?}",
            decision.alarm.metric, evidence.observed, evidence.baseline_mean, evidence.baseline_std, evidence.z, decision.alarm.since
        );
        event!(
            "immune.alarm",
            domain = name,
            state = kind,
            metric = format!("{:?}", decision.alarm.metric),
            observed = format!("{:.1}", evidence.observed),
            baseline = format!("{:.1}", evidence.baseline_mean),
            std = format!("{:.1}", evidence.baseline_std),
            z = format!("{:.1}", evidence.z),
            since_ms = decision.alarm.since,
            action = format!("{action:?}")
        );
        action
    }

    /// Keeps `decision` about domain `index` as its slot's pending rollback and rings the
    /// slot manager's doorbell (a later alarm replaces one the manager has not taken yet).
    fn request_rollback(&mut self, index: usize, decision: &Decision) -> ImmuneAction {
        let description = self.description;
        // `check_configuration` refused `on_drift = 2` for a domain without a slot at boot.
        let Some(slot) = slot_of(description, index as DomainId).ok().flatten() else {
            println!("supervisor: domain \"{}\" has no slot to roll back", description.domains[index].name);
            return ImmuneAction::AlarmOnly;
        };
        self.slot_immunity[slot].pending = Some((index, finding(decision, ImmuneAction::RollbackRequested)));
        self.signal_manager(&description.slots[slot], IMMUNE_DOORBELL);
        ImmuneAction::RollbackRequested
    }

    /// The slot managed by `caller` (description index); `None` (logged) if it manages none.
    fn managed_slot(&self, caller: Option<u32>, client: &str, what: &str) -> Option<usize> {
        let slot = caller.and_then(|domain| self.description.slots.iter().position(|slot| slot.manager == domain));
        if slot.is_none() {
            println!("supervisor: {what} from \"{client}\" refused: it is no slot's manager");
            event!("immune.refused", client = client, reason = "NotSlotManager");
        }
        slot
    }

    /// The rollback asked of the slot `caller` manages ([`tileos_protocol::supervisor::Request::PendingRollback`]), taken.
    pub(super) fn pending_rollback(&mut self, caller: Option<u32>, client: &str) -> Response {
        let Some(slot) = self.managed_slot(caller, client, "pending-rollback request") else {
            return Response::Refused(Refusal::NotSlotManager);
        };
        let alarm = self.slot_immunity[slot].pending.take().map(|(index, finding)| {
            let domain = self.description.domains[index].name.as_str();
            event!(
                "immune.rollback-taken",
                slot = self.description.slots[slot].name,
                domain = domain,
                metric = format!("{:?}", finding.metric)
            );
            (domain.try_into().unwrap_or_default(), finding)
        });
        Response::PendingRollback { alarm }
    }

    /// The comparison totals of the slot `caller` manages ([`tileos_protocol::supervisor::Request::SlotEvidence`]).
    pub(super) fn slot_evidence(&mut self, caller: Option<u32>, client: &str, compared: u64, disagreeing: u64) -> Response {
        let Some(slot) = self.managed_slot(caller, client, "slot evidence") else {
            return Response::Refused(Refusal::NotSlotManager);
        };
        if disagreeing > compared {
            println!("supervisor: slot evidence from \"{client}\" refused: {disagreeing} disagreeing of {compared} compared");
            return Response::Refused(Refusal::DisagreeingAboveCompared);
        }
        self.slot_immunity[slot].totals = Some((compared, disagreeing));
        Response::EvidenceTaken
    }

    /// Kills domain `index` for a restart on an immune alarm, under its restart policy.
    fn immune_restart(&mut self, index: usize) -> ImmuneAction {
        if let Some(refusal) = self.restart_refusal(index) {
            return ImmuneAction::RestartRefused(refusal);
        }
        match self.tile.kill_for_restart(self.alloc, index) {
            Kill::Restart { deadline } => {
                self.pending.push(PendingRestart { index, deadline, waiter: None });
                ImmuneAction::Restarted
            }
            Kill::GaveUp => ImmuneAction::GaveUp,
            Kill::Failed => ImmuneAction::RestartRefused(Refusal::RestartFailed),
        }
    }
}
