//! Pod-level telemetry aggregates (docs/federation.md, "Pod aggregates"): each tile
//! publishes its own telemetry summary ([`TileFigures`]: load, faults, restarts, protocol
//! calls, the slowest reporter's 99th percentile) in the replicated state, as the
//! last-writer-wins register [`figures_register`]`(node)` that only it writes; every node
//! then computes its pod's aggregates ([`PodAggregates`]) from the figures that reached it.
//!
//! The register's value is text (`load=412 faults=3 restarts=1 calls=120345 p99_us=840`),
//! parsed strictly: a value that is not exactly that form, or a register written by another
//! node than the one it names, is not counted but counted as refused
//! ([`PodAggregates::refused`]), so a peer can neither break the aggregates with garbage nor
//! pass its figures off as another tile's.

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;
use core::ops::RangeInclusive;

use tileos_protocol::federation::{PodAggregates, TileFigures};

use crate::config::NodeNumber;
use crate::replica::FederatedState;

/// The prefix of the figures registers; the tile's node number follows.
pub const FIGURES_PREFIX: &str = "telemetry.tile.";

/// Names that only the node writes (the figures registers under [`FIGURES_PREFIX`], and
/// anything else under it): a client's `SetRegister` or `AddToCounter` on one is refused
/// (`Error::ReservedName`), so no local domain can forge a tile's figures by name; the
/// node writes its own register on the configured publisher's `PublishFigures`.
pub const RESERVED_PREFIX: &str = "telemetry.";

/// The name of the register tile `node` publishes its figures in.
pub fn figures_register(node: NodeNumber) -> String {
    format!("{FIGURES_PREFIX}{node}")
}

/// Why a figures register's value was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FiguresError {
    /// Not the five `name=value` fields in order, separated by single spaces.
    Form,
    /// A value that is no decimal number of its field's type.
    Number,
    /// A load above 1000 permille.
    LoadAbove1000,
}

/// The register value of `figures` (`load=… faults=… restarts=… calls=… p99_us=…`).
pub fn encode(figures: &TileFigures) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "load={} faults={} restarts={} calls={} p99_us={}",
        figures.load_permille, figures.faults, figures.restarts, figures.calls, figures.p99_us
    );
    text
}

/// Parses a register value written by [`encode`]; anything else is refused.
pub fn decode(text: &str) -> Result<TileFigures, FiguresError> {
    let mut fields = text.split(' ');
    let mut next = |name: &str| -> Result<u64, FiguresError> {
        let field = fields.next().ok_or(FiguresError::Form)?;
        let value = field.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')).ok_or(FiguresError::Form)?;
        // Decimal digits only: no sign, no spaces, no leading '+'.
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FiguresError::Number);
        }
        value.parse().map_err(|_| FiguresError::Number)
    };
    let load = next("load")?;
    let figures = TileFigures {
        load_permille: u16::try_from(load).map_err(|_| FiguresError::LoadAbove1000)?,
        faults: next("faults")?,
        restarts: next("restarts")?,
        calls: next("calls")?,
        p99_us: next("p99_us")?,
    };
    if fields.next().is_some() {
        return Err(FiguresError::Form);
    }
    if figures.load_permille > 1000 {
        return Err(FiguresError::LoadAbove1000);
    }
    Ok(figures)
}

/// The aggregates of the pod of tiles numbered `pod`: their figures registers in `state`
/// (each checked against the node that wrote its winning value) combined. Registers of
/// tiles outside `pod` are neither counted nor refused.
pub fn pod_aggregates(state: &FederatedState, pod: RangeInclusive<NodeNumber>) -> PodAggregates {
    let mut sums = PodAggregates::default();
    let mut load_sum = 0u64;
    for (name, value, writer) in state.registers_with_prefix(FIGURES_PREFIX) {
        let named = name[FIGURES_PREFIX.len()..].parse::<NodeNumber>().ok();
        let figures = decode(value);
        match (named, figures) {
            (Some(node), _) if !pod.contains(&node) => {}
            (Some(node), Ok(figures)) if u64::from(node) == writer => {
                sums.tiles += 1;
                load_sum += u64::from(figures.load_permille);
                if figures.load_permille > sums.load_max_permille || sums.busiest == 0 {
                    sums.load_max_permille = figures.load_permille;
                    sums.busiest = node;
                }
                sums.faults = sums.faults.saturating_add(figures.faults);
                sums.restarts = sums.restarts.saturating_add(figures.restarts);
                sums.calls = sums.calls.saturating_add(figures.calls);
                sums.p99_max_us = sums.p99_max_us.max(figures.p99_us);
            }
            _ => sums.refused = sums.refused.saturating_add(1),
        }
    }
    if sums.tiles > 0 {
        sums.load_mean_permille = (load_sum / u64::from(sums.tiles)) as u16;
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::Replica;

    const ALL: RangeInclusive<NodeNumber> = 0..=NodeNumber::MAX;

    fn figures(load_permille: u16, faults: u64, p99_us: u64) -> TileFigures {
        TileFigures { load_permille, faults, restarts: 1, calls: 1000, p99_us }
    }

    #[test]
    fn the_figures_registers_are_reserved_names() {
        assert!(FIGURES_PREFIX.starts_with(RESERVED_PREFIX));
        assert!(figures_register(7).starts_with(RESERVED_PREFIX));
    }

    #[test]
    fn figures_round_trip_and_anything_else_is_refused() {
        let f = figures(412, 3, 840);
        assert_eq!(encode(&f), "load=412 faults=3 restarts=1 calls=1000 p99_us=840");
        assert_eq!(decode(&encode(&f)), Ok(f));
        for (bad, why) in [
            ("", FiguresError::Form),
            ("load=1 faults=2 restarts=3 calls=4", FiguresError::Form),
            ("load=1 faults=2 restarts=3 calls=4 p99_us=5 extra=6", FiguresError::Form),
            ("faults=2 load=1 restarts=3 calls=4 p99_us=5", FiguresError::Form),
            ("load=1  faults=2 restarts=3 calls=4 p99_us=5", FiguresError::Form),
            ("load=-1 faults=2 restarts=3 calls=4 p99_us=5", FiguresError::Number),
            ("load=+1 faults=2 restarts=3 calls=4 p99_us=5", FiguresError::Number),
            ("load=1 faults= restarts=3 calls=4 p99_us=5", FiguresError::Number),
            ("load=1 faults=18446744073709551616 restarts=3 calls=4 p99_us=5", FiguresError::Number),
            ("load=1001 faults=2 restarts=3 calls=4 p99_us=5", FiguresError::LoadAbove1000),
            ("load=70000 faults=2 restarts=3 calls=4 p99_us=5", FiguresError::LoadAbove1000),
        ] {
            assert_eq!(decode(bad), Err(why), "{bad:?}");
        }
    }

    /// Three tiles of a pod in a line (1 — 2 — 3) publish their figures; after anti-entropy
    /// every one of them knows the pod's aggregates, and a newer publication replaces a
    /// tile's older one.
    #[test]
    fn every_tile_of_a_pod_learns_its_aggregates_by_replication() {
        let mut tiles = [Replica::new(1, [2]), Replica::new(2, [1, 3]), Replica::new(3, [2])];
        let published = [figures(100, 0, 400), figures(700, 5, 3000), figures(250, 1, 900)];
        for (index, (tile, f)) in tiles.iter_mut().zip(published).enumerate() {
            tile.set_register(&figures_register(index as NodeNumber + 1), &encode(&f), 10).unwrap();
        }
        sync(&mut tiles);
        let expected = PodAggregates {
            tiles: 3,
            load_mean_permille: 350,
            load_max_permille: 700,
            busiest: 2,
            faults: 6,
            restarts: 3,
            calls: 3000,
            p99_max_us: 3000,
            refused: 0,
        };
        for tile in &tiles {
            assert_eq!(pod_aggregates(tile.state(), ALL), expected);
        }
        // A pod of tiles 2 and 3 only.
        let pod = pod_aggregates(tiles[0].state(), 2..=3);
        assert_eq!((pod.tiles, pod.faults, pod.load_mean_permille, pod.refused), (2, 6, 475, 0));
        // Tile 2 recovers: its next publication replaces the old one everywhere.
        tiles[1].set_register(&figures_register(2), &encode(&figures(50, 5, 500)), 20).unwrap();
        sync(&mut tiles);
        for tile in &tiles {
            let pod = pod_aggregates(tile.state(), ALL);
            assert_eq!((pod.load_max_permille, pod.busiest, pod.p99_max_us, pod.load_mean_permille), (250, 3, 900, 133));
        }
    }

    /// A node that writes another tile's register, or garbage in its own, is not counted.
    #[test]
    fn forged_and_malformed_figures_are_refused() {
        let mut tiles = [Replica::new(1, [2]), Replica::new(2, [1])];
        tiles[0].set_register(&figures_register(1), &encode(&figures(300, 0, 100)), 10).unwrap();
        // Node 2 forges node 1's figures (later timestamp: it wins the register) ...
        sync(&mut tiles);
        tiles[1].set_register(&figures_register(1), &encode(&figures(0, 0, 0)), 50).unwrap();
        // ... writes garbage in its own, and a register that names no node.
        tiles[1].set_register(&figures_register(2), "load=lots", 50).unwrap();
        tiles[1].set_register("telemetry.tile.two", &encode(&figures(1, 1, 1)), 50).unwrap();
        sync(&mut tiles);
        for tile in &tiles {
            let pod = pod_aggregates(tile.state(), ALL);
            assert_eq!((pod.tiles, pod.refused), (0, 3), "{pod:?}");
        }
        // Node 1 publishes again: its own write wins (raised past the forgery) and counts.
        tiles[0].set_register(&figures_register(1), &encode(&figures(300, 0, 100)), 11).unwrap();
        sync(&mut tiles);
        let pod = pod_aggregates(tiles[1].state(), ALL);
        assert_eq!((pod.tiles, pod.refused, pod.load_max_permille), (1, 2, 300));
    }

    /// Anti-entropy rounds between neighbours (tiles[i] is node i + 1; node n's
    /// neighbours are n − 1 and n + 1) until nothing is left to ship.
    fn sync(tiles: &mut [Replica]) {
        for _ in 0..10 {
            let mut shipped = false;
            for from in 0..tiles.len() {
                for to in [from.wrapping_sub(1), from + 1] {
                    if to >= tiles.len() {
                        continue;
                    }
                    let (from_node, to_node) = (from as NodeNumber + 1, to as NodeNumber + 1);
                    if let Some(payload) = tiles[from].ship(to_node).unwrap() {
                        shipped = true;
                        if let Some(ack) = tiles[to].receive(from_node, &payload).unwrap().reply {
                            tiles[from].receive(to_node, &ack).unwrap();
                        }
                    }
                }
            }
            if !shipped {
                return;
            }
        }
        panic!("no convergence in 10 rounds");
    }
}
