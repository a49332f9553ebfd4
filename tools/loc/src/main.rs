//! `tileos-loc DIR LIMIT`: counts the lines of Rust code under DIR the way the kernel budget
//! is defined (DESIGN.md §4) and fails when the count exceeds LIMIT.
//!
//! Counted: every line with code on it. Not counted: blank lines, comments (line, block and
//! doc comments), items marked `#[cfg(test)]` (host-only unit tests), files under `tests/`
//! directories, and `build.rs` (runs on the host at build time).

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
    let mut total = 0;
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(source) => {
                let lines = count_code_lines(&source);
                println!("{lines:>6}  {}", file.display());
                total += lines;
            }
            Err(error) => {
                eprintln!("tileos-loc: cannot read {}: {error}", file.display());
                return ExitCode::FAILURE;
            }
        }
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
    use super::count_code_lines;

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
}
