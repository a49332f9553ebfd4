//! The recipe's integer half: the generated corpora fit the model and hash to what the
//! shipped manifest records; the manifest check names the lines that differ.

use std::path::PathBuf;

use tileos_inference::config::{CONTEXT, MAX_PROMPT};
use tileos_trainer::corpus::{Dataset, dataset_hash};
use tileos_trainer::manifest::differences;
use tileos_trainer::train::Recipe;

#[test]
fn every_example_fits_the_context_and_is_printable_ascii() {
    let r = Recipe::SHIPPED;
    for d in Dataset::ALL {
        for i in 0..r.examples + 200 {
            let (q, a) = d.example(r.seed, i);
            assert!(!q.is_empty() && q.len() <= MAX_PROMPT, "{} #{i}: `{q}`", d.name());
            assert!(q.len() + a.len() + 3 <= CONTEXT + 1, "{} #{i}: `{q}` -> `{a}`", d.name());
            assert!(q.bytes().chain(a.bytes()).all(|b| (0x20..=0x7e).contains(&b)), "{} #{i}", d.name());
        }
    }
}

#[test]
fn dataset_hashes_match_the_shipped_manifest() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../weights/manifest.json");
    let manifest = std::fs::read_to_string(&path).unwrap();
    let r = Recipe::SHIPPED;
    for d in Dataset::ALL {
        let line = format!("\"{}\": \"sha256:{}\"", d.name(), dataset_hash(d, r.seed, r.examples));
        assert!(manifest.contains(&line), "{} not in {}", line, path.display());
    }
    // Another seed is another corpus.
    assert_ne!(dataset_hash(Dataset::T1, 18, 64), dataset_hash(Dataset::T1, 17, 64));
}

#[test]
fn manifest_differences_name_each_changed_line() {
    let shipped = "{\n  \"a\": 1,\n  \"b\": 2\n}\n";
    assert!(differences(shipped, shipped).is_empty());
    let built = "{\n  \"a\": 1,\n  \"b\": 3\n}\n";
    assert_eq!(differences(shipped, built), vec![("  \"b\": 2".to_string(), "  \"b\": 3".to_string())]);
    assert_eq!(differences(shipped, "{\n").len(), 3);
}
