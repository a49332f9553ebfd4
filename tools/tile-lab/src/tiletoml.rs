//! Each tile's configuration: a `tileos_federation::NodeConfig` built from the topology and
//! the relays' ports, and, for QEMU tiles, the tile description: a template tile.toml with
//! a `[federation]` table appended. The table's format follows the federation domain's
//! (issue #15): `domain`, `store`, `listen_port`, then the `NodeConfig` fields under their
//! serde names; a unit test deserializes the generated table into `NodeConfig`, so a
//! change of those names fails here first.

use std::fmt::Write as _;

use tileos_federation::{Contact, LocalService, NodeConfig, Role};

use crate::topology::Topology;

/// The TCPCL port every tile listens on (QEMU forwards a host port to it).
pub const TCPCL_PORT: u16 = 4556;

/// How a tile reaches the relay of a link direction: `10.0.2.2` from a QEMU tile (QEMU's
/// user network's address of the host), `127.0.0.1` from a host node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAddress {
    /// From inside QEMU's user network.
    QemuUserNet,
    /// From the host itself.
    Loopback,
}

impl HostAddress {
    /// The address text.
    pub fn ip(self) -> &'static str {
        match self {
            HostAddress::QemuUserNet => "10.0.2.2",
            HostAddress::Loopback => "127.0.0.1",
        }
    }
}

/// Contacts of the configured plan last this long (about 100 years): links are "always up"
/// in the plan; the lab's cuts are unplanned outages.
const FOREVER_MS: u64 = 100 * 365 * 24 * 3_600_000;

/// The federation configuration of tile `t`: its neighbours at the ports of the relays of
/// its outgoing links (`relay_port(link, from_a)`: the port of the relay carrying
/// `link` from its end `a` if `from_a`, else from `b`), a static route `ipn:D.*` for every
/// other tile through the topology's next hop, and the contact plan: a contact each way of
/// every link of the topology (its light time, its rate, its window). The result is
/// validated.
pub fn node_config(
    topology: &Topology,
    t: usize,
    host: HostAddress,
    relay_port: &dyn Fn(usize, bool) -> u16,
) -> Result<NodeConfig, String> {
    let me = &topology.tiles[t];
    let mut config = NodeConfig::new(me.node, me.role);
    for (neighbour, link) in topology.neighbours(t) {
        let port = relay_port(link, topology.links[link].a == t);
        config = config.neighbour(topology.tiles[neighbour].node, format!("{}:{port}", host.ip()));
    }
    // The whole plan, both directions of every link: contact-graph routing needs the
    // contacts beyond the first hop to find a multi-hop route (with only its own, a tile
    // would take a slow direct contact over a fast path through a neighbour).
    for link in &topology.links {
        let props = link.props;
        for (from, to) in [(link.a, link.b), (link.b, link.a)] {
            config = config.contact(Contact {
                from: topology.tiles[from].node,
                to: topology.tiles[to].node,
                start_ms: props.start_ms,
                end_ms: props.end_ms.unwrap_or(FOREVER_MS),
                rate_bytes_per_s: props.rate,
                owlt_ms: props.owlt_ms,
            });
        }
    }
    for (d, dest) in topology.tiles.iter().enumerate() {
        if let Some(hop) = topology.next_hop[t][d] {
            config = config.route(format!("ipn:{}.*", dest.node), topology.tiles[hop].node);
        }
    }
    config.replication_interval_ms = 1_000;
    config.reconnect_interval_ms = 500;
    config.validate().map_err(|e| format!("tile {}: federation configuration: {e:?}", me.name))?;
    Ok(config)
}

/// The local service of QEMU tiles whose bundles the tile's update agent
/// (`federation-agent`) applies to the replicated state: `KEY=VALUE` sets register `KEY`.
pub const UPDATE_SERVICE: u32 = 9;

/// The domain of the tile template that owns [`UPDATE_SERVICE`] (the image builder binds
/// the service to its badge on the federation endpoint).
pub const UPDATE_AGENT: &str = "federation-agent";

/// Adds the lab (node `lab_node`) as a client neighbour (it dials the tile, never the
/// reverse, and does not replicate), so that a tile's federation node accepts the sessions
/// the lab opens to hand it bundles (`send` and `update` events), and makes
/// [`UPDATE_SERVICE`] a local service owned by the tile's update agent ([`UPDATE_AGENT`]).
pub fn with_lab_neighbour(mut config: NodeConfig, lab_node: u32) -> Result<NodeConfig, String> {
    config = config.client_neighbour(lab_node);
    config.local_services.push(LocalService::new(UPDATE_SERVICE, UPDATE_AGENT, 0));
    config.validate().map_err(|e| format!("node {}: federation configuration with the lab as neighbour: {e:?}", config.node))?;
    Ok(config)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Tile => "tile",
        Role::Pod => "pod",
        Role::Hub => "hub",
        Role::Regional => "regional",
    }
}

/// The `[federation]` table of a tile description for `config`: served by domain `domain`,
/// storing through endpoint `store`, listening on `listen_port`.
pub fn federation_table(config: &NodeConfig, domain: &str, store: &str, listen_port: u16) -> String {
    let mut out = String::from("[federation]\n");
    let _ = writeln!(out, "domain = {domain:?}");
    let _ = writeln!(out, "store = {store:?}");
    let _ = writeln!(out, "listen_port = {listen_port}");
    let _ = writeln!(out, "node = {}", config.node);
    let _ = writeln!(out, "role = \"{}\"", role_name(config.role));
    let _ = writeln!(out, "replication_interval_ms = {}", config.replication_interval_ms);
    let _ = writeln!(out, "reconnect_interval_ms = {}", config.reconnect_interval_ms);
    let list = |items: Vec<String>| if items.is_empty() { "[]".to_string() } else { format!("[\n  {},\n]", items.join(",\n  ")) };
    let neighbours = config
        .neighbours
        .iter()
        .map(|n| {
            if n.client {
                format!("{{ node = {}, client = true }}", n.node)
            } else {
                format!("{{ node = {}, address = {:?} }}", n.node, n.address)
            }
        })
        .collect();
    let _ = writeln!(out, "neighbours = {}", list(neighbours));
    let routes = config.routes.iter().map(|r| format!("{{ pattern = {:?}, via = {} }}", r.pattern, r.via)).collect();
    let _ = writeln!(out, "routes = {}", list(routes));
    let contacts = config
        .contacts
        .iter()
        .map(|c| {
            format!(
                "{{ from = {}, to = {}, start_ms = {}, end_ms = {}, rate_bytes_per_s = {}, owlt_ms = {} }}",
                c.from, c.to, c.start_ms, c.end_ms, c.rate_bytes_per_s, c.owlt_ms
            )
        })
        .collect();
    let _ = writeln!(out, "contacts = {}", list(contacts));
    if !config.local_services.is_empty() {
        let services: Vec<String> =
            config.local_services.iter().map(|l| format!("{{ service = {}, domain = {:?} }}", l.service, l.domain)).collect();
        let _ = writeln!(out, "local_services = [{}]", services.join(", "));
    }
    out
}

/// A tile description: `template` (a tile.toml without a `[federation]` table) with its
/// `[tile] name` replaced by `name` and `table` appended.
pub fn tile_description(template: &str, name: &str, table: &str) -> Result<String, String> {
    if template.lines().any(|l| l.trim() == "[federation]") {
        return Err("the template already has a [federation] table".into());
    }
    let mut out = String::new();
    let mut in_tile = false;
    let mut renamed = false;
    for line in template.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_tile = trimmed == "[tile]";
        }
        if in_tile && !renamed && trimmed.starts_with("name") && trimmed.contains('=') {
            let _ = writeln!(out, "name = {name:?}");
            renamed = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !renamed {
        return Err("the template has no [tile] name".into());
    }
    out.push('\n');
    out.push_str(table);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn topology() -> Topology {
        let text = "[[pod]]\nname = \"a\"\ntiles = 2\nowlt_ms = 3\nrate = 5000\n[[hub]]\nname = \"hub\"\npods = [\"a\"]\nowlt_ms = 20\n";
        Topology::build(&parse("s.toml", text).unwrap(), None).unwrap()
    }

    /// Ports: 40000 + 10·link + (0 from a, 1 from b).
    fn port(link: usize, from_a: bool) -> u16 {
        40_000 + 10 * link as u16 + u16::from(!from_a)
    }

    #[test]
    fn a_gateway_names_its_neighbours_at_the_relays_and_routes_through_them() {
        let t = topology();
        let config = node_config(&t, t.tile("a/0").unwrap(), HostAddress::QemuUserNet, &port).unwrap();
        let table = federation_table(&config, "federation", "store", TCPCL_PORT);
        // Link 0 is a/0–a/1 (a/0 is its end a), link 1 hub–a/0 (a/0 is its end b).
        assert_eq!(
            table,
            r#"[federation]
domain = "federation"
store = "store"
listen_port = 4556
node = 100
role = "pod"
replication_interval_ms = 1000
reconnect_interval_ms = 500
neighbours = [
  { node = 101, address = "10.0.2.2:40000" },
  { node = 1, address = "10.0.2.2:40011" },
]
routes = [
  { pattern = "ipn:1.*", via = 1 },
  { pattern = "ipn:101.*", via = 101 },
]
contacts = [
  { from = 100, to = 101, start_ms = 0, end_ms = 3153600000000, rate_bytes_per_s = 5000, owlt_ms = 3 },
  { from = 101, to = 100, start_ms = 0, end_ms = 3153600000000, rate_bytes_per_s = 5000, owlt_ms = 3 },
  { from = 1, to = 100, start_ms = 0, end_ms = 3153600000000, rate_bytes_per_s = 1000000, owlt_ms = 20 },
  { from = 100, to = 1, start_ms = 0, end_ms = 3153600000000, rate_bytes_per_s = 1000000, owlt_ms = 20 },
]
"#
        );
    }

    /// TOML value → JSON value (what serde would see).
    fn json(value: &toml_edit::Value) -> serde_json::Value {
        match value {
            toml_edit::Value::String(s) => serde_json::Value::from(s.value().as_str()),
            toml_edit::Value::Integer(i) => serde_json::Value::from(*i.value()),
            toml_edit::Value::Boolean(b) => serde_json::Value::from(*b.value()),
            toml_edit::Value::Array(a) => serde_json::Value::Array(a.iter().map(json).collect()),
            toml_edit::Value::InlineTable(t) => serde_json::Value::Object(t.iter().map(|(k, v)| (k.to_string(), json(v))).collect()),
            other => panic!("unexpected TOML value {other:?}"),
        }
    }

    #[test]
    fn the_table_deserializes_into_the_federation_node_config() {
        let t = topology();
        for tile in 0..t.tiles.len() {
            let config = with_lab_neighbour(node_config(&t, tile, HostAddress::QemuUserNet, &port).unwrap(), 9_999).unwrap();
            let text = federation_table(&config, "federation", "store", TCPCL_PORT);
            let doc = toml_edit::Document::parse(text.as_str()).unwrap();
            let table = doc.as_table()["federation"].as_table().unwrap();
            let mut object = serde_json::Map::new();
            for (key, item) in table.iter() {
                if !["domain", "store", "listen_port"].contains(&key) {
                    object.insert(key.to_string(), json(item.as_value().unwrap()));
                }
            }
            let back: NodeConfig = serde_json::from_value(serde_json::Value::Object(object)).unwrap();
            assert_eq!(back, config);
        }
    }

    #[test]
    fn a_description_is_the_template_renamed_with_the_table() {
        let template = "# t\n[tile]\nname = \"dev-tile\"\n\n[[domain]]\nname = \"console\"\n";
        let out = tile_description(template, "lab-a-1", "[federation]\nnode = 3\n").unwrap();
        assert_eq!(out, "# t\n[tile]\nname = \"lab-a-1\"\n\n[[domain]]\nname = \"console\"\n\n[federation]\nnode = 3\n");
        assert_eq!(tile_description("[federation]\n", "x", "").unwrap_err(), "the template already has a [federation] table");
        assert_eq!(tile_description("[[domain]]\nname = \"c\"\n", "x", "").unwrap_err(), "the template has no [tile] name");
    }

    #[test]
    fn the_lab_is_a_client_neighbour_and_the_update_service_is_local() {
        let t = topology();
        let config = with_lab_neighbour(node_config(&t, 0, HostAddress::QemuUserNet, &port).unwrap(), 9_999).unwrap();
        let table = federation_table(&config, "federation", "store", TCPCL_PORT);
        assert!(table.contains("  { node = 9999, client = true },\n]"), "{table}");
        assert!(table.ends_with("local_services = [{ service = 9, domain = \"federation-agent\" }]\n"), "{table}");
    }

    #[test]
    fn host_nodes_reach_relays_on_loopback() {
        let t = topology();
        let config = node_config(&t, t.tile("a/1").unwrap(), HostAddress::Loopback, &port).unwrap();
        assert_eq!(config.neighbours[0].address, "127.0.0.1:40001");
        assert_eq!(config.routes.len(), 2);
        assert!(config.routes.iter().all(|r| r.via == 100));
    }
}
