//! `tileos-loc DIR LIMIT`: counts the lines of Rust code under DIR the way the kernel budget
//! is defined (DESIGN.md §4) and fails when the count exceeds LIMIT.
//!
//! Counted: every line with code on it. Not counted: blank lines, comments (line, block and
//! doc comments), items marked `#[cfg(test)]` (host-only unit tests: inline `mod tests { … }`
//! blocks, and the files of out-of-line modules declared `#[cfg(test)] mod NAME;` together
//! with their own submodule directories), files under `tests/` directories, and `build.rs`
//! (runs on the host at build time).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Removes comments from Rust source, keeping line structure. String and character
/// literals are kept but emptied, so braces or comment markers inside them count for
/// nothing.
fn strip_comments(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut lines = vec![String::new()];
    let mut i = 0;
    let mut block_depth = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            lines.push(String::new());
            i += 1;
        } else if block_depth > 0 {
            if c == '*' && next == Some('/') {
                block_depth -= 1;
                i += 2;
            } else if c == '/' && next == Some('*') {
                block_depth += 1;
                i += 2;
            } else {
                i += 1;
            }
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            block_depth = 1;
            i += 2;
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !prev_is_ident(&chars, i) {
            // Raw string r"…" or r#"…"#: find the matching closing quote and hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                lines.last_mut().unwrap().push(c);
                i += 1;
                continue;
            }
            j += 1;
            lines.last_mut().unwrap().push_str("r\"");
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some('\n') => {
                        // Lines inside a raw string (e.g. assembly) are code lines.
                        lines.push(String::from("\""));
                        j += 1;
                    }
                    Some(_) => j += 1,
                }
            }
            lines.last_mut().unwrap().push('"');
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            lines.last_mut().unwrap().push('"');
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    j += 1;
                } else if chars[j] == '\n' {
                    lines.push(String::from("\""));
                }
                j += 1;
            }
            lines.last_mut().unwrap().push('"');
            i = j + 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            let mut j = i + 1;
            if chars.get(j) == Some(&'\\') {
                j += 1;
            }
            j += 1;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            lines.last_mut().unwrap().push_str("' '");
            i = j + 1;
        } else {
            lines.last_mut().unwrap().push(c);
            i += 1;
        }
    }
    lines
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `'x'`, `'\n'`, `'\u{..}'` are character literals; `'a` (a lifetime) is not.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// Counts non-blank code lines, skipping items marked `#[cfg(test)]`.
fn count_code_lines(source: &str) -> usize {
    let lines = strip_comments(source);
    let mut count = 0;
    let mut skipping = false;
    let mut depth: i64 = 0;
    let mut opened = false;
    for line in &lines {
        let trimmed = line.trim();
        if skipping {
            for c in trimmed.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && trimmed.ends_with(';')) {
                skipping = false;
            }
            continue;
        }
        if trimmed == "#[cfg(test)]" {
            skipping = true;
            depth = 0;
            opened = false;
            continue;
        }
        if !trimmed.is_empty() {
            count += 1;
        }
    }
    count
}

/// The names of the out-of-line modules `source` declares under `#[cfg(test)]`
/// (`#[cfg(test)] mod NAME;`, possibly with further attributes such as `#[allow(…)]` between;
/// a `#[path]` attribute is not followed).
fn cfg_test_modules(source: &str) -> Vec<String> {
    let lines = strip_comments(source);
    let mut names = Vec::new();
    let mut after_cfg_test = false;
    for line in &lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed == "#[cfg(test)]" {
            after_cfg_test = true;
            continue;
        }
        if after_cfg_test && trimmed.starts_with("#[") {
            continue;
        }
        if after_cfg_test {
            let declaration = trimmed.strip_prefix("pub(crate) ").or_else(|| trimmed.strip_prefix("pub ")).unwrap_or(trimmed);
            if let Some(name) = declaration.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')) {
                names.push(name.trim().to_string());
            }
        }
        after_cfg_test = false;
    }
    names
}

/// The files of the modules that `file` declares `#[cfg(test)] mod NAME;`: `NAME.rs` or
/// `NAME/mod.rs` in the directory its submodules live in (its own directory for `lib.rs`,
/// `main.rs` and `mod.rs`, else the directory named after it), and the directory `NAME/`
/// with everything under it (the test module's own submodules).
fn host_only_paths(file: &Path, source: &str) -> Vec<PathBuf> {
    let Some(dir) = file.parent() else { return Vec::new() };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let submodules = if matches!(stem, "lib" | "main" | "mod") { dir.to_path_buf() } else { dir.join(stem) };
    cfg_test_modules(source).into_iter().flat_map(|name| [submodules.join(format!("{name}.rs")), submodules.join(name)]).collect()
}

/// Whether `file` is, or lies under, one of the host-only `paths`.
fn is_host_only(file: &Path, paths: &BTreeSet<PathBuf>) -> bool {
    file.ancestors().any(|ancestor| paths.contains(ancestor))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "tests" && name != "target" {
                rust_files(&path, out)?;
            }
        } else if name.ends_with(".rs") && name != "build.rs" {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, limit) = match args.as_slice() {
        [dir, limit] => match limit.parse::<usize>() {
            Ok(limit) => (PathBuf::from(dir), limit),
            Err(_) => {
                eprintln!("tileos-loc: LIMIT '{limit}' is not a number");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: tileos-loc DIR LIMIT");
            return ExitCode::from(2);
        }
    };
    let mut files = Vec::new();
    if let Err(error) = rust_files(&dir, &mut files) {
        eprintln!("tileos-loc: cannot read {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    files.sort();
    let mut sources = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(source) => sources.push((file, source)),
            Err(error) => {
                eprintln!("tileos-loc: cannot read {}: {error}", file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let host_only: BTreeSet<PathBuf> = sources.iter().flat_map(|(file, source)| host_only_paths(file, source)).collect();
    let mut total = 0;
    for (file, source) in &sources {
        if is_host_only(file, &host_only) {
            println!("{:>6}  {} (host-only test module, not counted)", "-", file.display());
            continue;
        }
        let lines = count_code_lines(source);
        println!("{lines:>6}  {}", file.display());
        total += lines;
    }
    println!("{total:>6}  total lines of code in {} (limit {limit})", dir.display());
    if total > limit {
        eprintln!("tileos-loc: {} has {total} lines of code, over the limit of {limit}", dir.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::{count_code_lines, host_only_paths, is_host_only};
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    #[test]
    fn skips_blank_lines_and_all_comment_kinds() {
        let source = "//! crate doc\n\n/// item doc\nfn a() {} // trailing\n/* block\n still block */\nfn b() {}\n";
        assert_eq!(count_code_lines(source), 2);
    }

    #[test]
    fn comment_markers_and_braces_inside_strings_do_not_count() {
        let source = "let s = \"// not a comment {\";\nlet c = '{';\nlet t = r#\"/* x */\"#;\n";
        assert_eq!(count_code_lines(source), 3);
    }

    #[test]
    fn skips_cfg_test_modules_and_items() {
        let source = "fn kept() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { let x = '}'; }\n}\n#[cfg(test)]\nuse std::vec;\nfn also_kept() {}\n";
        assert_eq!(count_code_lines(source), 2);
    }

    #[test]
    fn multiline_raw_strings_count_each_line() {
        let source = "global_asm!(r#\"\n    mov rax, 1\n    ret\n\"#);\n";
        assert_eq!(count_code_lines(source), 4);
    }

    #[test]
    fn lifetimes_are_not_char_literals() {
        let source = "fn f<'a>(x: &'a str) -> &'a str {\n    x\n}\n";
        assert_eq!(count_code_lines(source), 3);
    }

    #[test]
    fn out_of_line_test_modules_are_host_only() {
        // kernel/src/cspace.rs declares `#[cfg(test)] mod tests;`: kernel/src/cspace/tests.rs
        // (and anything under kernel/src/cspace/tests/) is host-only, kernel/src/cspace/other.rs
        // is not.
        let source = "mod walk;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\n#[allow(dead_code)]\npub(crate) mod fixtures;\nfn kept() {}\n";
        let paths: BTreeSet<PathBuf> = host_only_paths(Path::new("kernel/src/cspace.rs"), source).into_iter().collect();
        assert!(is_host_only(Path::new("kernel/src/cspace/tests.rs"), &paths));
        assert!(is_host_only(Path::new("kernel/src/cspace/tests/mod.rs"), &paths));
        assert!(is_host_only(Path::new("kernel/src/cspace/tests/helpers.rs"), &paths));
        assert!(is_host_only(Path::new("kernel/src/cspace/fixtures.rs"), &paths));
        assert!(!is_host_only(Path::new("kernel/src/cspace/walk.rs"), &paths));
        assert!(!is_host_only(Path::new("kernel/src/cspace.rs"), &paths));
        // The declaration line itself is not counted either.
        assert_eq!(count_code_lines(source), 2);
    }

    #[test]
    fn test_modules_of_crate_roots_and_mod_rs_live_beside_them() {
        let source = "#[cfg(test)]\nmod tests;\n";
        for root in ["kernel/src/lib.rs", "kernel/src/main.rs", "kernel/src/arch/mod.rs"] {
            let dir = Path::new(root).parent().unwrap();
            let paths: BTreeSet<PathBuf> = host_only_paths(Path::new(root), source).into_iter().collect();
            assert!(is_host_only(&dir.join("tests.rs"), &paths), "{root}");
            assert!(is_host_only(&dir.join("tests/mod.rs"), &paths), "{root}");
        }
    }

    #[test]
    fn modules_without_cfg_test_are_counted() {
        let source = "#[cfg(feature = \"testing\")]\nmod selftest;\nmod tests;\n";
        assert!(host_only_paths(Path::new("kernel/src/lib.rs"), source).is_empty());
    }
}
