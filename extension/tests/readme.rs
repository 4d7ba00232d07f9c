//! The README documents every metric of the catalogue and every configuration variable.
#![allow(clippy::panic, reason = "a test helper fails the test loudly")]

use lambda_lens::{catalogue, vars};

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_metric_is_in_the_readme_table_with_its_unit() {
    let readme = readme();
    for def in catalogue::ALL {
        let row = format!("| `{}` | {} |", def.name, def.unit.as_str());
        assert!(readme.contains(&row), "README lacks the row start {row:?}");
    }
}

#[test]
fn every_variable_is_in_the_readme_table() {
    let readme = readme();
    for var in vars::USER_SETTABLE {
        assert!(readme.contains(&format!("| `{var}` |")), "README lacks {var}");
    }
}
