use super::*;
use crate::compile;

/// A console and `clients` echo clients of one server.
fn echo_tile(clients: usize, ram: &str) -> String {
    let mut text = format!("[tile]\nname = \"t\"\n{ram}\n");
    text.push_str("[[domain]]\nname = \"console\"\nprogram = \"console\"\npriority = 200\nheap_size = 0\n");
    text.push_str("[[domain]]\nname = \"echo\"\nprogram = \"echo-server\"\npriority = 100\nheap_size = 0x10000\n");
    for i in 0..clients {
        text.push_str(&format!(
            "[[domain]]\nname = \"client-{i}\"\nprogram = \"echo-client\"\npriority = 90\nheap_size = 0\nstack_size = 0x4000\n"
        ));
    }
    text.push_str("[[endpoint]]\nname = \"echo\"\nserver = \"echo\"\nclients = [");
    for i in 0..clients {
        text.push_str(&format!("{{ domain = \"client-{i}\", badge = {} }},", i + 1));
    }
    text.push_str("]\n");
    text
}

fn rows_of(text: &str) -> (Vec<Row>, SystemDescription) {
    let compiled = compile("t.toml", text).unwrap_or_else(|d| panic!("{d}"));
    let names: Vec<&str> = compiled.programs.iter().map(|p| p.name.as_str()).collect();
    let elfs = vec![Vec::new(); names.len()];
    (rows(&compiled.description, &names, &elfs), compiled.description.clone())
}

#[test]
fn every_domain_gets_a_row_with_its_program_and_footprint() {
    let (rows, _) = rows_of(&echo_tile(2, ""));
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["console", "echo", "client-0", "client-1"]);
    assert_eq!(rows[2].program, "echo-client");
    assert_eq!(rows[1].footprint.heap, 0x10000);
    // No segments here: the stack, IPC buffer, information page, the default CNode (256
    // slots), TCB, tables and a 16-slot keeper (11 objects besides the TCB, 4 pieces).
    assert_eq!(rows[2].footprint.total(), 16 * 1024 + 8 * 1024 + 16 * 1024 + 2 * 1024 + 4 * 4096 + 1024);
}

#[test]
fn a_description_that_fits_passes_and_one_that_does_not_names_total_ram_and_largest() {
    let (rows, _) = rows_of(&echo_tile(3, ""));
    let total: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    assert_eq!(check_fit(&rows, 1 << 28, total), Ok(()));
    let error = check_fit(&rows, 1 << 28, total - 1).unwrap_err();
    assert!(error.contains(&format!("the 5 domains need {} KiB", total.div_ceil(1024))), "{error}");
    assert!(error.contains("the tile's 262144 KiB leave"), "{error}");
    // The server (its heap and the heap's tables) is the largest, then the others in
    // description order.
    assert!(error.ends_with("largest: \"echo\" 138 KiB, \"console\" 59 KiB, \"client-0\" 59 KiB"), "{error}");
}

#[test]
fn available_takes_off_the_reserve_the_archive_and_the_shared_regions() {
    let (_, description) = rows_of(&echo_tile(1, ""));
    assert_eq!(available(1 << 28, 1000, 5 << 20, &description), (1 << 28) - RESERVED - (5 << 20) - 1000);
    assert_eq!(available(1024, 1000, 5 << 20, &description), 0);
}

#[test]
fn the_root_server_counts_its_whole_file_and_its_segments_pages() {
    // Not an ELF: its file only, in whole pages.
    assert_eq!(rootserver_bytes(&[0; 5000]), 8192);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland/elf/corpus/console.elf");
    let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let exe = tileos_elf::parse(&elf).expect("the corpus ELF parses");
    let pages: u64 = exe.segments().map(|s| (s.vaddr + s.mem_size).div_ceil(4096) - s.vaddr / 4096).sum();
    assert!(pages > 0);
    assert_eq!(rootserver_bytes(&elf), (elf.len() as u64).next_multiple_of(4096) + pages * 4096);
    // A larger root server leaves as much less RAM for the domains, page for page.
    let (_, description) = rows_of(&echo_tile(1, ""));
    let grown = rootserver_bytes(&[elf.clone(), vec![0; 330_264]].concat());
    let less = available(1 << 28, 0, rootserver_bytes(&elf), &description) - available(1 << 28, 0, grown, &description);
    assert_eq!(less, grown - rootserver_bytes(&elf));
    assert!(less + 4096 > 330_264 && less < 330_264 + 4096, "{less}");
}

#[test]
fn the_table_lists_each_domain_and_the_total() {
    let (rows, _) = rows_of(&echo_tile(1, ""));
    let table = table(&rows, Some(100 * 1024));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 1, "{table}");
    assert!(lines[0].starts_with("domain"), "{table}");
    assert!(lines[2].starts_with("echo ") && lines[2].ends_with("echo-server"), "{table}");
    let total: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    assert!(lines[4].starts_with(&format!("total: {} KiB for 3 domains", total.div_ceil(1024))), "{table}");
    assert!(lines[4].ends_with("100 KiB of RAM left for domains"), "{table}");
}

#[test]
fn the_tile_states_its_ram() {
    let compiled = compile("t.toml", &echo_tile(1, "ram = 0x1000_0000")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(compiled.ram, Some(1 << 28));
    let error = compile("t.toml", &echo_tile(1, "ram = 0")).unwrap_err();
    assert!(error.to_string().contains("ram"), "{error}");
    assert_eq!(compile("t.toml", &echo_tile(1, "")).unwrap().ram, None);
}

#[test]
fn the_ram_needed_leaves_room_for_every_domain_and_no_whole_mib_more() {
    let (rows, description) = rows_of(&echo_tile(1000, ""));
    let total: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    let archive = 300 * 1024;
    let rootserver = 14 << 20;
    let ram = needed(&rows, archive, rootserver, &description);
    assert_eq!(ram % (1 << 20), 0);
    assert!(available(ram, archive, rootserver, &description) >= total);
    assert!(available(ram - (1 << 20), archive, rootserver, &description) < total);
    assert!(check_fit(&rows, ram, available(ram, archive, rootserver, &description)).is_ok());
}

/// `count` rows of minimal domains named `d0`, `d1`…
fn minimal_rows(count: usize) -> Vec<Row> {
    (0..count).map(|i| Row { name: format!("d{i}"), program: String::from("p"), footprint: Footprint::default() }).collect()
}

#[test]
fn more_domains_than_the_kernels_address_spaces_are_refused_naming_the_first_beyond() {
    let fits = (admission::ROOT_HEAP_BYTES - admission::heap_estimate(0)) / admission::HEAP_PER_DOMAIN_MEASURED;
    assert_eq!(check_limits(&minimal_rows(fits as usize)), Ok(()));
    let error = check_limits(&minimal_rows(4095)).unwrap_err();
    assert_eq!(
        error,
        "the 4095 domains need as many address spaces, but the kernel has 4094 for domains (ASIDs); the first beyond them: \"d4094\""
    );
}

#[test]
fn more_domains_than_the_root_servers_heap_holds_are_refused_naming_the_first_beyond() {
    let fits = ((admission::ROOT_HEAP_BYTES - admission::heap_estimate(0)) / admission::HEAP_PER_DOMAIN_MEASURED) as usize;
    assert_eq!(fits, 3634);
    assert_eq!(check_limits(&minimal_rows(fits)), Ok(()));
    let error = check_limits(&minimal_rows(fits + 1)).unwrap_err();
    assert_eq!(
        error,
        "the 3635 domains need about 4097 KiB of the root server's heap (1100 bytes each, measured), but it has 4096 KiB: it holds about 3634 domains; the first beyond them: \"d3634\""
    );
}

#[test]
fn a_build_is_refused_for_the_limits_even_without_the_ram() {
    let sized =
        crate::Sized { description: rows_of(&echo_tile(1, "")).1, ram: None, rows: minimal_rows(4095), rootserver: ROOTSERVER_ASSUMED };
    let error = sized.check("t.toml", None, 0).unwrap_err().to_string();
    assert!(error.starts_with("t.toml: the 4095 domains need as many address spaces"), "{error}");
}
