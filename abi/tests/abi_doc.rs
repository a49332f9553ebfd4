//! docs/abi.md §11 shows the invocation table generated from the one definition of every
//! invocation (`tileos_abi::invocation::TABLE`). This test fails, with a line diff, when the
//! document and the definitions disagree (a label, a name, an argument or its order);
//! `TILEOS_UPDATE_ABI_DOC=1 cargo test -p tileos-abi --test abi_doc` rewrites the table.

use tileos_abi::invocation::DocTable;

const BEGIN: &str = "<!-- invocation table: generated from abi/src/invocation/mod.rs -->\n";
const END: &str = "<!-- end of invocation table -->\n";

fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/abi.md")
}

#[test]
fn abi_doc_invocation_table_is_current() {
    let path = doc_path();
    let text = std::fs::read_to_string(&path).expect("docs/abi.md");
    let start = text.find(BEGIN).expect("docs/abi.md: invocation table begin marker missing") + BEGIN.len();
    let end = start + text[start..].find(END).expect("docs/abi.md: invocation table end marker missing");
    let expected = DocTable.to_string();
    let current = &text[start..end];
    if current == expected {
        return;
    }
    if std::env::var_os("TILEOS_UPDATE_ABI_DOC").is_some() {
        std::fs::write(&path, format!("{}{}{}", &text[..start], expected, &text[end..])).expect("write docs/abi.md");
        return;
    }
    let (old, new): (Vec<&str>, Vec<&str>) = (current.lines().collect(), expected.lines().collect());
    let mut diff = String::new();
    for line in &old {
        if !new.contains(line) {
            diff += &format!("- {line}\n");
        }
    }
    for line in &new {
        if !old.contains(line) {
            diff += &format!("+ {line}\n");
        }
    }
    panic!(
        "docs/abi.md §11: the invocation table does not match the definitions in abi/src/invocation/mod.rs \
         (- in the document, + from the definitions):\n{diff}\nrun `TILEOS_UPDATE_ABI_DOC=1 cargo test -p tileos-abi --test abi_doc` to regenerate it"
    );
}
