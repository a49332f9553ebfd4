//! The TOML front end: `tile.toml` text → [`SystemDescription`] with every name resolved,
//! plus the source line of every item and field so that later errors can point at it.
//!
//! Unknown fields are errors, every value is type- and range-checked here, and every error
//! names the file, the line, the item (`domain "net"`) and the field.

use crate::Diagnostic;
use std::collections::HashMap;
use tileos_sysdesc::archive::{DESCRIPTION_ENTRY, valid_entry_name};
use tileos_sysdesc::{
    Access, Budget, ChallengerSchedule, Client, Comparator, DeviceMemory, Domain, Endpoint, Federation, IoPortRange, Irq, Item as Pos,
    Lineages, MapRights, Mapping, Notification, Param, PciDevice, PciInterrupt, Polarity, Ratio, RestartPolicy, SUPERVISOR, Server,
    SharedRegion, Signaller, Slot, SlotPolicy, SystemDescription, Trigger,
};
use toml_edit::{Item, TableLike, Value};

/// Default stack size of a domain (16 KiB).
pub const DEFAULT_STACK_SIZE: u64 = 0x4000;
/// Default heap size of a domain (64 KiB).
pub const DEFAULT_HEAP_SIZE: u64 = 0x1_0000;

/// Default memory of a slot's seat (`module_memory`): 512 KiB.
pub const DEFAULT_MODULE_MEMORY: u64 = 0x8_0000;
/// Default heap of a slot's manager (`manager_heap`): 1 MiB, room for a bundle.
pub const DEFAULT_MANAGER_HEAP: u64 = 0x10_0000;
/// Default program of a slot's manager (`manager_program`).
pub const DEFAULT_MANAGER_PROGRAM: &str = "slot-manager";
/// Program of a slot's verifier domain (`<slot>.verifier`: checks an install's signatures).
pub const VERIFIER_PROGRAM: &str = "bundle-verifier";

/// What a `[[slot]]` says about its manager domain, for `expand_slots`.
#[derive(Clone, Copy, Debug)]
pub struct SlotBuild {
    /// Archive entry of the manager's program.
    pub manager_program: u32,
    /// Heap of the manager domain in bytes.
    pub manager_heap: u64,
    /// Archive entry of the verifier's program ([`VERIFIER_PROGRAM`]).
    pub verifier_program: u32,
    /// Priority of the verifier domain (`verifier_priority`; `None`: the slot's challenger
    /// priority): below the incumbent's (checked by the expansion).
    pub verifier_priority: Option<u8>,
}

/// A program named by at least one domain (or slot lineage): archive entry `index + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRef {
    /// The program's name (its archive entry name).
    pub name: String,
    /// The first item that names it, as messages call it: `domain "echo"`,
    /// `slot "crc": n_version`.
    pub user: String,
    /// The field of that item that names it (`program`, `lineages`, `fallback`).
    pub field: &'static str,
    /// The line of that field.
    pub line: usize,
}

impl ProgramRef {
    /// The start of a message about the program: `domain "echo": field "program"`.
    pub fn site(&self) -> String {
        format!("{}: field \"{}\"", self.user, self.field)
    }
}

/// Microseconds per millisecond: `tile.toml` gives a slot's times in milliseconds, its
/// compiled policy holds microseconds (`tileos_slots::Ticks`).
const MICROS_PER_MS: u64 = 1000;

/// The result of the front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The description; domains' `program` fields index [`Parsed::programs`] plus one.
    pub description: SystemDescription,
    /// The programs in archive order (entry 1 onwards).
    pub programs: Vec<ProgramRef>,
    /// The tile's RAM in bytes (`[tile] ram`), if the description states it.
    pub ram: Option<u64>,
    /// Line of each item's table.
    pub item_lines: HashMap<Pos, usize>,
    /// Line of each item's fields.
    pub field_lines: HashMap<(Pos, &'static str), usize>,
}

impl Parsed {
    /// The line of `item`'s `field`, else of `item`, else 1.
    pub fn line_of(&self, item: Pos, field: &'static str) -> usize {
        self.field_lines.get(&(item, field)).or_else(|| self.item_lines.get(&item)).copied().unwrap_or(1)
    }
}

/// Parses and resolves `text`; `file` is the name used in messages.
pub fn parse(file: &str, text: &str) -> Result<Parsed, Diagnostic> {
    let front = Front {
        file,
        line_starts: std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect(),
        item_lines: HashMap::new(),
        field_lines: HashMap::new(),
    };
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| front.line(s.start));
        front.diag(line, format!("TOML syntax: {}", e.message().trim_end()))
    })?;
    front.document(doc.as_table())
}

/// Front-end state: the file, line lookup and the lines recorded so far.
struct Front<'f> {
    /// File name for messages.
    file: &'f str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// See [`Parsed::item_lines`].
    item_lines: HashMap<Pos, usize>,
    /// See [`Parsed::field_lines`].
    field_lines: HashMap<(Pos, &'static str), usize>,
}

/// A table of the document being read: where it is, how to call it in messages, and the
/// item it becomes.
struct Tbl<'a> {
    /// The table.
    t: &'a dyn TableLike,
    /// Line of its header (or of its inline table).
    line: usize,
    /// What messages call it: `domain "net"`.
    label: String,
    /// The description item it becomes.
    pos: Pos,
}

/// Name → index of the domains or notifications.
type Names = HashMap<String, u32>;

/// The names a `[[slot]]` refers to.
#[derive(Clone, Copy)]
struct Refs<'n> {
    /// Domains.
    domains: &'n Names,
    /// Endpoints.
    endpoints: &'n Names,
}

impl<'f> Front<'f> {
    /// 1-based line of byte offset `at`.
    fn line(&self, at: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= at).max(1)
    }

    /// Line of a span, else `fallback`.
    fn span_line(&self, span: Option<std::ops::Range<usize>>, fallback: usize) -> usize {
        span.map_or(fallback, |s| self.line(s.start))
    }

    /// An error at `line`.
    fn diag(&self, line: usize, message: String) -> Diagnostic {
        Diagnostic { file: self.file.to_string(), line, message }
    }

    /// An error about `field` of table `t`, at the field's line.
    fn field_err(&self, t: &Tbl<'_>, field: &str, problem: impl std::fmt::Display) -> Diagnostic {
        let line = self.key_line(t, field);
        self.diag(line, format!("{}: field \"{field}\": {problem}", t.label))
    }

    /// Line of `field`'s key in `t`, else the table's line.
    fn key_line(&self, t: &Tbl<'_>, field: &str) -> usize {
        let key = t.t.key(field).and_then(|k| k.span());
        let value = t.t.get(field).and_then(|v| v.span());
        self.span_line(key.or(value), t.line)
    }

    /// Rejects fields of `t` other than `allowed`, then records the table's line.
    fn fields(&mut self, t: &Tbl<'_>, allowed: &[&'static str]) -> Result<(), Diagnostic> {
        for (key, _) in t.t.iter() {
            if !allowed.contains(&key) {
                let line = self.key_line(t, key);
                return Err(self.diag(line, format!("{}: unknown field \"{key}\" (expected one of: {})", t.label, allowed.join(", "))));
            }
        }
        self.item_lines.insert(t.pos, t.line);
        Ok(())
    }

    /// The value of `field`, if present, recording its line.
    fn get<'a>(&mut self, t: &Tbl<'a>, field: &'static str) -> Option<&'a Item> {
        let item = t.t.get(field)?;
        let line = self.key_line(t, field);
        self.field_lines.insert((t.pos, field), line);
        Some(item)
    }

    /// The table in `field` (inline or not), labelled `<parent>: <field>`, sharing the
    /// parent's position; `None` if the field is absent.
    fn sub_table<'a>(&mut self, t: &Tbl<'a>, field: &'static str) -> Result<Option<Tbl<'a>>, Diagnostic> {
        let Some(item) = self.get(t, field) else { return Ok(None) };
        let table = item.as_table_like().ok_or_else(|| self.wrong_type(t, field, "a table", item))?;
        Ok(Some(Tbl {
            t: table,
            line: self.span_line(item.span(), self.key_line(t, field)),
            label: format!("{}: {field}", t.label),
            pos: t.pos,
        }))
    }

    /// The value of a required `field`.
    fn need<'a>(&mut self, t: &Tbl<'a>, field: &'static str) -> Result<&'a Item, Diagnostic> {
        self.get(t, field).ok_or_else(|| self.diag(t.line, format!("{}: missing field \"{field}\"", t.label)))
    }

    /// A type error for `field`.
    fn wrong_type(&self, t: &Tbl<'_>, field: &str, expected: &str, found: &Item) -> Diagnostic {
        self.field_err(t, field, format!("expected {expected}, found {}", describe(found)))
    }

    /// A required string field.
    fn string<'a>(&mut self, t: &Tbl<'a>, field: &'static str) -> Result<&'a str, Diagnostic> {
        let item = self.need(t, field)?;
        item.as_str().ok_or_else(|| self.wrong_type(t, field, "a string", item))
    }

    /// An optional string field.
    fn opt_string<'a>(&mut self, t: &Tbl<'a>, field: &'static str) -> Result<Option<&'a str>, Diagnostic> {
        match self.get(t, field) {
            None => Ok(None),
            Some(item) => item.as_str().map(Some).ok_or_else(|| self.wrong_type(t, field, "a string", item)),
        }
    }

    /// A string field restricted to `choices`.
    fn choice(&mut self, t: &Tbl<'_>, field: &'static str, choices: &[&str]) -> Result<usize, Diagnostic> {
        let s = self.string(t, field)?;
        choices.iter().position(|c| *c == s).ok_or_else(|| {
            let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
            self.field_err(t, field, format!("\"{s}\" is not one of {}", quoted.join(", ")))
        })
    }

    /// An optional integer field within `lo..=hi`.
    fn opt_int(&mut self, t: &Tbl<'_>, field: &'static str, lo: i128, hi: i128) -> Result<Option<i128>, Diagnostic> {
        let Some(item) = self.get(t, field) else {
            return Ok(None);
        };
        let v = item.as_integer().ok_or_else(|| self.wrong_type(t, field, "an integer", item))?;
        let v = i128::from(v);
        if v < lo || v > hi {
            let range = if hi == i128::from(i64::MAX) {
                format!("must not be negative, found {v}")
            } else {
                format!("{v} is out of range {lo}..={hi}")
            };
            return Err(self.field_err(t, field, range));
        }
        Ok(Some(v))
    }

    /// A required integer field within `lo..=hi`.
    fn int(&mut self, t: &Tbl<'_>, field: &'static str, lo: i128, hi: i128) -> Result<i128, Diagnostic> {
        self.need(t, field)?;
        self.opt_int(t, field, lo, hi).map(|v| v.unwrap_or(lo))
    }

    /// A required non-negative 64-bit field (addresses, sizes, badges).
    fn u64(&mut self, t: &Tbl<'_>, field: &'static str) -> Result<u64, Diagnostic> {
        self.int(t, field, 0, i128::from(i64::MAX)).map(|v| v as u64)
    }

    /// An optional non-negative 64-bit field with a default.
    fn u64_or(&mut self, t: &Tbl<'_>, field: &'static str, default: u64) -> Result<u64, Diagnostic> {
        Ok(self.opt_int(t, field, 0, i128::from(i64::MAX))?.map_or(default, |v| v as u64))
    }

    /// A reference to a domain or notification by name.
    fn reference(&mut self, t: &Tbl<'_>, field: &'static str, names: &Names, kind: &str) -> Result<u32, Diagnostic> {
        let name = self.string(t, field)?;
        names.get(name).copied().ok_or_else(|| self.field_err(t, field, format!("unknown {kind} \"{name}\"")))
    }

    /// The tables of a list field: an array of tables (`[[x]]`) or an array of inline tables.
    fn list<'a>(&mut self, parent: &Tbl<'a>, field: &'static str, required: bool) -> Result<Vec<(&'a dyn TableLike, usize)>, Diagnostic> {
        let Some(item) = self.get(parent, field) else {
            if required {
                return Err(self.diag(parent.line, format!("{}: missing field \"{field}\"", parent.label)));
            }
            return Ok(Vec::new());
        };
        let fallback = self.key_line(parent, field);
        match item {
            Item::ArrayOfTables(aot) => Ok(aot.iter().map(|t| (t as &dyn TableLike, self.span_line(t.span(), fallback))).collect()),
            Item::Value(Value::Array(array)) => array
                .iter()
                .map(|v| match v.as_inline_table() {
                    Some(t) => Ok((t as &dyn TableLike, self.span_line(v.span(), fallback))),
                    None => Err(self.field_err(
                        parent,
                        field,
                        format!("expected an array of tables, found an array containing {}", describe_value(v)),
                    )),
                })
                .collect(),
            other => Err(self.wrong_type(parent, field, "an array of tables", other)),
        }
    }

    /// The archive entry of program `name`, named by `field` of `t`: a program already
    /// named keeps its entry, a new one is appended to `programs`.
    fn program(&mut self, t: &Tbl<'_>, field: &'static str, name: &str, programs: &mut Vec<ProgramRef>) -> Result<u32, Diagnostic> {
        if !valid_entry_name(name) || name == DESCRIPTION_ENTRY {
            return Err(self.field_err(
                t,
                field,
                format!("\"{name}\" is not a program name (1..=40 characters of [A-Za-z0-9_.-], not \"{DESCRIPTION_ENTRY}\")"),
            ));
        }
        let index = match programs.iter().position(|p| p.name == name) {
            Some(p) => p,
            None => {
                let line = self.key_line(t, field);
                programs.push(ProgramRef { name: name.to_string(), user: t.label.clone(), field, line });
                programs.len() - 1
            }
        };
        Ok(index as u32 + 1)
    }

    /// An optional ratio field, written `"NUM/DEN"`.
    fn ratio(&mut self, t: &Tbl<'_>, field: &'static str) -> Result<Option<Ratio>, Diagnostic> {
        let Some(text) = self.opt_string(t, field)? else { return Ok(None) };
        let parsed =
            text.split_once('/').and_then(|(num, den)| Some(Ratio { num: num.trim().parse().ok()?, den: den.trim().parse().ok()? }));
        parsed.map(Some).ok_or_else(|| self.field_err(t, field, format!("\"{text}\" is not a ratio \"NUM/DEN\" of 32-bit integers")))
    }

    /// An optional 32-bit millisecond field, in microseconds.
    fn ms(&mut self, t: &Tbl<'_>, field: &'static str) -> Result<Option<u64>, Diagnostic> {
        Ok(self.opt_int(t, field, 0, i128::from(u32::MAX))?.map(|ms| ms as u64 * MICROS_PER_MS))
    }

    /// An optional boolean field.
    fn opt_bool(&mut self, t: &Tbl<'_>, field: &'static str) -> Result<Option<bool>, Diagnostic> {
        match self.get(t, field) {
            None => Ok(None),
            Some(item) => item.as_bool().map(Some).ok_or_else(|| self.wrong_type(t, field, "a boolean", item)),
        }
    }

    /// An optional array of strings.
    fn strings<'a>(&mut self, t: &Tbl<'a>, field: &'static str) -> Result<Vec<&'a str>, Diagnostic> {
        let Some(item) = self.get(t, field) else { return Ok(Vec::new()) };
        let array = item.as_array().ok_or_else(|| self.wrong_type(t, field, "an array of strings", item))?;
        array
            .iter()
            .map(|v| v.as_str().ok_or_else(|| self.field_err(t, field, format!("expected strings, found {}", describe_value(v)))))
            .collect()
    }

    /// Reads the whole document.
    fn document(mut self, root: &toml_edit::Table) -> Result<Parsed, Diagnostic> {
        let root = Tbl { t: root, line: 1, label: String::from("top level"), pos: Pos::Tile };
        const SECTIONS: [&str; 11] = [
            "tile",
            "domain",
            "endpoint",
            "notification",
            "shared_region",
            "device_memory",
            "irq",
            "ioport",
            "pci_device",
            "slot",
            "federation",
        ];
        self.fields(&root, &SECTIONS)?;
        let (name, ram) = match self.get(&root, "tile") {
            None => return Err(self.diag(1, String::from("missing section [tile]"))),
            Some(item) => {
                let t = item.as_table_like().ok_or_else(|| self.wrong_type(&root, "tile", "a table", item))?;
                let tile = Tbl { t, line: self.span_line(item.span(), 1), label: String::from("tile"), pos: Pos::Tile };
                self.fields(&tile, &["name", "ram"])?;
                let ram = match self.get(&tile, "ram") {
                    None => None,
                    Some(_) => Some(self.int(&tile, "ram", 1, i128::from(i64::MAX))? as u64),
                };
                (self.string(&tile, "name")?.to_string(), ram)
            }
        };

        let mut programs: Vec<ProgramRef> = Vec::new();
        let domains = self.each(&root, "domain", true, |f, t, line, i| f.domain(t, line, i, &mut programs))?;
        if domains.is_empty() {
            return Err(self.diag(1, String::from("no [[domain]] declared")));
        }
        let mut domain_names = Names::new();
        for (i, d) in domains.iter().enumerate().rev() {
            domain_names.insert(d.name.clone(), i as u32);
        }
        let domain_names = &domain_names;

        let endpoints = self.each(&root, "endpoint", false, |f, t, line, i| f.endpoint(t, line, i, domain_names))?;
        let notifications = self.each(&root, "notification", false, |f, t, line, i| f.notification(t, line, i, domain_names))?;
        let mut notification_names = Names::new();
        for (i, n) in notifications.iter().enumerate().rev() {
            notification_names.insert(n.name.clone(), i as u32);
        }
        let notification_names = &notification_names;
        let shared_regions = self.each(&root, "shared_region", false, |f, t, line, i| f.shared_region(t, line, i, domain_names))?;
        let device_memory = self.each(&root, "device_memory", false, |f, t, line, i| f.device_memory(t, line, i, domain_names))?;
        let irqs = self.each(&root, "irq", false, |f, t, line, i| f.irq(t, line, i, domain_names, notification_names))?;
        let io_ports = self.each(&root, "ioport", false, |f, t, line, i| f.ioport(t, line, i, domain_names))?;
        let pci_devices =
            self.each(&root, "pci_device", false, |f, t, line, i| f.pci_device(t, line, i, domain_names, notification_names))?;
        let mut endpoint_names = Names::new();
        for (i, e) in endpoints.iter().enumerate().rev() {
            endpoint_names.insert(e.name.clone(), i as u32);
        }
        let names = Refs { domains: domain_names, endpoints: &endpoint_names };
        let slots = self.each(&root, "slot", false, |f, t, line, i| f.slot(t, line, i, names, &mut programs))?;
        let (slots, builds): (Vec<Slot>, Vec<SlotBuild>) = slots.into_iter().unzip();
        let federation = match self.get(&root, "federation") {
            None => None,
            Some(item) => {
                let t = item.as_table_like().ok_or_else(|| self.wrong_type(&root, "federation", "a table", item))?;
                let line = self.span_line(item.span(), self.key_line(&root, "federation"));
                let t = Tbl { t, line, label: String::from("federation"), pos: Pos::Tile };
                Some(self.federation(&t, &domains, &endpoints, names)?)
            }
        };
        let mut description = SystemDescription {
            name,
            domains,
            endpoints,
            notifications,
            shared_regions,
            device_memory,
            irqs,
            io_ports,
            pci_devices,
            slots,
            federation,
        };
        crate::expand::expand_slots(&mut description, &builds, &mut self.item_lines, &self.field_lines)
            .map_err(|(line, message)| self.diag(line, message))?;
        Ok(Parsed { description, programs, ram, item_lines: self.item_lines, field_lines: self.field_lines })
    }

    /// The `[federation]` table: `domain`, `store`, `listen_port`, and the rest deserialized
    /// as a `tileos_federation::NodeConfig` and checked by its own validation (whose message
    /// names the entry; it is reported at that entry's line).
    fn federation(&mut self, t: &Tbl<'_>, domains: &[Domain], endpoints: &[Endpoint], refs: Refs<'_>) -> Result<Federation, Diagnostic> {
        const NODE_FIELDS: [&str; 12] = [
            "node",
            "role",
            "clock",
            "neighbours",
            "routes",
            "contacts",
            "plan_authorities",
            "replication_interval_ms",
            "reconnect_interval_ms",
            "limits",
            "local_services",
            "figures_publisher",
        ];
        let mut allowed = vec!["domain", "store", "listen_port"];
        allowed.extend(NODE_FIELDS);
        self.fields(t, &allowed)?;
        let domain = self.reference(t, "domain", refs.domains, "domain")?;
        let store = self.reference(t, "store", refs.endpoints, "endpoint")?;
        let listen_port = self.int(t, "listen_port", 1, 65535)? as u16;
        let runner = &domains[domain as usize];
        let is_client = |endpoint: &Endpoint| endpoint.clients.iter().any(|client| client.domain == domain);
        let store_endpoint = &endpoints[store as usize];
        if !is_client(store_endpoint) {
            let problem = format!("domain \"{}\" is not a client of endpoint \"{}\"", runner.name, store_endpoint.name);
            return Err(self.field_err(t, "store", problem));
        }
        if !endpoints.iter().any(|endpoint| endpoint.name == "socket" && is_client(endpoint)) {
            return Err(self.field_err(t, "domain", format!("domain \"{}\" is not a client of endpoint \"socket\"", runner.name)));
        }
        let mut node = serde_json::Map::new();
        for field in NODE_FIELDS {
            if let Some(item) = self.get(t, field) {
                let value = json_of_item(item).map_err(|problem| self.field_err(t, field, problem))?;
                if let Some(problem) = node_field_problem(field, &value) {
                    return Err(self.field_err(t, field, problem));
                }
                node.insert(String::from(field), value);
            }
        }
        self.need(t, "node")?;
        self.need(t, "role")?;
        let owners_given = node
            .get("local_services")
            .and_then(|v| v.as_array())
            .and_then(|services| services.iter().position(|service| service.get("badge").is_some()));
        if let Some(index) = owners_given {
            let problem = format!("local_services[{index}].badge: the image builder sets it from `domain`; a description does not");
            return Err(self.diag(self.key_line(t, "local_services"), format!("federation: {problem}")));
        }
        if node.get("figures_publisher").is_some_and(|publisher| publisher.get("badge").is_some()) {
            let problem = "figures_publisher.badge: the image builder sets it from `domain`; a description does not";
            return Err(self.diag(self.key_line(t, "figures_publisher"), format!("federation: {problem}")));
        }
        let mut config: tileos_federation::NodeConfig = serde_json::from_value(serde_json::Value::Object(node)).map_err(|error| {
            // serde names the field only inside its message: point at the first field it names.
            let text = error.to_string();
            let at =
                NODE_FIELDS.iter().find(|field| text.contains(*field) && t.t.contains_key(field)).map_or(t.line, |f| self.key_line(t, f));
            self.diag(at, format!("federation: node configuration: {text}"))
        })?;
        if let Err(error) = config.validate() {
            let text = error.to_string();
            let field = NODE_FIELDS.iter().find(|field| text.starts_with(*field)).copied().unwrap_or("node");
            return Err(self.diag(self.key_line(t, field), format!("federation: {text}")));
        }
        // Each local service's owner takes its bundles, and the figures publisher publishes,
        // with its capability to an endpoint the federation domain serves: the node checks
        // that capability's badge.
        let badge_of = |owner: Option<u32>| {
            owner.and_then(|owner| {
                endpoints
                    .iter()
                    .filter(|endpoint| endpoint.server == Server::Domain(domain))
                    .flat_map(|endpoint| endpoint.clients.iter())
                    .find(|client| client.domain == owner)
                    .map(|client| client.badge)
            })
        };
        for (index, local) in config.local_services.iter_mut().enumerate() {
            let owner = refs.domains.get(&local.domain).copied();
            let badge = badge_of(owner);
            let Some(badge) = badge else {
                let problem = match owner {
                    None => format!("local_services[{index}].domain: no domain named \"{}\"", local.domain),
                    Some(_) => format!(
                        "local_services[{index}].domain: domain \"{}\" is not a client of an endpoint domain \"{}\" serves",
                        local.domain, runner.name
                    ),
                };
                return Err(self.diag(self.key_line(t, "local_services"), format!("federation: {problem}")));
            };
            local.badge = badge;
        }
        if let Some(publisher) = config.figures_publisher.as_mut() {
            let owner = refs.domains.get(&publisher.domain).copied();
            let Some(badge) = badge_of(owner) else {
                let problem = match owner {
                    None => format!("figures_publisher.domain: no domain named \"{}\"", publisher.domain),
                    Some(_) => format!(
                        "figures_publisher.domain: domain \"{}\" is not a client of an endpoint domain \"{}\" serves",
                        publisher.domain, runner.name
                    ),
                };
                return Err(self.diag(self.key_line(t, "figures_publisher"), format!("federation: {problem}")));
            };
            publisher.badge = badge;
        }
        // The domain dials a neighbour through the netstack: an IPv4 address and a port; a
        // client neighbour (it dials this node) has none.
        let bad_address = |n: &tileos_federation::Neighbour| {
            if n.client { !n.address.is_empty() } else { n.address.parse::<std::net::SocketAddrV4>().is_err() }
        };
        if let Some((index, neighbour)) = config.neighbours.iter().enumerate().find(|(_, n)| bad_address(n)) {
            let problem = if neighbour.client {
                format!(
                    "neighbours[{index}].address: a client neighbour (it dials this node) has no address, not \"{}\"",
                    neighbour.address
                )
            } else {
                format!("neighbours[{index}].address: \"{}\" is not an IPv4 address and port", neighbour.address)
            };
            return Err(self.diag(self.key_line(t, "neighbours"), format!("federation: {problem}")));
        }
        let encoded = postcard::to_allocvec(&config).map_err(|error| self.diag(t.line, format!("federation: cannot encode: {error}")))?;
        let store_name = runner.local_name(&store_endpoint.name).to_string();
        Ok(Federation { domain, store, store_name, listen_port, node: encoded })
    }

    /// Builds the [`Tbl`] for the `index`th `[[kind]]`, labelled by its `name` when it has one.
    fn named<'a>(&self, kind: &str, t: &'a dyn TableLike, line: usize, index: usize, pos: Pos) -> Tbl<'a> {
        let label = match t.get("name").and_then(Item::as_str) {
            Some(name) => format!("{kind} \"{name}\""),
            None => format!("{kind} #{}", index + 1),
        };
        Tbl { t, line, label, pos }
    }

    /// Reads the members of list `field` of `parent` (`clients`, `signallers`, `mappings`) with
    /// `read`, in order: each is a table at position `pos(index)`, labelled `<parent>: <what>
    /// "<its domain>"` (`<what> #<n>` without one), whose fields are checked against `allowed`
    /// just before `read` reads it.
    #[allow(clippy::too_many_arguments)]
    fn members<'a, T>(
        &mut self,
        parent: &Tbl<'a>,
        field: &'static str,
        required: bool,
        what: &str,
        allowed: &[&'static str],
        pos: impl Fn(usize) -> Pos,
        mut read: impl FnMut(&mut Self, &Tbl<'a>) -> Result<T, Diagnostic>,
    ) -> Result<Vec<T>, Diagnostic> {
        self.each(parent, field, required, |front, t, line, index| {
            let who = match t.get("domain").and_then(Item::as_str) {
                Some(domain) => format!("\"{domain}\""),
                None => format!("#{}", index + 1),
            };
            let member = Tbl { t, line, label: format!("{}: {what} {who}", parent.label), pos: pos(index) };
            front.fields(&member, allowed)?;
            read(front, &member)
        })
    }

    /// Reads each table of list `field` of `parent` (see [`Front::list`]) with
    /// `read(front, table, line, index)`, in order, stopping at the first error.
    fn each<'a, T>(
        &mut self,
        parent: &Tbl<'a>,
        field: &'static str,
        required: bool,
        mut read: impl FnMut(&mut Self, &'a dyn TableLike, usize, usize) -> Result<T, Diagnostic>,
    ) -> Result<Vec<T>, Diagnostic> {
        let tables = self.list(parent, field, required)?;
        let mut items = Vec::with_capacity(tables.len());
        for (index, (t, line)) in tables.into_iter().enumerate() {
            items.push(read(self, t, line, index)?);
        }
        Ok(items)
    }

    /// One `[[domain]]`.
    fn domain(&mut self, t: &dyn TableLike, line: usize, i: usize, programs: &mut Vec<ProgramRef>) -> Result<Domain, Diagnostic> {
        let t = self.named("domain", t, line, i, Pos::Domain(i));
        self.fields(
            &t,
            &["name", "program", "priority", "mcp", "stack_size", "heap_size", "cnode_slots", "restart", "budget_ms", "period_ms", "names"],
        )?;
        let name = self.string(&t, "name")?.to_string();
        let program_name = self.string(&t, "program")?;
        let program = self.program(&t, "program", program_name, programs)?;
        let priority = self.int(&t, "priority", 0, 255)? as u8;
        let mcp = self.opt_int(&t, "mcp", 0, 255)?.map_or(priority, |v| v as u8);
        let stack_size = self.u64_or(&t, "stack_size", DEFAULT_STACK_SIZE)?;
        let heap_size = self.u64_or(&t, "heap_size", DEFAULT_HEAP_SIZE)?;
        // A power of two from 8 to 256 (`SystemDescription::check` says so otherwise).
        let cnode_slots =
            self.opt_int(&t, "cnode_slots", 0, i128::from(u32::MAX))?.map_or(tileos_sysdesc::DEFAULT_CNODE_SLOTS, |v| v as u32);
        let restart = match self.sub_table(&t, "restart")? {
            None => RestartPolicy::Never,
            Some(r) => {
                self.fields(&r, &["policy", "max_restarts", "backoff_ms"])?;
                if self.choice(&r, "policy", &["never", "always"])? == 1 {
                    RestartPolicy::Always {
                        max_restarts: self.int(&r, "max_restarts", 0, i128::from(u32::MAX))? as u32,
                        backoff_ms: self.opt_int(&r, "backoff_ms", 0, i128::from(u32::MAX))?.unwrap_or(0) as u32,
                    }
                } else if let Some(field) = ["max_restarts", "backoff_ms"].into_iter().find(|f| r.t.contains_key(f)) {
                    return Err(self.field_err(&r, field, "is only allowed with policy \"always\""));
                } else {
                    RestartPolicy::Never
                }
            }
        };
        let budget_ms = self.opt_int(&t, "budget_ms", 0, i128::from(u32::MAX))?;
        let period_ms = self.opt_int(&t, "period_ms", 0, i128::from(u32::MAX))?;
        let budget = match (budget_ms, period_ms) {
            (None, None) => None,
            (Some(b), Some(p)) => Some(Budget { budget_ms: b as u32, period_ms: p as u32 }),
            (Some(_), None) => return Err(self.field_err(&t, "budget_ms", "needs \"period_ms\" as well")),
            (None, Some(_)) => return Err(self.field_err(&t, "period_ms", "needs \"budget_ms\" as well")),
        };
        let mut names = Vec::new();
        if let Some(table) = self.sub_table(&t, "names")? {
            for (local, value) in table.t.iter() {
                let global = value.as_str().ok_or_else(|| {
                    self.field_err(
                        &t,
                        "names",
                        format!("\"{local}\": expected a string (the description's name of an endpoint, notification or region)"),
                    )
                })?;
                names.push((local.to_string(), global.to_string()));
            }
        }
        // The restart table shares the domain's position: restore the domain's own line.
        self.item_lines.insert(t.pos, t.line);
        Ok(Domain { name, program, priority, mcp, stack_size, heap_size, cnode_slots, restart, budget, names })
    }

    /// One `[[endpoint]]`.
    fn endpoint(&mut self, t: &dyn TableLike, line: usize, e: usize, domains: &Names) -> Result<Endpoint, Diagnostic> {
        let t = self.named("endpoint", t, line, e, Pos::Endpoint(e));
        self.fields(&t, &["name", "server", "clients"])?;
        let name = self.string(&t, "name")?.to_string();
        // `server = "supervisor"` names the root server's supervisor (no domain may take
        // that name: `SystemDescription::check` rejects it).
        let server = if t.t.get("server").and_then(Item::as_str) == Some(SUPERVISOR) {
            self.string(&t, "server")?;
            Server::Supervisor
        } else {
            Server::Domain(self.reference(&t, "server", domains, "domain")?)
        };
        let client_at = |client| Pos::Client { endpoint: e, client };
        let clients = self.members(&t, "clients", false, "client", &["domain", "badge", "access", "params"], client_at, |front, ct| {
            let domain = front.reference(ct, "domain", domains, "domain")?;
            let badge = front.u64(ct, "badge")?;
            let access = match front.get(ct, "access") {
                None => Access::Full,
                Some(_) => [Access::Full, Access::StatusOnly][front.choice(ct, "access", &["full", "status"])?],
            };
            let mut params = Vec::new();
            if let Some(table) = front.sub_table(ct, "params")? {
                for (name, value) in table.t.iter() {
                    let value = value
                        .as_integer()
                        .and_then(|v| u64::try_from(v).ok())
                        .ok_or_else(|| front.field_err(ct, "params", format!("\"{name}\": expected a non-negative integer")))?;
                    params.push(Param { name: name.to_string(), value });
                }
            }
            // The params table shares the client's position: restore the client's own line.
            front.item_lines.insert(ct.pos, ct.line);
            Ok(Client { domain, badge, access, params })
        })?;
        Ok(Endpoint { name, server, clients })
    }

    /// One `[[notification]]`.
    fn notification(&mut self, t: &dyn TableLike, line: usize, n: usize, domains: &Names) -> Result<Notification, Diagnostic> {
        let t = self.named("notification", t, line, n, Pos::Notification(n));
        self.fields(&t, &["name", "waiter", "signallers"])?;
        let name = self.string(&t, "name")?.to_string();
        let waiter = self.reference(&t, "waiter", domains, "domain")?;
        let signaller_at = |signaller| Pos::Signaller { notification: n, signaller };
        let signallers = self.members(&t, "signallers", false, "signaller", &["domain", "bits"], signaller_at, |front, st| {
            let domain = front.reference(st, "domain", domains, "domain")?;
            let item = front.need(st, "bits")?;
            let array = item.as_array().ok_or_else(|| front.wrong_type(st, "bits", "an array of bit numbers", item))?;
            let mut badge = 0u64;
            for v in array.iter() {
                let bit = v
                    .as_integer()
                    .ok_or_else(|| front.field_err(st, "bits", format!("expected bit numbers, found {}", describe_value(v))))?;
                if !(0..64).contains(&bit) {
                    return Err(front.field_err(st, "bits", format!("bit {bit} is out of range 0..=63")));
                }
                if badge & (1 << bit) != 0 {
                    return Err(front.field_err(st, "bits", format!("bit {bit} is listed twice")));
                }
                badge |= 1 << bit;
            }
            Ok(Signaller { domain, badge })
        })?;
        Ok(Notification { name, waiter, signallers })
    }

    /// One `[[shared_region]]`.
    fn shared_region(&mut self, t: &dyn TableLike, line: usize, r: usize, domains: &Names) -> Result<SharedRegion, Diagnostic> {
        let t = self.named("shared region", t, line, r, Pos::SharedRegion(r));
        self.fields(&t, &["name", "size", "mappings"])?;
        let name = self.string(&t, "name")?.to_string();
        let size = self.u64(&t, "size")?;
        let mapping_at = |mapping| Pos::Mapping { region: r, mapping };
        let mappings = self.members(&t, "mappings", true, "mapping", &["domain", "vaddr", "rights"], mapping_at, |front, mt| {
            let domain = front.reference(mt, "domain", domains, "domain")?;
            let vaddr = front.u64(mt, "vaddr")?;
            let rights = match front.opt_string(mt, "rights")? {
                None | Some("rw") => MapRights::ReadWrite,
                Some("r") => MapRights::Read,
                Some("rx") => MapRights::ReadExecute,
                Some(other) => {
                    let wx =
                        if other.contains('w') && other.contains('x') { " (writable and executable together is not allowed)" } else { "" };
                    return Err(front.field_err(mt, "rights", format!("\"{other}\" is not one of \"r\", \"rw\", \"rx\"{wx}")));
                }
            };
            Ok(Mapping { domain, vaddr, rights })
        })?;
        Ok(SharedRegion { name, size, mappings })
    }

    /// One `[[device_memory]]`.
    fn device_memory(&mut self, t: &dyn TableLike, line: usize, i: usize, domains: &Names) -> Result<DeviceMemory, Diagnostic> {
        let t = self.named("device memory", t, line, i, Pos::DeviceMemory(i));
        self.fields(&t, &["name", "paddr", "size", "domain", "vaddr", "uncached"])?;
        let name = self.string(&t, "name")?.to_string();
        let paddr = self.u64(&t, "paddr")?;
        let size = self.u64(&t, "size")?;
        let domain = self.reference(&t, "domain", domains, "domain")?;
        let vaddr = self.u64(&t, "vaddr")?;
        let uncached = self.opt_bool(&t, "uncached")?.unwrap_or(true);
        Ok(DeviceMemory { name, paddr, size, domain, vaddr, uncached })
    }

    /// One `[[irq]]`.
    fn irq(&mut self, t: &dyn TableLike, line: usize, i: usize, domains: &Names, notifications: &Names) -> Result<Irq, Diagnostic> {
        let label = match t.get("pin").and_then(Item::as_integer) {
            Some(pin) => format!("irq pin {pin}"),
            None => format!("irq #{}", i + 1),
        };
        let t = Tbl { t, line, label, pos: Pos::Irq(i) };
        self.fields(&t, &["pin", "trigger", "polarity", "domain", "notification", "bit"])?;
        let pin = self.int(&t, "pin", 0, 255)? as u8;
        let trigger = [Trigger::Edge, Trigger::Level][self.choice(&t, "trigger", &["edge", "level"])?];
        let polarity = [Polarity::High, Polarity::Low][self.choice(&t, "polarity", &["high", "low"])?];
        let domain = self.reference(&t, "domain", domains, "domain")?;
        let notification = self.reference(&t, "notification", notifications, "notification")?;
        let bit = self.int(&t, "bit", 0, 63)? as u8;
        Ok(Irq { pin, trigger, polarity, domain, notification, bit })
    }

    /// One `[[pci_device]]`.
    fn pci_device(
        &mut self,
        t: &dyn TableLike,
        line: usize,
        i: usize,
        domains: &Names,
        notifications: &Names,
    ) -> Result<PciDevice, Diagnostic> {
        let t = self.named("pci device", t, line, i, Pos::PciDevice(i));
        self.fields(&t, &["name", "class", "vendor", "device", "index", "domain", "vaddr", "window", "interrupt"])?;
        let name = self.string(&t, "name")?.to_string();
        let class = self.int(&t, "class", 0, 0xFF_FFFF)? as u32;
        let vendor = self.opt_int(&t, "vendor", 0, 0xFFFF)?.map(|v| v as u16);
        let device = self.opt_int(&t, "device", 0, 0xFFFF)?.map(|v| v as u16);
        let index = self.opt_int(&t, "index", 0, i128::from(u32::MAX))?.unwrap_or(0) as u32;
        let domain = self.reference(&t, "domain", domains, "domain")?;
        let vaddr = self.u64(&t, "vaddr")?;
        let window = self.u64(&t, "window")?;
        let interrupt = match self.sub_table(&t, "interrupt")? {
            None => None,
            Some(it) => {
                self.fields(&it, &["notification", "bit"])?;
                let notification = self.reference(&it, "notification", notifications, "notification")?;
                let bit = self.int(&it, "bit", 0, 63)? as u8;
                Some(PciInterrupt { notification, bit })
            }
        };
        // The interrupt table shares the device's position: restore the device's own line.
        self.item_lines.insert(t.pos, t.line);
        Ok(PciDevice { name, class, vendor, device, index, domain, vaddr, window, interrupt })
    }

    /// One `[[slot]]`; its `policy`, `challenger` and `n_version` tables share its position.
    fn slot(
        &mut self,
        t: &dyn TableLike,
        line: usize,
        i: usize,
        refs: Refs<'_>,
        programs: &mut Vec<ProgramRef>,
    ) -> Result<(Slot, SlotBuild), Diagnostic> {
        let t = self.named("slot", t, line, i, Pos::Slot(i));
        self.fields(
            &t,
            &[
                "name",
                "endpoint",
                "protocol",
                "incumbent",
                "comparator",
                "policy",
                "rollback_window_ms",
                "max_challengers",
                "challenger",
                "allowance",
                "n_version",
                "module_memory",
                "manager_heap",
                "manager_program",
                "verifier_priority",
                "store",
                "step_priority",
            ],
        )?;
        let name = self.string(&t, "name")?.to_string();
        let endpoint = self.reference(&t, "endpoint", refs.endpoints, "endpoint")?;
        let protocol = self.string(&t, "protocol")?.to_string();
        let incumbent = self.reference(&t, "incumbent", refs.domains, "domain")?;
        let comparator = match self.get(&t, "comparator") {
            None => Comparator::Exact,
            Some(_) => {
                let choices = ["exact", "equivalent", "noise-cancelled"];
                [Comparator::Exact, Comparator::Equivalent, Comparator::NoiseCancelled][self.choice(&t, "comparator", &choices)?]
            }
        };
        let defaults = SlotPolicy::default();
        let mut policy = defaults;
        if let Some(p) = self.sub_table(&t, "policy")? {
            self.fields(
                &p,
                &[
                    "min_agreeing",
                    "max_disagreement",
                    "max_faults",
                    "latency_bound",
                    "min_soak_ms",
                    "answer_deadline_ms",
                    "breaker_latency_samples",
                    "breaker_unanswered_ms",
                    "restart_unanswered_ms",
                    "auto_promote",
                ],
            )?;
            policy.min_agreeing = self.u64_or(&p, "min_agreeing", defaults.min_agreeing)?;
            policy.max_disagreement = self.ratio(&p, "max_disagreement")?.unwrap_or(defaults.max_disagreement);
            policy.max_faults = self.opt_int(&p, "max_faults", 0, i128::from(u32::MAX))?.map_or(defaults.max_faults, |v| v as u32);
            policy.latency_bound = self.ratio(&p, "latency_bound")?.unwrap_or(defaults.latency_bound);
            policy.min_soak = self.ms(&p, "min_soak_ms")?.unwrap_or(defaults.min_soak);
            policy.answer_deadline = self.ms(&p, "answer_deadline_ms")?.unwrap_or(defaults.answer_deadline);
            policy.breaker_latency_samples = self.u64_or(&p, "breaker_latency_samples", defaults.breaker_latency_samples)?;
            // Unset: the default, or the answer deadline if that is longer.
            policy.breaker_unanswered =
                self.ms(&p, "breaker_unanswered_ms")?.unwrap_or(defaults.breaker_unanswered.max(policy.answer_deadline));
            policy.restart_unanswered = self.ms(&p, "restart_unanswered_ms")?;
            policy.auto_promote = self.opt_bool(&p, "auto_promote")?.unwrap_or(defaults.auto_promote);
        }
        policy.rollback_window = self.ms(&t, "rollback_window_ms")?.unwrap_or(defaults.rollback_window);
        policy.max_challengers = self.opt_int(&t, "max_challengers", 0, 255)?.map_or(defaults.max_challengers, |v| v as u8);
        let Some(c) = self.sub_table(&t, "challenger")? else {
            return Err(self.diag(t.line, format!("{}: missing field \"challenger\"", t.label)));
        };
        self.fields(&c, &["priority", "budget_ms", "period_ms"])?;
        let challenger = ChallengerSchedule {
            priority: self.int(&c, "priority", 0, 255)? as u8,
            budget: Budget {
                budget_ms: self.int(&c, "budget_ms", 0, i128::from(u32::MAX))? as u32,
                period_ms: self.int(&c, "period_ms", 0, i128::from(u32::MAX))? as u32,
            },
        };
        let allowance = self.strings(&t, "allowance")?.into_iter().map(str::to_string).collect();
        let n_version = match self.sub_table(&t, "n_version")? {
            None => None,
            Some(n) => {
                self.fields(&n, &["lineages", "fallback", "replace_after"])?;
                let names = self.strings(&n, "lineages")?;
                if names.len() != 3 {
                    return Err(self.field_err(
                        &n,
                        "lineages",
                        format!("{} programs; an N-version slot has exactly 3 lineages", names.len()),
                    ));
                }
                let mut lineages = [0; 3];
                for (k, name) in names.iter().enumerate() {
                    if names[..k].contains(name) {
                        return Err(self.field_err(
                            &n,
                            "lineages",
                            format!("program \"{name}\" is listed twice (lineages are independent implementations)"),
                        ));
                    }
                    lineages[k] = self.program(&n, "lineages", name, programs)?;
                }
                let fallback = self.string(&n, "fallback")?;
                let fallback = self.program(&n, "fallback", fallback, programs)?;
                let replace_after = self.int(&n, "replace_after", 0, i128::from(u32::MAX))? as u32;
                Some(Lineages { programs: lineages, fallback, replace_after })
            }
        };
        let module_memory = self.u64_or(&t, "module_memory", DEFAULT_MODULE_MEMORY)?;
        let manager_heap = self.u64_or(&t, "manager_heap", DEFAULT_MANAGER_HEAP)?;
        let manager_program = self.opt_string(&t, "manager_program")?.unwrap_or(DEFAULT_MANAGER_PROGRAM);
        let manager_program = self.program(&t, "manager_program", manager_program, programs)?;
        let verifier_program = self.program(&t, "name", VERIFIER_PROGRAM, programs)?;
        let verifier_priority = self.opt_int(&t, "verifier_priority", 1, 255)?.map(|v| v as u8);
        let store = match self.get(&t, "store") {
            None => None,
            Some(_) => Some(self.reference(&t, "store", refs.endpoints, "endpoint")?),
        };
        let step_priority = self.opt_int(&t, "step_priority", 0, 255)?.map(|v| v as u8);
        // The sub-tables share the slot's position: restore the slot's own line.
        self.item_lines.insert(t.pos, t.line);
        // Manager and seats are filled in by `expand_slots`.
        let slot = Slot {
            name,
            endpoint,
            protocol,
            incumbent,
            comparator,
            policy,
            challenger,
            allowance,
            n_version,
            manager: 0,
            seats: Vec::new(),
            seat_faults: 0,
            verifier: 0,
            module_memory,
            store,
            step_priority,
        };
        Ok((slot, SlotBuild { manager_program, manager_heap, verifier_program, verifier_priority }))
    }

    /// One `[[ioport]]`.
    fn ioport(&mut self, t: &dyn TableLike, line: usize, i: usize, domains: &Names) -> Result<IoPortRange, Diagnostic> {
        let t = Tbl { t, line, label: format!("ioport #{}", i + 1), pos: Pos::IoPorts(i) };
        self.fields(&t, &["first", "last", "domain"])?;
        let first = self.int(&t, "first", 0, 0xffff)? as u16;
        let last = self.int(&t, "last", 0, 0xffff)? as u16;
        let domain = self.reference(&t, "domain", domains, "domain")?;
        Ok(IoPortRange { first, last, domain })
    }
}

/// What is wrong with `value` as the node configuration's `field`, deserialized alone (so
/// that the error points at the field's line).
fn node_field_problem(field: &str, value: &serde_json::Value) -> Option<String> {
    use tileos_federation::{Clock, Contact, FiguresPublisher, Limits, LocalService, Neighbour, Role, StaticRoute};
    fn check<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Option<String> {
        serde_json::from_value::<T>(value.clone()).err().map(|error| error.to_string())
    }
    match field {
        "node" => check::<u32>(value),
        "role" => check::<Role>(value),
        "clock" => check::<Clock>(value),
        "neighbours" => check::<Vec<Neighbour>>(value),
        "routes" => check::<Vec<StaticRoute>>(value),
        "contacts" => check::<Vec<Contact>>(value),
        "plan_authorities" => check::<Vec<u32>>(value),
        "local_services" => check::<Vec<LocalService>>(value),
        "figures_publisher" => check::<FiguresPublisher>(value),
        "limits" => check::<Limits>(value),
        _ => check::<u64>(value),
    }
}

/// A TOML value as JSON, for serde (`[federation]`'s node configuration). Dates are refused.
fn json_of_item(item: &Item) -> Result<serde_json::Value, String> {
    match item {
        Item::Value(value) => json_of_value(value),
        Item::Table(table) => {
            let mut map = serde_json::Map::new();
            for (key, item) in table.iter() {
                map.insert(key.to_string(), json_of_item(item)?);
            }
            Ok(serde_json::Value::Object(map))
        }
        Item::ArrayOfTables(array) => {
            let tables: Result<Vec<_>, String> = array.iter().map(|table| json_of_item(&Item::Table(table.clone()))).collect();
            Ok(serde_json::Value::Array(tables?))
        }
        Item::None => Ok(serde_json::Value::Null),
    }
}

/// A TOML value as JSON.
fn json_of_value(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::String(s) => serde_json::Value::from(s.value().as_str()),
        Value::Integer(i) => serde_json::Value::from(*i.value()),
        Value::Float(f) => serde_json::Value::from(*f.value()),
        Value::Boolean(b) => serde_json::Value::from(*b.value()),
        Value::Datetime(_) => return Err(String::from("a date is not a node configuration value")),
        Value::Array(array) => serde_json::Value::Array(array.iter().map(json_of_value).collect::<Result<_, _>>()?),
        Value::InlineTable(table) => {
            let mut map = serde_json::Map::new();
            for (key, value) in table.iter() {
                map.insert(key.to_string(), json_of_value(value)?);
            }
            serde_json::Value::Object(map)
        }
    })
}

/// "a string", "an integer", … for type errors.
fn describe(item: &Item) -> String {
    match item {
        Item::Value(v) => describe_value(v),
        Item::Table(_) => String::from("a table"),
        Item::ArrayOfTables(_) => String::from("an array of tables"),
        Item::None => String::from("nothing"),
    }
}

/// "a string", "an integer", … for a value.
fn describe_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string \"{}\"", s.value()),
        Value::Integer(i) => format!("the integer {}", i.value()),
        Value::Float(f) => format!("the float {}", f.value()),
        Value::Boolean(b) => format!("the boolean {}", b.value()),
        Value::Datetime(_) => String::from("a datetime"),
        Value::Array(_) => String::from("an array"),
        Value::InlineTable(_) => String::from("an inline table"),
    }
}
