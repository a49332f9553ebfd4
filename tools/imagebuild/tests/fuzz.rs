//! Property-based fuzzing of the TOML front end (the issue-5 host fuzz target for the
//! description parser): random mutations of the valid example never panic, every error
//! carries a line inside the file, and whatever is accepted is a description that passes
//! `check` and round-trips through postcard.

use proptest::prelude::*;
use tileos_imagebuild::compile;
use tileos_sysdesc::SystemDescription;

const EXAMPLE: &str = include_str!("../examples/tile.toml");

/// Replacement tokens that hit the interesting paths: ranges, types, names, syntax.
const TOKENS: [&str; 24] = [
    "300",
    "-1",
    "0",
    "1",
    "0x1001",
    "0x7fff_ffff_f000",
    "9223372036854775807",
    "\"x\"",
    "\"net\"",
    "\"console\"",
    "true",
    "1.5",
    "[]",
    "{}",
    "[[domain]]",
    "[tile]",
    "=",
    "\"",
    "[",
    "]",
    ",",
    "\n",
    "#",
    "name",
];

/// Replacement values that are valid TOML but often break a rule of the description.
const VALUES: [&str; 24] = [
    "300",
    "-1",
    "0",
    "1",
    "4",
    "11",
    "0x1001",
    "0x4000_0000",
    "0x7fff_ffff_f000",
    "9223372036854775807",
    "\"x\"",
    "\"net\"",
    "\"console\"",
    "\"echo\"",
    "\"never\"",
    "\"always\"",
    "\"rwx\"",
    "\"edge\"",
    "true",
    "1.5",
    "[]",
    "[1, 1]",
    "{}",
    "[{ domain = \"net\", badge = 1 }]",
];

/// One edit of the text.
#[derive(Clone, Debug)]
enum Edit {
    /// Delete the line at this index.
    DeleteLine(prop::sample::Index),
    /// Duplicate the line at this index.
    DuplicateLine(prop::sample::Index),
    /// Swap two lines.
    SwapLines(prop::sample::Index, prop::sample::Index),
    /// Replace one whitespace-separated word with a token.
    ReplaceWord(prop::sample::Index, prop::sample::Index),
    /// Replace the value of one `key = value` line with one of [`VALUES`].
    ReplaceValue(prop::sample::Index, prop::sample::Index),
    /// Insert a character at a character position.
    InsertChar(prop::sample::Index, char),
    /// Delete the character at a position.
    DeleteChar(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<prop::sample::Index>().prop_map(Edit::DeleteLine),
        1 => any::<prop::sample::Index>().prop_map(Edit::DuplicateLine),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Edit::ReplaceWord(a, b)),
        4 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Edit::ReplaceValue(a, b)),
        1 => (any::<prop::sample::Index>(), any::<char>()).prop_map(|(a, c)| Edit::InsertChar(a, c)),
        1 => any::<prop::sample::Index>().prop_map(Edit::DeleteChar),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut chars: Vec<char> = text.chars().collect();
    match edit {
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Edit::ReplaceWord(w, t) => {
            // Byte ranges of the maximal runs of non-whitespace characters.
            let mut words: Vec<(usize, usize)> = Vec::new();
            let mut start = None;
            for (at, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
                match (c.is_whitespace(), start) {
                    (false, None) => start = Some(at),
                    (true, Some(s)) => {
                        words.push((s, at));
                        start = None;
                    }
                    _ => {}
                }
            }
            if words.is_empty() {
                return text.to_string();
            }
            let (start, end) = words[w.index(words.len())];
            return format!("{}{}{}", &text[..start], TOKENS[t.index(TOKENS.len())], &text[end..]);
        }
        Edit::ReplaceValue(l, v) => {
            let assignments: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
            if assignments.is_empty() {
                return text.to_string();
            }
            let line = &mut lines[assignments[l.index(assignments.len())]];
            let start = line.find(" = ").map_or(0, |at| at + 3);
            let end = line[start..].find('#').map_or(line.len(), |at| start + at);
            line.replace_range(start..end, VALUES[v.index(VALUES.len())]);
        }
        Edit::InsertChar(i, c) => {
            chars.insert(i.index(chars.len() + 1), *c);
            return chars.into_iter().collect();
        }
        Edit::DeleteChar(i) if !chars.is_empty() => {
            chars.remove(i.index(chars.len()));
            return chars.into_iter().collect();
        }
        _ => return text.to_string(),
    }
    lines.join("\n")
}

/// Runs the front end on `text` and checks the properties.
fn check_properties(text: &str) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    match compile("tile.toml", text) {
        Ok(c) => {
            prop_assert_eq!(c.description.check(c.programs.len() + 1), Ok(()));
            prop_assert_eq!(SystemDescription::decode(&c.description.encode()), Ok(c.description.clone()));
        }
        Err(d) => {
            prop_assert!(d.line >= 1 && d.line <= lines, "line {} of {}: {}", d.line, lines, d);
            let shown = d.to_string();
            prop_assert!(shown.starts_with(&format!("tile.toml:{}: ", d.line)), "{}", shown);
            prop_assert!(!d.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_example_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        let mut text = EXAMPLE.to_string();
        for e in &edits {
            text = apply(&text, e);
        }
        check_properties(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check_properties(&text)?;
    }
}

#[test]
fn the_example_passes() {
    assert!(compile("tile.toml", EXAMPLE).is_ok());
}
