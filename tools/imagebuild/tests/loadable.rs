//! Programs go into tile images without sections, symbols or debug information: the
//! reduced ELF must load exactly as the original (same entry, same segments, same bytes).

use std::path::Path;

fn corpus(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland/elf/corpus").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn reduced_programs_load_exactly_as_the_originals() {
    for name in ["console.elf", "bench-server.elf"] {
        let original = corpus(name);
        let reduced = tileos_imagebuild::loadable_only(&original).expect("reducible");
        assert!(reduced.len() <= original.len(), "{name}: {} bytes grew to {}", original.len(), reduced.len());
        assert_eq!(tileos_imagebuild::check_elf(&reduced), Ok(()));
        let (before, after) =
            (tileos_elf::parse(&original).expect("original parses"), tileos_elf::parse(&reduced).expect("reduced parses"));
        assert_eq!(before.entry, after.entry, "{name}: entry");
        let segments = |exe: &tileos_elf::Executable| {
            exe.segments().map(|s| (s.vaddr, s.mem_size, s.data.to_vec(), s.permissions)).collect::<Vec<_>>()
        };
        assert_eq!(segments(&before), segments(&after), "{name}: segments");
        // Every loadable segment's file offset is congruent to its address (ELF rule).
        let phnum = u16::from_le_bytes([reduced[0x38], reduced[0x39]]) as usize;
        for index in 0..phnum {
            let header = &reduced[64 + 56 * index..64 + 56 * (index + 1)];
            let field = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap());
            if field(32) > 0 {
                assert_eq!(field(8) % 4096, field(16) % 4096, "{name}: segment {index} misaligned in the file");
            }
        }
    }
}

#[test]
fn truncated_program_headers_are_refused() {
    let original = corpus("console.elf");
    let mut broken = original[..64].to_vec();
    broken[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    assert_eq!(tileos_imagebuild::loadable_only(&broken), Err("program header beyond the end of the file"));
}
