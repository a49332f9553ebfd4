//! Scenario files (docs/sensors.md, "Scenarios"): what the simulated tile does over time
//! and the ground truth of its faults. Errors name the file, line and field at fault.

use std::fmt;
use toml_edit::{Item, TableLike};

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name (`[scenario] name`).
    pub name: String,
    /// Seed of every random draw: the same scenario and seed give the same run.
    pub seed: u64,
    /// Simulated time per model step, in ms.
    pub step_ms: u64,
    /// Air temperature around the tile, °C.
    pub ambient_c: f64,
    /// The pump's nominal flow, mL/min.
    pub nominal_flow_ml_min: f64,
    /// The pump's pressure at nominal flow, Pa.
    pub nominal_pressure_pa: f64,
    /// The tile's reported load (0..=1) from each time on, in time order.
    pub load: Vec<LoadStep>,
    /// Times someone stands in front of the tile.
    pub presence: Vec<Presence>,
    /// Injected faults: the ground truth.
    pub faults: Vec<Fault>,
}

/// The tile's load from `at_s` on (until the next step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadStep {
    /// Simulated seconds.
    pub at_s: f64,
    /// Load, 0 (idle) to 1 (full).
    pub load: f64,
}

/// Someone at `distance_m` from `from_s` until `to_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Presence {
    /// Arrives (simulated seconds).
    pub from_s: f64,
    /// Leaves.
    pub to_s: f64,
    /// Distance from the radar, m.
    pub distance_m: f64,
}

/// What fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The pump bearing's outer race wears: impulses at its fault frequency grow, the
    /// pump drags (less flow, so less cooling).
    BearingWear,
}

impl FaultKind {
    /// Its name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::BearingWear => "bearing-wear",
        }
    }
}

/// A fault and its ground truth: it begins at `begins_s` and the part would fail at
/// `fails_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    /// What fails.
    pub kind: FaultKind,
    /// When the fault begins (simulated seconds).
    pub begins_s: f64,
    /// When the part would fail.
    pub fails_s: f64,
}

/// A scenario error: file, line and field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The field, e.g. `fault[0].fails_s` (empty for syntax errors).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}:{}: {}: {}", self.file, self.line, self.field, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and parses the scenario file `path`.
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse(&file, &text)
}

/// Parses scenario `text` read from `file` (named in errors).
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let parser = Parser { file, text };
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| parser.line(s.start));
        parser.error(line, "", e.message().to_string())
    })?;
    parser.document(doc.as_table())
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
}

/// A table being read: its fields, its line and its label in errors (`fault[0]`).
struct Tbl<'t> {
    t: &'t dyn TableLike,
    line: usize,
    label: String,
}

impl Parser<'_> {
    fn line(&self, at: usize) -> usize {
        self.text[..at.min(self.text.len())].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn error(&self, line: usize, field: &str, message: String) -> ScenarioError {
        ScenarioError { file: self.file.to_string(), line, field: field.to_string(), message }
    }

    fn field_error(&self, t: &Tbl, field: &str, message: String) -> ScenarioError {
        let span = t.t.key(field).and_then(|k| k.span()).or_else(|| t.t.get(field).and_then(|v| v.span()));
        let line = span.map_or(t.line, |s| self.line(s.start));
        self.error(line, &format!("{}.{field}", t.label), message)
    }

    fn only(&self, t: &Tbl, known: &[&str]) -> Result<(), ScenarioError> {
        for (key, _) in t.t.iter() {
            if !known.contains(&key) {
                return Err(self.field_error(t, key, format!("unknown field (expected one of: {})", known.join(", "))));
            }
        }
        Ok(())
    }

    /// A number (integer or float) within `range`, or `default` when absent (`None`:
    /// required).
    fn number(&self, t: &Tbl, field: &str, range: std::ops::RangeInclusive<f64>, default: Option<f64>) -> Result<f64, ScenarioError> {
        match t.t.get(field) {
            None => default.ok_or_else(|| self.error(t.line, &format!("{}.{field}", t.label), "missing".into())),
            Some(item) => match item.as_float().or_else(|| item.as_integer().map(|n| n as f64)) {
                Some(n) if range.contains(&n) => Ok(n),
                Some(n) => Err(self.field_error(t, field, format!("{n} is out of range ({} to {})", range.start(), range.end()))),
                None => Err(self.field_error(t, field, "must be a number".into())),
            },
        }
    }

    fn tables<'t>(&self, root: &'t toml_edit::Table, name: &str) -> Result<Vec<Tbl<'t>>, ScenarioError> {
        let Some(item) = root.get(name) else { return Ok(Vec::new()) };
        let line = root.key(name).and_then(|k| k.span()).map_or(1, |s| self.line(s.start));
        match item {
            Item::ArrayOfTables(aot) => Ok(aot
                .iter()
                .enumerate()
                .map(|(i, t)| Tbl { t, line: t.span().map_or(line, |s| self.line(s.start)), label: format!("{name}[{i}]") })
                .collect()),
            _ => Err(self.error(line, name, format!("must be tables ([[{name}]])"))),
        }
    }

    fn table<'t>(&self, root: &'t toml_edit::Table, name: &str) -> Result<Tbl<'t>, ScenarioError> {
        let line = root.key(name).and_then(|k| k.span()).map_or(1, |s| self.line(s.start));
        match root.get(name) {
            None => Err(self.error(1, name, format!("missing (a [{name}] table)"))),
            Some(item) => match item.as_table_like() {
                Some(t) => Ok(Tbl { t, line, label: name.to_string() }),
                None => Err(self.error(line, name, format!("must be a table ([{name}])"))),
            },
        }
    }

    fn document(&self, root: &toml_edit::Table) -> Result<Scenario, ScenarioError> {
        for (key, _) in root.iter() {
            if !["scenario", "pump", "load", "presence", "fault"].contains(&key) {
                let line = root.key(key).and_then(|k| k.span()).map_or(1, |s| self.line(s.start));
                return Err(self.error(line, key, "unknown table (expected scenario, pump, load, presence, fault)".into()));
            }
        }
        let head = self.table(root, "scenario")?;
        self.only(&head, &["name", "seed", "step_ms", "ambient_c"])?;
        let name = match head.t.get("name") {
            None => return Err(self.error(head.line, "scenario.name", "missing".into())),
            Some(item) => item
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.field_error(&head, "name", "must be a non-empty string".into()))?,
        };
        let seed = match head.t.get("seed") {
            None => 0,
            Some(item) => item
                .as_integer()
                .filter(|&n| n >= 0)
                .ok_or_else(|| self.field_error(&head, "seed", "must be a non-negative integer".into()))? as u64,
        };
        let step_ms = self.number(&head, "step_ms", 1.0..=10_000.0, Some(100.0))? as u64;
        let ambient_c = self.number(&head, "ambient_c", -40.0..=60.0, Some(25.0))?;
        let pump = self.table(root, "pump")?;
        self.only(&pump, &["nominal_flow_ml_min", "nominal_pressure_pa"])?;
        let nominal_flow_ml_min = self.number(&pump, "nominal_flow_ml_min", 1.0..=100_000.0, None)?;
        let nominal_pressure_pa = self.number(&pump, "nominal_pressure_pa", 1.0..=10_000_000.0, None)?;
        let mut load = Vec::new();
        for t in self.tables(root, "load")? {
            self.only(&t, &["at_s", "load"])?;
            let step = LoadStep { at_s: self.number(&t, "at_s", 0.0..=1e9, None)?, load: self.number(&t, "load", 0.0..=1.0, None)? };
            if load.last().is_some_and(|last: &LoadStep| last.at_s >= step.at_s) {
                return Err(self.field_error(&t, "at_s", "must be later than the previous load step's".into()));
            }
            load.push(step);
        }
        let mut presence = Vec::new();
        for t in self.tables(root, "presence")? {
            self.only(&t, &["from_s", "to_s", "distance_m"])?;
            let from_s = self.number(&t, "from_s", 0.0..=1e9, None)?;
            let to_s = self.number(&t, "to_s", 0.0..=1e9, None)?;
            if to_s <= from_s {
                return Err(self.field_error(&t, "to_s", format!("must be later than from_s ({from_s})")));
            }
            presence.push(Presence { from_s, to_s, distance_m: self.number(&t, "distance_m", 0.1..=10.0, None)? });
        }
        let mut faults = Vec::new();
        for t in self.tables(root, "fault")? {
            self.only(&t, &["kind", "begins_s", "fails_s"])?;
            let kind = match t.t.get("kind").and_then(Item::as_str) {
                Some("bearing-wear") => FaultKind::BearingWear,
                Some(other) => return Err(self.field_error(&t, "kind", format!("unknown fault {other:?} (expected bearing-wear)"))),
                None => return Err(self.error(t.line, &format!("{}.kind", t.label), "missing (a string)".into())),
            };
            let begins_s = self.number(&t, "begins_s", 0.0..=1e9, None)?;
            let fails_s = self.number(&t, "fails_s", 0.0..=1e9, None)?;
            if fails_s <= begins_s {
                return Err(self.field_error(&t, "fails_s", format!("must be later than begins_s ({begins_s})")));
            }
            faults.push(Fault { kind, begins_s, fails_s });
        }
        Ok(Scenario { name: name.to_string(), seed, step_ms, ambient_c, nominal_flow_ml_min, nominal_pressure_pa, load, presence, faults })
    }
}

impl Scenario {
    /// The load at simulated time `t_s` (0 before the first step).
    pub fn load_at(&self, t_s: f64) -> f64 {
        self.load.iter().rev().find(|step| step.at_s <= t_s).map_or(0.0, |step| step.load)
    }

    /// The distance of whoever is in front of the tile at `t_s`, if anyone.
    pub fn presence_at(&self, t_s: f64) -> Option<f64> {
        self.presence.iter().find(|p| p.from_s <= t_s && t_s < p.to_s).map(|p| p.distance_m)
    }

    /// How worn the bearing is at `t_s`: 0 before its fault begins, growing quadratically
    /// to 1 when it would fail, 1 after.
    pub fn bearing_wear_at(&self, t_s: f64) -> f64 {
        self.faults
            .iter()
            .filter(|f| f.kind == FaultKind::BearingWear && t_s >= f.begins_s)
            .map(|f| ((t_s - f.begins_s) / (f.fails_s - f.begins_s)).min(1.0).powi(2))
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse("s.toml", text).unwrap_err().to_string()
    }

    const HEAD: &str = "[scenario]\nname = \"t\"\n[pump]\nnominal_flow_ml_min = 1000\nnominal_pressure_pa = 1e5\n";

    #[test]
    fn the_shipped_scenarios_parse() {
        for name in ["healthy", "bearing-wear", "sensors-boot"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
            let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scenario.name, name);
        }
        let wear = load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bearing-wear.toml")).unwrap();
        assert_eq!(wear.faults, [Fault { kind: FaultKind::BearingWear, begins_s: 600.0, fails_s: 4200.0 }]);
    }

    #[test]
    fn schedules_answer_by_time() {
        let s = parse(
            "s",
            &format!("{HEAD}[[load]]\nat_s = 0\nload = 0.5\n[[load]]\nat_s = 10\nload = 1\n[[presence]]\nfrom_s = 5\nto_s = 6\ndistance_m = 2\n[[fault]]\nkind = \"bearing-wear\"\nbegins_s = 100\nfails_s = 200\n"),
        )
        .unwrap();
        assert_eq!((s.load_at(9.9), s.load_at(10.0)), (0.5, 1.0));
        assert_eq!((s.presence_at(4.9), s.presence_at(5.5), s.presence_at(6.0)), (None, Some(2.0), None));
        assert_eq!((s.bearing_wear_at(99.0), s.bearing_wear_at(150.0), s.bearing_wear_at(250.0)), (0.0, 0.25, 1.0));
    }

    #[test]
    fn errors_name_the_line_and_field() {
        assert_eq!(error("[scenario]\nname = \"t\"\n"), "s.toml:1: pump: missing (a [pump] table)");
        assert_eq!(error(&format!("{HEAD}[[load]]\nat_s = 0\nload = 2\n")), "s.toml:8: load[0].load: 2 is out of range (0 to 1)");
        assert_eq!(
            error(&format!("{HEAD}[[fault]]\nkind = \"bearing-wear\"\nbegins_s = 10\nfails_s = 5\n")),
            "s.toml:9: fault[0].fails_s: must be later than begins_s (10)"
        );
        assert_eq!(
            error(&format!("{HEAD}[[fault]]\nkind = \"melt\"\n")),
            "s.toml:7: fault[0].kind: unknown fault \"melt\" (expected bearing-wear)"
        );
        assert!(error(&format!("{HEAD}[scenario2]\n")).starts_with("s.toml:6: scenario2: unknown table"));
        assert!(error("[scenario\n").starts_with("s.toml:1: "));
        assert_eq!(
            error("[scenario]\nname = \"t\"\nspeed = 3\n[pump]\nnominal_flow_ml_min = 1000\nnominal_pressure_pa = 1e5\n"),
            "s.toml:3: scenario.speed: unknown field (expected one of: name, seed, step_ms, ambient_c)"
        );
    }
}
