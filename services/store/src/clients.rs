//! The store domain's client table (docs/store.md "Description"): which badge uses which
//! namespace under which quotas, read from the endpoint parameters of the description's
//! "store" endpoint.
//!
//! A server domain gets 16 endpoint parameters over all its clients (`tileos_abi`'s
//! `domain_info::MAX_PARAMS`), so each client has one of three forms:
//!
//! - `quota = Q` alone, one parameter: the namespace, its key quota and its byte quota
//!   packed into one number ([`pack_quota`]: namespace in bits 0–15, `max_keys` in bits
//!   16–31, `max_bytes` in KiB in bits 32–62);
//! - `namespace = N` alone: shares namespace `N`, whose quotas another client gives;
//! - `namespace`, `max_bytes`, `max_keys` (the first form, three parameters; kept so that
//!   descriptions written before stay valid).
//!
//! Clients that give quotas come first, so a sharing client finds its namespace whatever
//! the order of the description. Every refusal names the badge and the parameter at fault.

use alloc::vec::Vec;
use core::fmt;

use crate::NamespaceConfig;
use crate::service::Client;

/// The packed parameter: namespace, `max_keys` and `max_bytes` in one number.
pub const QUOTA_PARAM: &str = "quota";

/// Largest `max_bytes` a packed [`QUOTA_PARAM`] holds: 2^31 − 1 KiB (the description's
/// integers are signed 64-bit, so bit 63 stays clear).
pub const MAX_PACKED_BYTES: u64 = ((1 << 31) - 1) * 1024;

/// Packs a namespace and its quotas into one [`QUOTA_PARAM`] value, or `None` when
/// `max_bytes` is not a whole number of KiB or a field does not fit (namespace and
/// `max_keys` below 2^16, `max_bytes` at most [`MAX_PACKED_BYTES`]).
pub fn pack_quota(namespace: u32, max_bytes: u64, max_keys: u64) -> Option<u64> {
    let fits = namespace < 1 << 16 && max_keys < 1 << 16 && max_bytes % 1024 == 0 && max_bytes <= MAX_PACKED_BYTES;
    fits.then(|| u64::from(namespace) | max_keys << 16 | (max_bytes / 1024) << 32)
}

/// Unpacks a [`QUOTA_PARAM`] value into its namespace, `max_bytes` and `max_keys`, or
/// `None` when bit 63 is set (no description can give it).
pub fn unpack_quota(value: u64) -> Option<NamespaceConfig> {
    (value >> 63 == 0).then(|| NamespaceConfig {
        id: (value & 0xffff) as u32,
        max_keys: (value >> 16) & 0xffff,
        max_bytes: (value >> 32) * 1024,
    })
}

/// Why a client entry gets no namespace (the store answers its every request
/// `NoNamespace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Neither `quota` nor `namespace`.
    NoNamespace,
    /// `namespace` is 2^32 or more.
    NamespaceTooLarge(u64),
    /// `quota` has bit 63 set.
    BadQuota(u64),
    /// `quota` beside one of `namespace`, `max_bytes`, `max_keys`: which one counts would
    /// be a guess.
    QuotaAndSeparate,
    /// Only one of `max_bytes`, `max_keys`.
    HalfQuotas,
    /// `namespace` alone, and no client gives quotas for it.
    NoQuotas(u32),
    /// No region `store-buffer.<badge>`.
    NoRegion,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoNamespace => f.write_str("lacks the parameter quota or namespace"),
            Refusal::NamespaceTooLarge(n) => write!(f, "namespace {n} is above 2^32 - 1"),
            Refusal::BadQuota(q) => write!(f, "quota {q:#x} has bit 63 set"),
            Refusal::QuotaAndSeparate => f.write_str("gives quota beside namespace, max_bytes or max_keys"),
            Refusal::HalfQuotas => f.write_str("gives only one of the parameters max_bytes, max_keys"),
            Refusal::NoQuotas(n) => write!(f, "gives no quotas, and no client gives them for namespace {n}"),
            Refusal::NoRegion => f.write_str("has no region \"store-buffer.<badge>\""),
        }
    }
}

/// The client table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// The clients served, each with its namespace.
    pub clients: Vec<Client>,
    /// The namespaces and their quotas (the first quota-giving client's).
    pub namespaces: Vec<NamespaceConfig>,
    /// The clients refused, by badge, with the reason.
    pub refused: Vec<(u64, Refusal)>,
    /// Clients that gave other quotas for a namespace that has some already (the first
    /// ones apply): badge and namespace.
    pub overridden: Vec<(u64, u32)>,
}

/// The client table of `badges` (each client of the endpoint "store" once), reading each
/// one's parameters with `param(badge, name)`; `has_region(badge)` says whether its
/// region `store-buffer.<badge>` exists.
pub fn client_table(badges: &[u64], param: impl Fn(u64, &str) -> Option<u64>, has_region: impl Fn(u64) -> bool) -> Table {
    let mut table = Table::default();
    let mut ordered: Vec<u64> = badges.to_vec();
    ordered.sort_by_key(|&badge| param(badge, QUOTA_PARAM).is_none() && param(badge, "max_bytes").is_none());
    for badge in ordered {
        match entry(badge, &param, &table.namespaces) {
            Err(refusal) => table.refused.push((badge, refusal)),
            Ok(_) if !has_region(badge) => table.refused.push((badge, Refusal::NoRegion)),
            Ok(config) => {
                match table.namespaces.iter().find(|known| known.id == config.id) {
                    Some(known) if *known != config => table.overridden.push((badge, config.id)),
                    Some(_) => {}
                    None => table.namespaces.push(config),
                }
                table.clients.push(Client { badge, namespace: config.id });
            }
        }
    }
    table
}

/// One client's namespace and quotas (for a sharing client, the namespace's).
fn entry(badge: u64, param: &impl Fn(u64, &str) -> Option<u64>, known: &[NamespaceConfig]) -> Result<NamespaceConfig, Refusal> {
    let (quota, namespace) = (param(badge, QUOTA_PARAM), param(badge, "namespace"));
    let (max_bytes, max_keys) = (param(badge, "max_bytes"), param(badge, "max_keys"));
    if let Some(quota) = quota {
        if namespace.is_some() || max_bytes.is_some() || max_keys.is_some() {
            return Err(Refusal::QuotaAndSeparate);
        }
        return unpack_quota(quota).ok_or(Refusal::BadQuota(quota));
    }
    let namespace = namespace.ok_or(Refusal::NoNamespace)?;
    let id = u32::try_from(namespace).map_err(|_| Refusal::NamespaceTooLarge(namespace))?;
    match (max_bytes, max_keys) {
        (Some(max_bytes), Some(max_keys)) => Ok(NamespaceConfig { id, max_bytes, max_keys }),
        (None, None) => known.iter().find(|config| config.id == id).copied().ok_or(Refusal::NoQuotas(id)),
        _ => Err(Refusal::HalfQuotas),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Parameters of a description: (badge, name, value).
    fn table(params: &[(u64, &str, u64)], without_region: &[u64]) -> Table {
        let mut badges: Vec<u64> = params.iter().map(|p| p.0).collect();
        badges.dedup();
        let param = |badge, name: &str| params.iter().find(|p| p.0 == badge && p.1 == name).map(|p| p.2);
        client_table(&badges, param, |badge| !without_region.contains(&badge))
    }

    #[test]
    fn a_packed_quota_round_trips_and_refuses_what_does_not_fit() {
        let packed = pack_quota(2, 0x200000, 4096).unwrap();
        assert_eq!(packed, 0x0000_0800_1000_0002);
        assert_eq!(unpack_quota(packed), Some(NamespaceConfig { id: 2, max_bytes: 0x200000, max_keys: 4096 }));
        assert_eq!(unpack_quota(pack_quota(0xffff, MAX_PACKED_BYTES, 0xffff).unwrap()).unwrap().max_bytes, MAX_PACKED_BYTES);
        assert_eq!(pack_quota(1 << 16, 1024, 1), None);
        assert_eq!(pack_quota(1, 1024, 1 << 16), None);
        assert_eq!(pack_quota(1, 1000, 1), None);
        assert_eq!(pack_quota(1, MAX_PACKED_BYTES + 1024, 1), None);
        assert_eq!(unpack_quota(1 << 63), None);
    }

    #[test]
    fn the_three_forms_give_the_same_namespaces_in_any_order() {
        let separate =
            table(&[(0x61, "namespace", 1), (0x61, "max_bytes", 0x400000), (0x61, "max_keys", 256), (0x77, "namespace", 1)], &[]);
        let packed = table(&[(0x77, "namespace", 1), (0x61, "quota", pack_quota(1, 0x400000, 256).unwrap())], &[]);
        for t in [&separate, &packed] {
            assert_eq!(t.namespaces, vec![NamespaceConfig { id: 1, max_bytes: 0x400000, max_keys: 256 }]);
            assert_eq!(t.clients, vec![Client { badge: 0x61, namespace: 1 }, Client { badge: 0x77, namespace: 1 }]);
            assert!(t.refused.is_empty() && t.overridden.is_empty());
        }
    }

    #[test]
    fn sixteen_parameters_serve_sixteen_clients_in_their_own_namespaces() {
        let params: Vec<(u64, &str, u64)> =
            (0..16u32).map(|n| (0x100 + u64::from(n), "quota", pack_quota(n + 1, 64 * 1024, 16).unwrap())).collect();
        let t = table(&params, &[]);
        assert_eq!(t.clients.len(), 16);
        assert_eq!(t.namespaces.iter().map(|c| c.id).collect::<Vec<_>>(), (1..=16).collect::<Vec<_>>());
    }

    #[test]
    fn every_faulty_entry_is_refused_naming_why_and_the_others_are_served() {
        let t = table(
            &[
                (1, "max_keys", 3),
                (2, "namespace", 1 << 32),
                (3, "quota", 1 << 63),
                (4, "quota", pack_quota(5, 1024, 1).unwrap()),
                (4, "max_keys", 9),
                (5, "namespace", 7),
                (5, "max_bytes", 1024),
                (6, "namespace", 8),
                (7, "quota", pack_quota(9, 1024, 1).unwrap()),
                (8, "quota", pack_quota(10, 2048, 2).unwrap()),
                (9, "quota", pack_quota(10, 4096, 4).unwrap()),
            ],
            &[7],
        );
        let mut refused = t.refused.clone();
        refused.sort_by_key(|r| r.0);
        assert_eq!(
            refused,
            vec![
                (1, Refusal::NoNamespace),
                (2, Refusal::NamespaceTooLarge(1 << 32)),
                (3, Refusal::BadQuota(1 << 63)),
                (4, Refusal::QuotaAndSeparate),
                (5, Refusal::HalfQuotas),
                (6, Refusal::NoQuotas(8)),
                (7, Refusal::NoRegion),
            ]
        );
        // Two quota-giving clients of one namespace: the first one's quotas apply.
        assert_eq!(t.clients, vec![Client { badge: 8, namespace: 10 }, Client { badge: 9, namespace: 10 }]);
        assert_eq!(t.namespaces, vec![NamespaceConfig { id: 10, max_bytes: 2048, max_keys: 2 }]);
        assert_eq!(t.overridden, vec![(9, 10)]);
        assert_eq!(alloc::format!("{}", Refusal::NoQuotas(8)), "gives no quotas, and no client gives them for namespace 8");
    }
}
