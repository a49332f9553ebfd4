//! Scenario files: the topology (pods, hubs, extra links), the timeline of events and the
//! checks, in TOML. Parsing is strict: an unknown table or field, a wrong type or a value
//! out of range is an error naming the line and the field (`partition.toml:12: event[2].kind:
//! unknown kind "cutt" (cut, restore, delay, loss, reboot, send, update)`).

use std::fmt;

use toml_edit::{Item, TableLike, Value};

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// `[lab]`: name, duration, tile memory, seed.
    pub lab: LabSettings,
    /// `[[pod]]`, in file order.
    pub pods: Vec<Pod>,
    /// `[[hub]]`, in file order.
    pub hubs: Vec<Hub>,
    /// `[[link]]`: links besides those of pods and hubs (e.g. the long haul between hubs).
    pub links: Vec<LinkSpec>,
    /// `[[event]]`, sorted by time (stable: events at the same time keep file order).
    pub events: Vec<Event>,
    /// `[check]`.
    pub check: Checks,
}

/// `[lab]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LabSettings {
    /// The scenario's name (default: the file name without `.toml`).
    pub name: String,
    /// The run ends at this time at the latest (ms after every tile is up).
    pub duration_ms: u64,
    /// Guest RAM of each QEMU tile, in MiB.
    pub memory_mib: u32,
    /// Seed of the relays' loss draws.
    pub seed: u64,
}

/// `[[pod]]`: a gateway tile (`NAME/0`, role pod) and `tiles - 1` tiles linked to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    /// Its name; its tiles are `NAME/0` (the gateway) … `NAME/(tiles-1)`.
    pub name: String,
    /// How many tiles, the gateway included (1 to 99).
    pub tiles: u32,
    /// Properties of the links between the gateway and the other tiles.
    pub link: LinkProps,
}

/// `[[hub]]`: a tile (role hub) linked to the gateway of each of its pods.
#[derive(Clone, Debug, PartialEq)]
pub struct Hub {
    /// Its name, which is also its tile's name.
    pub name: String,
    /// The pods it joins.
    pub pods: Vec<String>,
    /// Properties of its links to the pods' gateways.
    pub link: LinkProps,
}

/// One-way light time, rate, loss and contact window of a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkProps {
    /// One-way light time in ms (each relay holds every byte this long).
    pub owlt_ms: u64,
    /// Data rate in bytes per second (the federation table's contact rate).
    pub rate: u64,
    /// Probability that a forwarded chunk breaks the connection (0 to 1).
    pub loss: f64,
    /// The link is up from this time (ms)…
    pub start_ms: u64,
    /// …until this time (ms; `None`: for ever).
    pub end_ms: Option<u64>,
}

impl Default for LinkProps {
    fn default() -> Self {
        LinkProps { owlt_ms: 0, rate: 1_000_000, loss: 0.0, start_ms: 0, end_ms: None }
    }
}

/// `[[link]]`: a link between two tiles named by their tile names (`hub`, `a/0`).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpec {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Its properties.
    pub props: LinkProps,
}

/// `[[event]]`: what happens at `at_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When, in ms after every tile is up.
    pub at_ms: u64,
    /// What.
    pub kind: EventKind,
}

/// The kinds of event.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// Cut the link a–b: refuse new connections, close open ones.
    Cut {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Restore the link a–b.
    Restore {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Set the link's one-way light time (bytes read from now on).
    Delay {
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// The new light time.
        owlt_ms: u64,
    },
    /// Set the link's loss rate.
    Loss {
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// Probability that a forwarded chunk breaks the connection.
        rate: f64,
    },
    /// Kill the tile's process (SIGKILL) and start it again on the same disk or spool.
    Reboot {
        /// The tile.
        tile: String,
        /// How long it stays down.
        down_ms: u64,
    },
    /// A local application of `from` sends `count` bundles of `size` bytes to `to`.
    Send {
        /// Source tile.
        from: String,
        /// Destination tile.
        to: String,
        /// How many bundles.
        count: u32,
        /// Payload bytes of each.
        size: u32,
        /// The previous node every delivered bundle must name (a check of the path).
        expect_via: Option<String>,
    },
    /// A change of the tile's replicated state: `key` set to `value`.
    Update {
        /// The tile.
        tile: String,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
}

impl EventKind {
    /// The kind's name as written in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Cut { .. } => "cut",
            EventKind::Restore { .. } => "restore",
            EventKind::Delay { .. } => "delay",
            EventKind::Loss { .. } => "loss",
            EventKind::Reboot { .. } => "reboot",
            EventKind::Send { .. } => "send",
            EventKind::Update { .. } => "update",
        }
    }
}

/// `[check]`: what must hold for the run to pass. The run ends as soon as every check
/// holds after the last event, or at the lab's `duration_ms`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checks {
    /// Every bundle a source acknowledged is delivered at its destination.
    pub deliver_all: bool,
    /// Every tile holds the same replicated state within this many contacts (relay
    /// connections) after the last `restore`.
    pub converge_within_contacts: Option<u64>,
    /// …and within this many contacts per link (the total divided by the number of links,
    /// so that one bound holds at any tile count).
    pub converge_within_contacts_per_link: Option<u64>,
    /// …and within this many ms after the last `restore`.
    pub converge_within_ms: Option<u64>,
    /// Every bundle is delivered within this many ms of its send event.
    pub deliver_within_ms: Option<u64>,
}

/// A scenario error: file, line and field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The field, e.g. `event[2].kind` (empty for syntax errors).
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

/// Parses scenario `text` read from `file` (the name is used in errors and as default name).
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

/// A table being read: its fields, its line and its label in errors (`event[2]`).
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

    fn span_line(&self, span: Option<std::ops::Range<usize>>, fallback: usize) -> usize {
        span.map_or(fallback, |s| self.line(s.start))
    }

    /// The line of `field` in `t` (its key, else its value, else the table's).
    fn field_line(&self, t: &Tbl, field: &str) -> usize {
        let key = t.t.key(field).and_then(|k| k.span());
        let value = t.t.get(field).and_then(|v| v.span());
        self.span_line(key.or(value), t.line)
    }

    fn field_error(&self, t: &Tbl, field: &str, message: String) -> ScenarioError {
        self.error(self.field_line(t, field), &format!("{}.{field}", t.label), message)
    }

    /// Refuses fields of `t` not in `known`.
    fn only(&self, t: &Tbl, known: &[&str]) -> Result<(), ScenarioError> {
        for (key, _) in t.t.iter() {
            if !known.contains(&key) {
                return Err(self.field_error(t, key, format!("unknown field (expected one of: {})", known.join(", "))));
            }
        }
        Ok(())
    }

    fn value<'t>(&self, t: &'t Tbl, field: &str) -> Option<&'t Value> {
        t.t.get(field).and_then(Item::as_value)
    }

    fn string(&self, t: &Tbl, field: &str) -> Result<Option<String>, ScenarioError> {
        match t.t.get(field) {
            None => Ok(None),
            Some(item) => match item.as_str() {
                Some(s) if !s.is_empty() => Ok(Some(s.to_string())),
                Some(_) => Err(self.field_error(t, field, "must not be empty".into())),
                None => Err(self.field_error(t, field, "must be a string".into())),
            },
        }
    }

    fn required_string(&self, t: &Tbl, field: &str) -> Result<String, ScenarioError> {
        self.string(t, field)?.ok_or_else(|| self.error(t.line, &format!("{}.{field}", t.label), "missing".into()))
    }

    fn integer(&self, t: &Tbl, field: &str, max: u64) -> Result<Option<u64>, ScenarioError> {
        match t.t.get(field) {
            None => Ok(None),
            Some(item) => match item.as_integer() {
                Some(n) if n >= 0 && (n as u64) <= max => Ok(Some(n as u64)),
                Some(n) => Err(self.field_error(t, field, format!("{n} is out of range (0 to {max})"))),
                None => Err(self.field_error(t, field, "must be an integer".into())),
            },
        }
    }

    fn required_integer(&self, t: &Tbl, field: &str, max: u64) -> Result<u64, ScenarioError> {
        self.integer(t, field, max)?.ok_or_else(|| self.error(t.line, &format!("{}.{field}", t.label), "missing".into()))
    }

    fn probability(&self, t: &Tbl, field: &str) -> Result<Option<f64>, ScenarioError> {
        match self.value(t, field) {
            None if t.t.contains_key(field) => Err(self.field_error(t, field, "must be a number from 0 to 1".into())),
            None => Ok(None),
            Some(v) => {
                let p = v.as_float().or_else(|| v.as_integer().map(|n| n as f64));
                match p {
                    Some(p) if (0.0..=1.0).contains(&p) => Ok(Some(p)),
                    _ => Err(self.field_error(t, field, "must be a number from 0 to 1".into())),
                }
            }
        }
    }

    fn boolean(&self, t: &Tbl, field: &str) -> Result<Option<bool>, ScenarioError> {
        match t.t.get(field) {
            None => Ok(None),
            Some(item) => item.as_bool().map(Some).ok_or_else(|| self.field_error(t, field, "must be true or false".into())),
        }
    }

    fn strings(&self, t: &Tbl, field: &str) -> Result<Vec<String>, ScenarioError> {
        let Some(item) = t.t.get(field) else {
            return Err(self.error(t.line, &format!("{}.{field}", t.label), "missing".into()));
        };
        let array = item.as_array().ok_or_else(|| self.field_error(t, field, "must be an array of strings".into()))?;
        array
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| self.field_error(t, field, "must be an array of strings".into())))
            .collect()
    }

    /// The tables of array `name` (`[[name]]` or an inline array of tables).
    fn tables<'t>(&self, root: &'t toml_edit::Table, name: &str) -> Result<Vec<Tbl<'t>>, ScenarioError> {
        let Some(item) = root.get(name) else {
            return Ok(Vec::new());
        };
        let line = self.span_line(root.key(name).and_then(|k| k.span()), 1);
        let list: Vec<(&dyn TableLike, usize)> = match item {
            Item::ArrayOfTables(aot) => aot.iter().map(|t| (t as &dyn TableLike, self.span_line(t.span(), line))).collect(),
            Item::Value(Value::Array(array)) => {
                let mut list = Vec::new();
                for v in array.iter() {
                    match v.as_inline_table() {
                        Some(t) => list.push((t as &dyn TableLike, self.span_line(v.span(), line))),
                        None => return Err(self.error(line, name, format!("must be tables ([[{name}]])"))),
                    }
                }
                list
            }
            _ => return Err(self.error(line, name, format!("must be tables ([[{name}]])"))),
        };
        Ok(list.into_iter().enumerate().map(|(i, (t, line))| Tbl { t, line, label: format!("{name}[{i}]") }).collect())
    }

    fn table<'t>(&self, root: &'t toml_edit::Table, name: &str) -> Result<Option<Tbl<'t>>, ScenarioError> {
        match root.get(name) {
            None => Ok(None),
            Some(item) => match item.as_table_like() {
                Some(t) => {
                    let line = self.span_line(root.key(name).and_then(|k| k.span()), 1);
                    Ok(Some(Tbl { t, line, label: name.to_string() }))
                }
                None => Err(self.error(1, name, format!("must be a table ([{name}])"))),
            },
        }
    }

    fn link_props(&self, t: &Tbl, defaults: LinkProps) -> Result<LinkProps, ScenarioError> {
        let props = LinkProps {
            owlt_ms: self.integer(t, "owlt_ms", 86_400_000)?.unwrap_or(defaults.owlt_ms),
            rate: self.integer(t, "rate", u64::from(u32::MAX))?.unwrap_or(defaults.rate),
            loss: self.probability(t, "loss")?.unwrap_or(defaults.loss),
            start_ms: self.integer(t, "start_ms", u64::MAX / 4)?.unwrap_or(defaults.start_ms),
            end_ms: self.integer(t, "end_ms", u64::MAX / 4)?.or(defaults.end_ms),
        };
        if props.rate == 0 {
            return Err(self.field_error(t, "rate", "must be at least 1 byte/s".into()));
        }
        if props.end_ms.is_some_and(|end| end <= props.start_ms) {
            return Err(self.field_error(t, "end_ms", format!("must be after start_ms ({})", props.start_ms)));
        }
        Ok(props)
    }

    fn document(&self, root: &toml_edit::Table) -> Result<Scenario, ScenarioError> {
        for (key, _) in root.iter() {
            if !["lab", "pod", "hub", "link", "event", "check"].contains(&key) {
                let line = self.span_line(root.key(key).and_then(|k| k.span()), 1);
                return Err(self.error(line, key, "unknown table (expected lab, pod, hub, link, event, check)".into()));
            }
        }
        let default_name =
            std::path::Path::new(self.file).file_stem().map_or_else(|| "scenario".to_string(), |s| s.to_string_lossy().into_owned());
        let mut lab = LabSettings { name: default_name, duration_ms: 60_000, memory_mib: 128, seed: 1 };
        if let Some(t) = self.table(root, "lab")? {
            self.only(&t, &["name", "duration_ms", "memory_mib", "seed"])?;
            lab.name = self.string(&t, "name")?.unwrap_or(lab.name);
            lab.duration_ms = self.integer(&t, "duration_ms", 86_400_000)?.unwrap_or(lab.duration_ms);
            lab.memory_mib = self.integer(&t, "memory_mib", 65_536)?.map_or(lab.memory_mib, |m| m as u32);
            lab.seed = self.integer(&t, "seed", u64::MAX / 2)?.unwrap_or(lab.seed);
            if lab.memory_mib < 16 {
                return Err(self.field_error(&t, "memory_mib", "must be at least 16".into()));
            }
        }
        let link_fields = ["owlt_ms", "rate", "loss", "start_ms", "end_ms"];
        let mut pods = Vec::new();
        for t in self.tables(root, "pod")? {
            let mut known = vec!["name", "tiles"];
            known.extend(link_fields);
            self.only(&t, &known)?;
            let name = self.required_string(&t, "name")?;
            if name.contains('/') || name.contains(char::is_whitespace) {
                return Err(self.field_error(&t, "name", format!("{name:?} must not contain '/' or spaces")));
            }
            let tiles = self.required_integer(&t, "tiles", 99)? as u32;
            if tiles == 0 {
                return Err(self.field_error(&t, "tiles", "a pod has at least one tile (its gateway)".into()));
            }
            pods.push(Pod { name, tiles, link: self.link_props(&t, LinkProps::default())? });
        }
        let mut hubs = Vec::new();
        for t in self.tables(root, "hub")? {
            let mut known = vec!["name", "pods"];
            known.extend(link_fields);
            self.only(&t, &known)?;
            let name = self.required_string(&t, "name")?;
            if name.contains('/') || name.contains(char::is_whitespace) {
                return Err(self.field_error(&t, "name", format!("{name:?} must not contain '/' or spaces")));
            }
            let pod_names = self.strings(&t, "pods")?;
            for pod in &pod_names {
                if !pods.iter().any(|p: &Pod| &p.name == pod) {
                    return Err(self.field_error(&t, "pods", format!("no pod named {pod:?}")));
                }
            }
            hubs.push(Hub { name, pods: pod_names, link: self.link_props(&t, LinkProps::default())? });
        }
        let mut links = Vec::new();
        for t in self.tables(root, "link")? {
            let mut known = vec!["a", "b"];
            known.extend(link_fields);
            self.only(&t, &known)?;
            let a = self.required_string(&t, "a")?;
            let b = self.required_string(&t, "b")?;
            if a == b {
                return Err(self.field_error(&t, "b", format!("a link joins two different tiles (both are {a:?})")));
            }
            links.push(LinkSpec { a, b, props: self.link_props(&t, LinkProps::default())? });
        }
        let mut events = Vec::new();
        for t in self.tables(root, "event")? {
            events.push(self.event(&t)?);
        }
        events.sort_by_key(|e| e.at_ms);
        let mut check = Checks::default();
        if let Some(t) = self.table(root, "check")? {
            self.only(
                &t,
                &[
                    "deliver_all",
                    "converge_within_contacts",
                    "converge_within_contacts_per_link",
                    "converge_within_ms",
                    "deliver_within_ms",
                ],
            )?;
            check.deliver_all = self.boolean(&t, "deliver_all")?.unwrap_or(false);
            check.converge_within_contacts = self.integer(&t, "converge_within_contacts", u64::MAX / 2)?;
            check.converge_within_contacts_per_link = self.integer(&t, "converge_within_contacts_per_link", u64::MAX / 2)?;
            check.converge_within_ms = self.integer(&t, "converge_within_ms", u64::MAX / 2)?;
            check.deliver_within_ms = self.integer(&t, "deliver_within_ms", u64::MAX / 2)?;
        }
        Ok(Scenario { lab, pods, hubs, links, events, check })
    }

    fn event(&self, t: &Tbl) -> Result<Event, ScenarioError> {
        let at_ms = self.required_integer(t, "at_ms", u64::MAX / 4)?;
        let kind_name = self.required_string(t, "kind")?;
        let ends = |p: &Self| -> Result<(String, String), ScenarioError> { Ok((p.required_string(t, "a")?, p.required_string(t, "b")?)) };
        let kind = match kind_name.as_str() {
            "cut" | "restore" => {
                self.only(t, &["at_ms", "kind", "a", "b"])?;
                let (a, b) = ends(self)?;
                if kind_name == "cut" { EventKind::Cut { a, b } } else { EventKind::Restore { a, b } }
            }
            "delay" => {
                self.only(t, &["at_ms", "kind", "a", "b", "owlt_ms"])?;
                let (a, b) = ends(self)?;
                EventKind::Delay { a, b, owlt_ms: self.required_integer(t, "owlt_ms", 86_400_000)? }
            }
            "loss" => {
                self.only(t, &["at_ms", "kind", "a", "b", "rate"])?;
                let (a, b) = ends(self)?;
                let rate =
                    self.probability(t, "rate")?.ok_or_else(|| self.error(t.line, &format!("{}.rate", t.label), "missing".into()))?;
                EventKind::Loss { a, b, rate }
            }
            "reboot" => {
                self.only(t, &["at_ms", "kind", "tile", "down_ms"])?;
                EventKind::Reboot { tile: self.required_string(t, "tile")?, down_ms: self.integer(t, "down_ms", 86_400_000)?.unwrap_or(0) }
            }
            "send" => {
                self.only(t, &["at_ms", "kind", "from", "to", "count", "size", "expect_via"])?;
                let count = self.integer(t, "count", 1_000_000)?.unwrap_or(1) as u32;
                let size = self.integer(t, "size", 16 << 20)?.unwrap_or(64) as u32;
                if count == 0 {
                    return Err(self.field_error(t, "count", "must be at least 1".into()));
                }
                EventKind::Send {
                    from: self.required_string(t, "from")?,
                    to: self.required_string(t, "to")?,
                    count,
                    size,
                    expect_via: self.string(t, "expect_via")?,
                }
            }
            "update" => {
                self.only(t, &["at_ms", "kind", "tile", "key", "value"])?;
                let key = self.required_string(t, "key")?;
                let value = self.required_string(t, "value")?;
                if key.contains(['=', ' ', '\n']) || value.contains([' ', '\n']) {
                    return Err(self.field_error(t, "key", "key and value hold no spaces, and the key no '='".into()));
                }
                EventKind::Update { tile: self.required_string(t, "tile")?, key, value }
            }
            other => {
                return Err(self.field_error(
                    t,
                    "kind",
                    format!("unknown kind {other:?} (cut, restore, delay, loss, reboot, send, update)"),
                ));
            }
        };
        Ok(Event { at_ms, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[lab]
name = "t"
duration_ms = 5000

[[pod]]
name = "a"
tiles = 3
owlt_ms = 2

[[pod]]
name = "b"
tiles = 2

[[hub]]
name = "hub"
pods = ["a", "b"]
owlt_ms = 20

[[link]]
a = "a/1"
b = "b/1"
owlt_ms = 1500
rate = 2000
start_ms = 100

[[event]]
at_ms = 2000
kind = "restore"
a = "hub"
b = "b/0"

[[event]]
at_ms = 1000
kind = "cut"
a = "hub"
b = "b/0"

[[event]]
at_ms = 1500
kind = "send"
from = "a/1"
to = "b/1"
count = 3

[check]
deliver_all = true
converge_within_contacts = 40
"#;

    fn error(text: &str) -> String {
        parse("s.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_scenario_parses_with_events_in_time_order() {
        let s = parse("dir/s.toml", GOOD).unwrap();
        assert_eq!(s.lab.name, "t");
        assert_eq!(s.lab.duration_ms, 5000);
        assert_eq!(s.pods.len(), 2);
        assert_eq!(s.pods[0].link.owlt_ms, 2);
        assert_eq!(s.hubs[0].pods, vec!["a", "b"]);
        assert_eq!(s.links[0].props, LinkProps { owlt_ms: 1500, rate: 2000, loss: 0.0, start_ms: 100, end_ms: None });
        let times: Vec<u64> = s.events.iter().map(|e| e.at_ms).collect();
        assert_eq!(times, vec![1000, 1500, 2000]);
        assert_eq!(s.events[1].kind, EventKind::Send { from: "a/1".into(), to: "b/1".into(), count: 3, size: 64, expect_via: None });
        assert!(s.check.deliver_all);
        assert_eq!(s.check.converge_within_contacts, Some(40));
    }

    #[test]
    fn the_name_defaults_to_the_file_stem() {
        let s = parse("scenarios/partition-heal-8.toml", "[[pod]]\nname = \"a\"\ntiles = 1\n").unwrap();
        assert_eq!(s.lab.name, "partition-heal-8");
        assert_eq!(s.lab.memory_mib, 128);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        assert_eq!(
            error("[[pod]]\nname = \"a\"\ntiles = 1\n\n[[event]]\nat_ms = 1\nkind = \"cutt\"\n"),
            "s.toml:7: event[0].kind: unknown kind \"cutt\" (cut, restore, delay, loss, reboot, send, update)"
        );
        assert_eq!(error("[[pod]]\nname = \"a\"\ntiles = 100\n"), "s.toml:3: pod[0].tiles: 100 is out of range (0 to 99)");
        assert_eq!(error("[[pod]]\nname = \"a\"\n"), "s.toml:1: pod[0].tiles: missing");
        assert_eq!(error("[[pod]]\nname = \"a\"\ntiles = \"3\"\n"), "s.toml:3: pod[0].tiles: must be an integer");
        assert_eq!(
            error("[[pod]]\nname = \"a\"\ntiles = 1\ncolour = 1\n"),
            "s.toml:4: pod[0].colour: unknown field (expected one of: name, tiles, owlt_ms, rate, loss, start_ms, end_ms)"
        );
        assert_eq!(error("[[hub]]\nname = \"h\"\npods = [\"x\"]\n"), "s.toml:3: hub[0].pods: no pod named \"x\"");
        assert_eq!(error("[[link]]\na = \"x\"\nb = \"y\"\nloss = 1.5\n"), "s.toml:4: link[0].loss: must be a number from 0 to 1");
        assert_eq!(
            error("[[link]]\na = \"x\"\nb = \"y\"\nstart_ms = 10\nend_ms = 5\n"),
            "s.toml:5: link[0].end_ms: must be after start_ms (10)"
        );
        assert_eq!(error("[[link]]\na = \"x\"\nb = \"x\"\n"), "s.toml:3: link[0].b: a link joins two different tiles (both are \"x\")");
        assert_eq!(
            error("[[event]]\nat_ms = 1\nkind = \"cut\"\na = \"x\"\nb = \"y\"\nowlt_ms = 3\n"),
            "s.toml:6: event[0].owlt_ms: unknown field (expected one of: at_ms, kind, a, b)"
        );
        assert_eq!(
            error("[[event]]\nat_ms = 1\nkind = \"send\"\nfrom = \"x\"\nto = \"y\"\ncount = 0\n"),
            "s.toml:6: event[0].count: must be at least 1"
        );
        assert_eq!(error("[[event]]\nat_ms = 1\nkind = \"loss\"\na = \"x\"\nb = \"y\"\n"), "s.toml:1: event[0].rate: missing");
        assert_eq!(error("[lab]\nmemory_mib = 8\n"), "s.toml:2: lab.memory_mib: must be at least 16");
        assert_eq!(error("[labs]\n"), "s.toml:1: labs: unknown table (expected lab, pod, hub, link, event, check)");
        assert_eq!(error("[check]\ndeliver_all = 1\n"), "s.toml:2: check.deliver_all: must be true or false");
        assert!(error("[[pod]]\nname = \n").starts_with("s.toml:2: "), "{}", error("[[pod]]\nname = \n"));
    }
}
