//! The supervisor control protocol: a domain the description grants the endpoint served by
//! `"supervisor"` may ask the root server's supervisor to kill a domain and restart it now
//! (as if it had faulted, under its restart policy), and may read every domain's state.
//!
//! The supervisor answers from its own loop, which also receives fault messages; it never
//! blocks on a client (it answers through the caller's one-shot reply capability).

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Longest domain name (as `tileos_sysdesc::MAX_NAME_LEN`).
pub const MAX_NAME: usize = 64;
/// Most domains one [`Response::Status`] lists; ask again from `first + MAX_STATUS` for more.
pub const MAX_STATUS: usize = 8;

/// A request to the supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Kill the named domain now and restart it under its restart policy, as if it had
    /// faulted (the restart uses up one of its `max_restarts`).
    Restart {
        /// The domain's name in the description.
        domain: String<MAX_NAME>,
    },
    /// The state of the domains from index `first` (description order) on.
    Status {
        /// Index of the first domain listed.
        first: u16,
    },
}

/// The supervisor's answer. (The status variant is large, but every answer is serialised
/// into a message at once and never kept in collections, so its size does not matter.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The domain was killed and runs again, freshly built.
    Restarted {
        /// Its generation now (starts so far minus one).
        generation: u64,
        /// Restarts used up, this one included.
        restarts: u32,
    },
    /// The domain was killed but its restart budget was used up: it stays stopped.
    GaveUp {
        /// Restarts used up.
        restarts: u32,
    },
    /// Domains `first..first + domains.len()` of `total`.
    Status {
        /// Number of domains in the tile.
        total: u16,
        /// Their states, in description order.
        domains: Vec<DomainStatus, MAX_STATUS>,
    },
    /// The request was not carried out; nothing was killed.
    Refused(Refusal),
}

/// Why the supervisor refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// No domain has that name.
    UnknownDomain,
    /// The domain's restart policy is "never": killing it would stop it for good.
    RestartPolicyNever,
    /// The domain is not running (it is stopped or was given up), so there is nothing to kill.
    NotRunning(State),
    /// The domain was killed but could not be built again (it is now stopped).
    RestartFailed,
    /// The caller may only read the status (`access = "status"` in the description).
    NotAllowed,
}

/// What the supervisor knows of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Built and started.
    Running,
    /// Killed or faulted; waiting out its back-off before it is built again.
    Restarting,
    /// Faulted or killed after its last allowed restart: left stopped.
    GivenUp,
    /// Stopped for good: faulted with restart policy "never", or could not be built.
    Stopped,
}

/// One domain's line in [`Response::Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainStatus {
    /// The domain's name.
    pub name: String<MAX_NAME>,
    /// Its state.
    pub state: State,
    /// Its generation (starts so far minus one).
    pub generation: u64,
    /// Restarts used up.
    pub restarts: u32,
}

/// The supervisor control protocol.
pub struct Supervisor;

impl crate::Protocol for Supervisor {
    const NAME: &'static str = "supervisor";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    /// The largest status answer (every name at its longest, every number at its largest)
    /// fits one message.
    #[test]
    fn the_largest_status_fits_one_message() {
        let name: String<MAX_NAME> = core::iter::repeat_n('n', MAX_NAME).collect();
        let line = DomainStatus { name, state: State::Restarting, generation: u64::MAX, restarts: u32::MAX };
        let domains: Vec<DomainStatus, MAX_STATUS> = core::iter::repeat_n(line, MAX_STATUS).collect();
        let response = Response::Status { total: u16::MAX, domains };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&response, &mut words).expect("fits");
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
    }

    #[test]
    fn requests_and_refusals_round_trip() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let request = Request::Restart { domain: String::try_from("nvme").unwrap() };
        let length = encode(&request, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        for refusal in [
            Refusal::UnknownDomain,
            Refusal::RestartPolicyNever,
            Refusal::NotRunning(State::GivenUp),
            Refusal::RestartFailed,
            Refusal::NotAllowed,
        ] {
            let length = encode(&Response::Refused(refusal), &mut words).unwrap();
            assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(Response::Refused(refusal)));
        }
    }
}
