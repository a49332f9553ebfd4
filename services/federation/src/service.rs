//! The federation protocol (`tileos_protocol::federation`) served by a [`FederationNode`]:
//! what the federation domain does with each request from a local domain.

use alloc::string::String;

use tileos_protocol::federation::{Error, MAX_MODULES, MAX_PAYLOAD, ModuleVersion, Request, Response, Status, TileFigures};
use tileos_protocol::heapless;

use crate::aggregates::{RESERVED_PREFIX, encode, figures_register, pod_aggregates};
use crate::counters::DropReason;
use crate::node::{FederationNode, SendError, UpdateError};
use crate::replica::{Module, Replica, ReplicationError};
use crate::store::BundleStore;
use crate::{ipn, node_of, protocol_string, service_of};

impl<S: BundleStore> FederationNode<S> {
    /// Serves one federation protocol request from the client whose capability carries
    /// `badge`, at node time `now_ms`. Changes to replicated state are stored before the
    /// answer. Only a local service's owner (its badge in the configuration) may receive
    /// and confirm its bundles; only the configured figures publisher may publish the
    /// tile's figures; no one may write a name under [`RESERVED_PREFIX`] by name; anyone
    /// may use the rest.
    pub fn serve(&mut self, badge: u64, request: Request, now_ms: u64) -> Response {
        self.tick(now_ms);
        match request {
            Request::Status => Response::Status(self.status()),
            Request::Send { node, service, lifetime_ms, payload } => self.serve_send(node, service, lifetime_ms, &payload),
            Request::AddModule { tile, module } => self.change(|r| r.add_module(tile, to_module(&module))),
            Request::RemoveModule { tile, module } => self.change(|r| r.remove_module(tile, &to_module(&module))),
            Request::Modules { tile, skip } => self.modules(tile, skip),
            Request::AddToCounter { name, .. } | Request::SetRegister { name, .. } if reserved(&name) => {
                Response::Failed(Error::ReservedName)
            }
            Request::AddToCounter { name, delta } => match self.change(|r| r.add_to_counter(&name, delta)) {
                Response::Done => self.counter(&name),
                failed => failed,
            },
            Request::Counter { name } => self.counter(&name),
            Request::SetRegister { name, value } => match self.change(|r| r.set_register(&name, &value, now_ms)) {
                Response::Done => self.register(&name),
                failed => failed,
            },
            Request::Register { name } => self.register(&name),
            Request::PublishFigures(_) if !self.publisher(badge) => Response::Failed(Error::NotPublisher),
            Request::PublishFigures(figures) => self.publish_figures(&figures, now_ms),
            Request::PodAggregates { first, last } => Response::PodAggregates(pod_aggregates(self.state(), first..=last)),
            Request::Receive { service } => match self.owned(badge, service) {
                Err(error) => Response::Failed(error),
                Ok(()) => self.held_response(service),
            },
            Request::Confirm { service, id } => match self.owned(badge, service) {
                Err(error) => Response::Failed(error),
                Ok(()) if self.confirm_held(id, service) => Response::Done,
                Ok(()) => Response::Failed(Error::NotHeld),
            },
        }
    }

    /// Whether `badge` is the configured figures publisher's.
    fn publisher(&self, badge: u64) -> bool {
        self.config().figures_publisher.as_ref().is_some_and(|p| p.badge == badge)
    }

    /// Whether `service` is a local service owned by the client with `badge`.
    fn owned(&self, badge: u64, service: u32) -> Result<(), Error> {
        match self.config().local_service(service) {
            None => Err(Error::NotLocalService),
            Some(local) if local.badge != badge => Err(Error::NotOwner),
            Some(_) => Ok(()),
        }
    }

    fn held_response(&self, service: u32) -> Response {
        let Some((id, bundle)) = self.held_for(service) else { return Response::Failed(Error::NothingHeld) };
        let whole = bundle.payload();
        let payload = heapless::Vec::from_slice(&whole[..whole.len().min(MAX_PAYLOAD)]).unwrap_or_default();
        Response::Received {
            id,
            source_node: node_of(&bundle.source).unwrap_or(0),
            source_service: service_of(&bundle.source).unwrap_or(0),
            length: u32::try_from(whole.len()).unwrap_or(u32::MAX),
            payload,
        }
    }

    fn status(&self) -> Status {
        let counters = self.counters();
        Status {
            node: self.node(),
            spooled: u32::try_from(self.spooled()).unwrap_or(u32::MAX),
            sessions: u32::try_from(self.sessions()).unwrap_or(u32::MAX),
            received: counters.received,
            forwarded: counters.forwarded,
            delivered: counters.delivered,
            dropped: DropReason::ALL.iter().map(|r| counters.dropped(*r)).sum(),
            refused: counters.refused_total(),
        }
    }

    fn serve_send(&mut self, node: u32, service: u32, lifetime_ms: u64, payload: &[u8]) -> Response {
        if node == 0 {
            return Response::Failed(Error::BadDestination);
        }
        match self.send(service, ipn(node, service), payload.to_vec(), lifetime_ms) {
            Ok(sequence) => Response::Sent { sequence },
            Err(SendError::BadDestination) => Response::Failed(Error::BadDestination),
            Err(SendError::SpoolFull) => Response::Failed(Error::SpoolFull),
            Err(SendError::StoreFailed) => Response::Failed(Error::StoreFailed),
        }
    }

    /// Applies a change to the replica and stores it; if either fails, nothing changed.
    fn change(&mut self, f: impl FnOnce(&mut Replica) -> Result<(), ReplicationError>) -> Response {
        match self.update_replica(f) {
            Ok(()) => Response::Done,
            Err(UpdateError::Store(_)) => Response::Failed(Error::StoreFailed),
            Err(UpdateError::Replication(ReplicationError::BadName)) => Response::Failed(Error::EmptyName),
            Err(UpdateError::Replication(_)) => Response::Failed(Error::Overflow),
        }
    }

    /// Writes this tile's telemetry summary to its figures register.
    fn publish_figures(&mut self, figures: &TileFigures, now_ms: u64) -> Response {
        if figures.load_permille > 1000 {
            return Response::Failed(Error::BadFigures);
        }
        let (name, value) = (figures_register(self.node()), encode(figures));
        self.change(|r| r.set_register(&name, &value, now_ms))
    }

    fn modules(&self, tile: u32, skip: u32) -> Response {
        let all = self.state().modules(tile);
        let skip = skip as usize;
        let modules: heapless::Vec<ModuleVersion, MAX_MODULES> = all
            .iter()
            .skip(skip)
            .take(MAX_MODULES)
            .map(|m| ModuleVersion { name: protocol_string(&m.name), version: protocol_string(&m.version) })
            .collect();
        let more = skip.saturating_add(modules.len()) < all.len();
        Response::Modules { modules, more }
    }

    fn counter(&self, name: &str) -> Response {
        let value = self.state().counter(name);
        Response::Counter { value: i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX }) }
    }

    fn register(&self, name: &str) -> Response {
        match self.state().register(name) {
            Some((value, timestamp)) => Response::Register { value: protocol_string(value), timestamp },
            None => Response::Failed(Error::NotFound),
        }
    }
}

/// Whether `name` is under [`RESERVED_PREFIX`].
fn reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

fn to_module(module: &ModuleVersion) -> Module {
    Module { name: String::from(module.name.as_str()), version: String::from(module.version.as_str()) }
}
