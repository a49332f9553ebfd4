//! From a scenario to tiles, links and routes.
//!
//! Tiles: each hub is one tile (role hub, node numbers 1, 2, … in file order); pod *p*
//! (0-based, file order) has tiles `NAME/0` … with node numbers `100·(p+1) + j`, `NAME/0`
//! being its gateway (role pod) and the others tiles (role tile). Links: every tile of a pod
//! to its gateway (the pod's link properties), each hub to the gateway of each of its pods
//! (the hub's), and every `[[link]]`. Routes are static: for every pair of tiles, the first
//! hop of the path of least total light time (each hop counting 1 ms more, so that among
//! equal light times the fewest hops win; ties to the lower node number).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use tileos_federation::Role;

use crate::scenario::{EventKind, LinkProps, Scenario};

/// A tile of the lab.
#[derive(Clone, Debug, PartialEq)]
pub struct TileSpec {
    /// Its name (`hub`, `a/0`, `a/1`).
    pub name: String,
    /// Its `ipn` node number.
    pub node: u32,
    /// Its place in the federation.
    pub role: Role,
}

/// A link between two tiles (indices into [`Topology::tiles`], `a < b`).
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// One end.
    pub a: usize,
    /// The other end.
    pub b: usize,
    /// Light time, rate, loss, window.
    pub props: LinkProps,
}

/// The lab's tiles, links and static routes.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// Hubs first, then each pod's tiles.
    pub tiles: Vec<TileSpec>,
    /// Every link once.
    pub links: Vec<Link>,
    /// `next_hop[from][to]`: the neighbour `from` sends to for `to` (`None` for itself or
    /// when `to` is unreachable).
    pub next_hop: Vec<Vec<Option<usize>>>,
}

impl Topology {
    /// Builds the topology of `scenario`. With `tiles = Some(n)`, the pods' sizes are replaced
    /// so that the lab has `n` tiles in all: `n` minus the hubs, spread over the pods as
    /// evenly as possible (the first pods get one more). Errors name the entry at fault.
    pub fn build(scenario: &Scenario, tiles: Option<u32>) -> Result<Topology, String> {
        let mut sizes: Vec<u32> = scenario.pods.iter().map(|p| p.tiles).collect();
        if let Some(n) = tiles {
            let hubs = scenario.hubs.len() as u32;
            let pods = sizes.len() as u32;
            if pods == 0 {
                return Err("a tile count was given, but the scenario has no [[pod]] to spread tiles over".into());
            }
            if n < hubs + pods {
                return Err(format!("{n} tiles are too few: the scenario has {hubs} hub(s) and {pods} pod(s) (at least one tile each)"));
            }
            let spread = n - hubs;
            for (i, size) in sizes.iter_mut().enumerate() {
                *size = spread / pods + u32::from((i as u32) < spread % pods);
                if *size > 99 {
                    return Err(format!("{n} tiles make pod {:?} {size} tiles; a pod holds at most 99", scenario.pods[i].name));
                }
            }
        }
        let mut tiles = Vec::new();
        let mut index = BTreeMap::new();
        let mut add = |tiles: &mut Vec<TileSpec>, spec: TileSpec| -> Result<usize, String> {
            if index.insert(spec.name.clone(), tiles.len()).is_some() {
                return Err(format!("two tiles are named {:?}", spec.name));
            }
            tiles.push(spec);
            Ok(tiles.len() - 1)
        };
        for (h, hub) in scenario.hubs.iter().enumerate() {
            add(&mut tiles, TileSpec { name: hub.name.clone(), node: h as u32 + 1, role: Role::Hub })?;
        }
        let mut links = Vec::new();
        let mut gateways = BTreeMap::new();
        for (p, pod) in scenario.pods.iter().enumerate() {
            let base = 100 * (p as u32 + 1);
            let gateway = add(&mut tiles, TileSpec { name: format!("{}/0", pod.name), node: base, role: Role::Pod })?;
            gateways.insert(pod.name.clone(), gateway);
            for j in 1..sizes[p] {
                let tile = add(&mut tiles, TileSpec { name: format!("{}/{j}", pod.name), node: base + j, role: Role::Tile })?;
                links.push(Link { a: gateway, b: tile, props: pod.link });
            }
        }
        let find = |name: &str, what: &str| -> Result<usize, String> {
            index.get(name).copied().ok_or_else(|| format!("{what}: no tile named {name:?} (tiles: {})", names(&tiles)))
        };
        for (h, hub) in scenario.hubs.iter().enumerate() {
            for pod in &hub.pods {
                let gateway = gateways[pod];
                links.push(Link { a: h.min(gateway), b: h.max(gateway), props: hub.link });
            }
        }
        for (i, spec) in scenario.links.iter().enumerate() {
            let a = find(&spec.a, &format!("link[{i}].a"))?;
            let b = find(&spec.b, &format!("link[{i}].b"))?;
            links.push(Link { a: a.min(b), b: a.max(b), props: spec.props });
        }
        for (i, link) in links.iter().enumerate() {
            if links[..i].iter().any(|l| l.a == link.a && l.b == link.b) {
                return Err(format!("two links join {} and {}", tiles[link.a].name, tiles[link.b].name));
            }
        }
        let mut topology = Topology { tiles, links, next_hop: Vec::new() };
        topology.next_hop = (0..topology.tiles.len()).map(|from| topology.first_hops(from)).collect();
        for event in &scenario.events {
            topology.check_event(&event.kind).map_err(|e| format!("event at {} ms ({}): {e}", event.at_ms, event.kind.name()))?;
        }
        Ok(topology)
    }

    /// The index of the tile named `name`.
    pub fn tile(&self, name: &str) -> Result<usize, String> {
        self.tiles.iter().position(|t| t.name == name).ok_or_else(|| format!("no tile named {name:?} (tiles: {})", names(&self.tiles)))
    }

    /// The index of the link between tiles `a` and `b` (named).
    pub fn link(&self, a: &str, b: &str) -> Result<usize, String> {
        let (x, y) = (self.tile(a)?, self.tile(b)?);
        self.links.iter().position(|l| (l.a, l.b) == (x.min(y), x.max(y))).ok_or_else(|| format!("no link between {a} and {b}"))
    }

    /// The neighbours of tile `t`, with the link joining them, in link order.
    pub fn neighbours(&self, t: usize) -> Vec<(usize, usize)> {
        self.links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                if l.a == t {
                    Some((l.b, i))
                } else if l.b == t {
                    Some((l.a, i))
                } else {
                    None
                }
            })
            .collect()
    }

    /// The tiles a bundle from `from` to `to` crosses, both ends included (empty if `to`
    /// cannot be reached).
    pub fn path(&self, from: usize, to: usize) -> Vec<usize> {
        let mut path = vec![from];
        let mut at = from;
        while at != to {
            match self.next_hop[at][to] {
                Some(next) if path.len() <= self.tiles.len() => {
                    path.push(next);
                    at = next;
                }
                _ => return Vec::new(),
            }
        }
        path
    }

    /// Dijkstra from `from`: for each tile, the first hop on the least-light-time path.
    fn first_hops(&self, from: usize) -> Vec<Option<usize>> {
        let n = self.tiles.len();
        let mut best: Vec<Option<(u64, u32, usize)>> = vec![None; n];
        let mut heap = BinaryHeap::new();
        best[from] = Some((0, 0, from));
        heap.push(Reverse((0u64, 0u32, from, from)));
        let mut first = vec![None; n];
        let mut done = vec![false; n];
        while let Some(Reverse((cost, _, at, hop))) = heap.pop() {
            if done[at] {
                continue;
            }
            done[at] = true;
            if at != from {
                first[at] = Some(hop);
            }
            for (next, link) in self.neighbours(at) {
                let c = cost + self.links[link].props.owlt_ms + 1;
                let hop_here = if at == from { next } else { hop };
                let key = (c, self.tiles[hop_here].node, hop_here);
                if !done[next] && best[next].is_none_or(|b| key < b) {
                    best[next] = Some(key);
                    heap.push(Reverse((c, self.tiles[hop_here].node, next, hop_here)));
                }
            }
        }
        first
    }

    fn check_event(&self, kind: &EventKind) -> Result<(), String> {
        match kind {
            EventKind::Cut { a, b } | EventKind::Restore { a, b } | EventKind::Delay { a, b, .. } | EventKind::Loss { a, b, .. } => {
                self.link(a, b).map(|_| ())
            }
            EventKind::Reboot { tile, .. } | EventKind::Update { tile, .. } => self.tile(tile).map(|_| ()),
            EventKind::Send { from, to, expect_via, .. } => {
                let (f, t) = (self.tile(from)?, self.tile(to)?);
                if f == t {
                    return Err(format!("{from} sends to itself"));
                }
                if let Some(via) = expect_via {
                    self.tile(via)?;
                }
                if self.path(f, t).is_empty() { Err(format!("no path from {from} to {to}")) } else { Ok(()) }
            }
        }
    }
}

fn names(tiles: &[TileSpec]) -> String {
    tiles.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    const EIGHT: &str = r#"
[[pod]]
name = "a"
tiles = 3
owlt_ms = 2
[[pod]]
name = "b"
tiles = 4
owlt_ms = 2
[[hub]]
name = "hub"
pods = ["a", "b"]
owlt_ms = 20
"#;

    fn names_of(t: &Topology, list: &[usize]) -> Vec<String> {
        list.iter().map(|&i| t.tiles[i].name.clone()).collect()
    }

    #[test]
    fn pods_and_hubs_make_tiles_numbers_roles_and_links() {
        let t = Topology::build(&parse("s.toml", EIGHT).unwrap(), None).unwrap();
        let summary: Vec<(String, u32, Role)> = t.tiles.iter().map(|t| (t.name.clone(), t.node, t.role)).collect();
        assert_eq!(
            summary,
            vec![
                ("hub".into(), 1, Role::Hub),
                ("a/0".into(), 100, Role::Pod),
                ("a/1".into(), 101, Role::Tile),
                ("a/2".into(), 102, Role::Tile),
                ("b/0".into(), 200, Role::Pod),
                ("b/1".into(), 201, Role::Tile),
                ("b/2".into(), 202, Role::Tile),
                ("b/3".into(), 203, Role::Tile),
            ]
        );
        assert_eq!(t.links.len(), 7);
        assert_eq!(t.links[t.link("hub", "b/0").unwrap()].props.owlt_ms, 20);
        assert_eq!(t.links[t.link("a/2", "a/0").unwrap()].props.owlt_ms, 2);
        assert!(t.link("a/1", "a/2").is_err());
        assert_eq!(names_of(&t, &t.path(t.tile("a/1").unwrap(), t.tile("b/3").unwrap())), vec!["a/1", "a/0", "hub", "b/0", "b/3"]);
    }

    #[test]
    fn a_tile_count_is_spread_over_the_pods() {
        let s = parse("s.toml", EIGHT).unwrap();
        let t = Topology::build(&s, Some(16)).unwrap();
        assert_eq!(t.tiles.len(), 16);
        assert_eq!(t.tiles.iter().filter(|t| t.name.starts_with("a/")).count(), 8);
        assert_eq!(t.tiles.iter().filter(|t| t.name.starts_with("b/")).count(), 7);
        let t = Topology::build(&s, Some(3)).unwrap();
        assert_eq!(names_of(&t, &(0..3).collect::<Vec<_>>()), vec!["hub", "a/0", "b/0"]);
        assert_eq!(
            Topology::build(&s, Some(2)).unwrap_err(),
            "2 tiles are too few: the scenario has 1 hub(s) and 2 pod(s) (at least one tile each)"
        );
    }

    #[test]
    fn routes_take_the_least_light_time_not_the_fewest_hops() {
        let s = parse(
            "s.toml",
            r#"
[[pod]]
name = "ground"
tiles = 1
[[hub]]
name = "earth"
pods = ["ground"]
owlt_ms = 10
[[hub]]
name = "mars"
pods = []
[[link]]
a = "earth"
b = "mars"
owlt_ms = 1500
[[link]]
a = "ground/0"
b = "mars"
owlt_ms = 20000
"#,
        )
        .unwrap();
        let t = Topology::build(&s, None).unwrap();
        let (g, m) = (t.tile("ground/0").unwrap(), t.tile("mars").unwrap());
        assert_eq!(names_of(&t, &t.path(g, m)), vec!["ground/0", "earth", "mars"]);
        assert_eq!(names_of(&t, &t.path(m, g)), vec!["mars", "earth", "ground/0"]);
    }

    #[test]
    fn events_and_links_must_name_existing_tiles_and_links() {
        let with = |extra: &str| Topology::build(&parse("s.toml", &format!("{EIGHT}{extra}")).unwrap(), None).unwrap_err();
        assert_eq!(
            with("[[event]]\nat_ms = 5\nkind = \"cut\"\na = \"a/1\"\nb = \"b/1\"\n"),
            "event at 5 ms (cut): no link between a/1 and b/1"
        );
        assert!(
            with("[[event]]\nat_ms = 5\nkind = \"reboot\"\ntile = \"c/1\"\n").starts_with("event at 5 ms (reboot): no tile named \"c/1\"")
        );
        assert!(with("[[link]]\na = \"hub\"\nb = \"zz\"\n").starts_with("link[0].b: no tile named \"zz\""));
        assert_eq!(with("[[link]]\na = \"b/0\"\nb = \"hub\"\n"), "two links join hub and b/0");
        assert_eq!(
            with("[[event]]\nat_ms = 5\nkind = \"send\"\nfrom = \"a/1\"\nto = \"a/1\"\n"),
            "event at 5 ms (send): a/1 sends to itself"
        );
    }

    #[test]
    fn an_unreachable_destination_is_an_error() {
        let s = parse("s.toml", "[[pod]]\nname = \"a\"\ntiles = 1\n[[pod]]\nname = \"b\"\ntiles = 1\n[[event]]\nat_ms = 0\nkind = \"send\"\nfrom = \"a/0\"\nto = \"b/0\"\n").unwrap();
        assert_eq!(Topology::build(&s, None).unwrap_err(), "event at 0 ms (send): no path from a/0 to b/0");
    }
}
