//! The example description builds into an archive that `tileos_sysdesc::load` accepts and
//! that holds exactly the compiled description and the program ELFs; program lookup rules.

use std::path::{Path, PathBuf};
use std::process::Command;
use tileos_imagebuild::{Error, Programs, build, check_elf, compile};
use tileos_sysdesc::{Budget, ChallengerSchedule, Comparator, Lineages, MapRights, Ratio, RestartPolicy, SEAT_BADGE, Server, load};

const EXAMPLE: &str = "examples/tile.toml";

/// A minimal x86_64 ELF64 executable: a header and one loadable segment holding `tag`, so
/// each program differs (as the image builder packs it: nothing but that segment).
fn fake_elf(tag: &str) -> Vec<u8> {
    let mut elf = vec![0u8; 64 + 56];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[16] = 2;
    elf[18] = 62;
    elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    elf[0x36] = 56;
    elf[0x38] = 1;
    let header = &mut elf[64..];
    header[0] = 1; // PT_LOAD
    header[4] = 4; // readable
    header[8..16].copy_from_slice(&120u64.to_le_bytes());
    header[16..24].copy_from_slice(&(0x40_0000u64 + 120).to_le_bytes());
    header[32..40].copy_from_slice(&(tag.len() as u64).to_le_bytes());
    header[40..48].copy_from_slice(&(tag.len() as u64).to_le_bytes());
    elf.extend_from_slice(tag.as_bytes());
    elf
}

/// A fresh directory under the target directory holding fake ELFs for `names`.
fn program_dir(test: &str, names: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    for name in names {
        std::fs::write(dir.join(name), fake_elf(name)).expect("write fake ELF");
    }
    dir
}

const PROGRAMS: [&str; 8] = ["console", "net-driver", "echo", "client", "echo-b", "echo-c", "slot-manager", "bundle-verifier"];

#[test]
fn example_compiles_with_every_feature() {
    let text = std::fs::read_to_string(EXAMPLE).expect("example exists");
    let c = compile("tile.toml", &text).expect("example is valid");
    let d = &c.description;
    assert_eq!(d.name, "example-tile");
    let names: Vec<&str> = c.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, PROGRAMS);
    // The five declared domains, then the slot's manager, seats 1..=3 and verifier.
    assert_eq!(d.domains.len(), 10);
    // Both clients run program "client", archive entry 4.
    assert_eq!((d.domains[3].program, d.domains[4].program), (4, 4));
    assert_eq!(d.domains[0].restart, RestartPolicy::Always { max_restarts: 5, backoff_ms: 100 });
    assert_eq!(d.domains[1].restart, RestartPolicy::Always { max_restarts: 3, backoff_ms: 500 });
    assert_eq!(d.domains[1].mcp, 160);
    assert_eq!(d.domains[3].mcp, 90);
    assert_eq!((d.domains[3].stack_size, d.domains[3].heap_size), (0x4000, 0x10000));
    assert_eq!(d.notifications[0].signallers[1].badge, 0b110 << 8);
    assert_eq!(d.shared_regions[1].mappings[0].rights, MapRights::ReadExecute);
    assert_eq!(d.shared_regions[0].mappings[1].rights, MapRights::Read);
    assert_eq!(d.irqs.len(), 2);
    assert_eq!(d.io_ports.len(), 2);
    assert!(d.device_memory[0].uncached);
    let slot = &d.slots[0];
    assert_eq!((slot.name.as_str(), slot.endpoint, slot.incumbent, slot.comparator), ("echo-slot", 1, 2, Comparator::Exact));
    assert_eq!(slot.policy.max_disagreement, Ratio { num: 1, den: 1000 });
    assert_eq!((slot.policy.min_soak, slot.policy.answer_deadline, slot.policy.rollback_window), (60_000_000, 50_000, 300_000_000));
    assert_eq!(slot.challenger, ChallengerSchedule { priority: 80, budget: Budget { budget_ms: 5, period_ms: 50 } });
    assert_eq!(slot.allowance, ["log"]);
    // Lineage "echo" is the domain's program (entry 3); "echo-b" and "echo-c" come after the
    // domains' programs.
    assert_eq!(slot.n_version, Some(Lineages { programs: [3, 5, 6], fallback: 3, replace_after: 10 }));
    assert_eq!(slot.module_memory, 0x8_0000);
}

#[test]
fn a_slot_becomes_a_manager_and_seats() {
    let text = std::fs::read_to_string(EXAMPLE).expect("example exists");
    let c = compile("tile.toml", &text).expect("example is valid");
    let d = &c.description;
    let slot = &d.slots[0];
    let manager = &d.domains[slot.manager as usize];
    assert_eq!(manager.name, "echo-slot.manager");
    assert_eq!(manager.program, 7, "program slot-manager, after the lineages");
    assert_eq!(manager.heap_size, 0x10_0000);
    assert_eq!(manager.priority, d.domains[2].priority + 1);
    assert!(matches!(manager.restart, RestartPolicy::Always { .. }));
    // The manager serves the front endpoint; the incumbent no longer does.
    assert_eq!(d.endpoints[slot.endpoint as usize].server, Server::Domain(slot.manager));
    // Seats: the incumbent, then three new domains (max_challengers 2 + 1, N-version: at
    // least 3), the first two running lineages 1 and 2, the last the incumbent's program.
    assert_eq!(slot.seats, [2, 6, 7, 8]);
    let seat_names: Vec<&str> = slot.seats[1..].iter().map(|&s| d.domains[s as usize].name.as_str()).collect();
    assert_eq!(seat_names, ["echo-slot.seat1", "echo-slot.seat2", "echo-slot.seat3"]);
    // The verifier: the challengers' priority (no `verifier_priority`), its own budget, two
    // capabilities: the front endpoint with the verifier's badge (local name "manager") and
    // the console's endpoint with a badge of its own (its lines whole).
    let verifier = &d.domains[slot.verifier as usize];
    let challenger_priority = d.domains[slot.seats[1] as usize].priority;
    assert_eq!((verifier.name.as_str(), verifier.program, verifier.priority), ("echo-slot.verifier", 8, challenger_priority));
    assert_eq!(verifier.budget, Some(Budget { budget_ms: 10, period_ms: 20 }));
    assert_eq!(verifier.names, [("manager".to_string(), d.endpoints[slot.endpoint as usize].name.clone())]);
    let held: Vec<(u32, u64)> = d
        .endpoints
        .iter()
        .enumerate()
        .flat_map(|(e, x)| x.clients.iter().filter(|c| c.domain == slot.verifier).map(move |c| (e as u32, c.badge)))
        .collect();
    let log = d.endpoints.iter().position(|e| e.name == "log").expect("log") as u32;
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.contains(&(slot.endpoint, tileos_sysdesc::VERIFIER_BADGE)), "{held:?}");
    let (_, console_badge) = *held.iter().find(|(e, _)| *e == log).expect("the verifier is a client of the console");
    let log_badges: Vec<u64> = d.endpoints[log as usize].clients.iter().map(|c| c.badge).collect();
    assert_eq!(log_badges.iter().filter(|&&b| b == console_badge).count(), 1, "the verifier's console badge is its own: {log_badges:?}");
    assert!(d.notifications.iter().all(|n| n.waiter != slot.verifier && n.signallers.iter().all(|s| s.domain != slot.verifier)));
    assert!(d.shared_regions.iter().all(|r| r.mappings.iter().all(|m| m.domain != slot.verifier)));
    let programs: Vec<u32> = slot.seats.iter().map(|&s| d.domains[s as usize].program).collect();
    assert_eq!(programs, [3, 5, 6, 3]);
    for (k, &seat) in slot.seats.iter().enumerate() {
        let domain = &d.domains[seat as usize];
        let front = &d.endpoints[slot.endpoint as usize];
        assert!(front.clients.iter().any(|c| c.domain == seat && c.badge == SEAT_BADGE | k as u64), "seat {k}");
        assert_eq!(domain.local_name(&front.name), "slot");
        if k > 0 {
            assert_eq!(domain.restart, RestartPolicy::Never);
            assert_eq!((domain.priority, domain.budget), (80, Some(Budget { budget_ms: 5, period_ms: 50 })));
            // The allowance: "log", as a client with a badge of its own.
            let log = d.endpoints.iter().find(|e| e.name == "log").expect("log");
            assert!(log.clients.iter().any(|c| c.domain == seat));
        }
    }
    assert!(!d.starts_at_boot(8), "seat 3 is the spare");
    assert!(d.starts_at_boot(6) && d.starts_at_boot(2));
    let faults = &d.notifications[slot.seat_faults as usize];
    assert_eq!((faults.name.as_str(), faults.waiter), ("echo-slot.seat-faults", slot.manager));
    let supervisor = d.supervisor_endpoint().expect("added");
    assert!(supervisor.clients.iter().any(|c| c.domain == slot.manager));
}

#[test]
fn example_round_trips_through_the_archive() {
    let dir = program_dir("round-trip", &PROGRAMS);
    let programs = Programs { overrides: Vec::new(), dirs: vec![dir.clone()] };
    let bytes = build(Path::new(EXAMPLE), &programs).expect("example builds");
    let (archive, loaded) = load(&bytes).expect("archive loads");
    let text = std::fs::read_to_string(EXAMPLE).expect("example exists");
    assert_eq!(loaded, compile("tile.toml", &text).expect("valid").description);
    assert_eq!(archive.len(), 1 + PROGRAMS.len());
    for domain in &loaded.domains {
        let entry = archive.entry(domain.program as usize).expect("program entry");
        let original = std::fs::read(dir.join(entry.name)).expect("ELF");
        assert_eq!(entry.data, tileos_imagebuild::loadable_only(&original).expect("reducible").as_slice());
    }
}

#[test]
fn overrides_win_and_must_be_used() {
    let dir = program_dir("overrides", &PROGRAMS);
    let special = dir.join("special-echo");
    std::fs::write(&special, fake_elf("special")).expect("write");
    let programs = Programs { overrides: vec![("echo".into(), special.clone())], dirs: vec![dir.clone()] };
    let bytes = build(Path::new(EXAMPLE), &programs).expect("builds");
    let (archive, _) = load(&bytes).expect("loads");
    assert_eq!(archive.find("echo").expect("echo entry").1.data, fake_elf("special").as_slice());

    let unused = Programs { overrides: vec![("nope".into(), special)], dirs: vec![dir] };
    let err = build(Path::new(EXAMPLE), &unused).expect_err("unused override");
    assert!(matches!(err, Error::UnusedProgram(ref n) if n == "nope"), "{err}");
}

#[test]
fn programs_must_be_x86_64_executables() {
    let dir = program_dir("bad-elf", &PROGRAMS);
    let mut shared_object = fake_elf("so");
    shared_object[16] = 3;
    std::fs::write(dir.join("echo"), shared_object).expect("write");
    let err = build(Path::new(EXAMPLE), &Programs { overrides: Vec::new(), dirs: vec![dir.clone()] }).expect_err("ET_DYN is rejected");
    let text = std::fs::read_to_string(EXAMPLE).expect("example exists");
    let line = 1 + text.lines().position(|l| l.starts_with("program = \"echo\"")).expect("echo's program line");
    assert_eq!(
        err.to_string(),
        format!(
            "examples/tile.toml:{line}: domain \"echo\": field \"program\": {} is not an x86_64 ELF64 executable: not an executable (ET_EXEC)",
            dir.join("echo").display()
        )
    );
    assert_eq!(check_elf(b"\x7fELF"), Err("shorter than an ELF64 header"));
    assert_eq!(check_elf(&[0; 64]), Err("bad magic"));
    let mut e = fake_elf("");
    e[4] = 1;
    assert_eq!(check_elf(&e), Err("not 64-bit"));
    let mut e = fake_elf("");
    e[5] = 2;
    assert_eq!(check_elf(&e), Err("not little-endian"));
    let mut e = fake_elf("");
    e[18] = 3;
    assert_eq!(check_elf(&e), Err("not x86_64"));
}

#[test]
fn the_tool_writes_an_archive() {
    let dir = program_dir("cli", &PROGRAMS);
    let out = dir.join("archive.bin");
    let status = Command::new(env!("CARGO_BIN_EXE_tileos-imagebuild"))
        .args([EXAMPLE, "--program-dir"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("the tool runs");
    assert!(status.success());
    let bytes = std::fs::read(&out).expect("archive written");
    assert!(load(&bytes).is_ok());
}

#[test]
fn the_documented_example_is_valid() {
    let doc = std::fs::read_to_string("../../docs/system-description.md").expect("docs exist");
    let start = doc.find("Abridged:\n\n```toml\n").expect("abridged example") + "Abridged:\n\n```toml\n".len();
    let end = start + doc[start..].find("```").expect("end of example");
    let c = compile("system-description.md", &doc[start..end]).expect("documented example is valid");
    assert_eq!(c.description.domains.len(), 2);
}

#[test]
fn gdb_script_loads_the_symbols_then_each_program_with_its_link_base() {
    let dir = program_dir("gdb-script", &PROGRAMS);
    // The echo program's entry, where the script's comment says it links.
    let mut echo = fake_elf("echo");
    echo[24..32].copy_from_slice(&0x2f6a_0000_0000u64.to_le_bytes());
    std::fs::write(dir.join("echo"), echo).expect("write the echo ELF");
    let programs = Programs { overrides: Vec::new(), dirs: vec![dir.clone()] };
    let symbols = [PathBuf::from("build/dev/kernel.elf"), PathBuf::from("build/dev/rootserver.elf")];
    let script = tileos_imagebuild::gdb_script(Path::new(EXAMPLE), &programs, &symbols).expect("gdb script");
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines[..3], ["set architecture i386:x86-64", "file build/dev/kernel.elf", "add-symbol-file build/dev/rootserver.elf"]);
    let loaded: Vec<String> = lines.iter().filter_map(|l| l.strip_prefix("add-symbol-file ")).skip(1).map(String::from).collect();
    let expected: Vec<String> = PROGRAMS.iter().map(|p| dir.join(p).display().to_string()).collect();
    assert_eq!(loaded, expected, "{script}");
    assert!(script.contains("# program \"echo\" (first used by domain \"echo\"): entry 0x2f6a00000000\n"), "{script}");
    assert_eq!(lines.last(), Some(&"target remote localhost:1234"));
    // A program without an ELF fails as the archive build does, naming it.
    std::fs::remove_file(dir.join("client")).expect("remove one ELF");
    let error = tileos_imagebuild::gdb_script(Path::new(EXAMPLE), &programs, &symbols).unwrap_err().to_string();
    assert!(error.contains("no ELF for program \"client\""), "{error}");
}
