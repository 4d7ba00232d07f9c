//! The README documents every metric of the catalogue and every configuration variable. Its
//! metric table is made from the catalogue: `UPDATE_README=1 cargo test --test readme` rewrites
//! it (review the diff); otherwise a table that differs from the catalogue fails.
#![allow(clippy::panic, clippy::unwrap_used, reason = "a test fails loudly")]

use lambda_lens::{catalogue, vars};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
const BEGIN: &str = "<!-- metric-table:begin (generated from the catalogue by `UPDATE_README=1 cargo test --test readme`) -->";
const END: &str = "<!-- metric-table:end -->";

fn readme() -> String {
    std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("{PATH}: {e}"))
}

fn metric_table() -> String {
    let mut table =
        String::from("| metric | unit | group | by default | source and meaning |\n|---|---|---|---|---|\n");
    for def in catalogue::ALL {
        let default = if catalogue::DEFAULT.iter().any(|d| std::ptr::eq(*d, *def)) {
            "metric"
        } else {
            "property"
        };
        table.push_str(&format!(
            "| `{}` | {} | {} | {default} | {} |\n",
            def.name,
            def.unit.as_str(),
            def.group.name(),
            def.about
        ));
    }
    table
}

#[test]
fn the_metric_table_is_the_catalogue() {
    let text = readme();
    let begin = text
        .find(BEGIN)
        .expect("README has the metric table's begin marker")
        + BEGIN.len();
    let end = text.find(END).expect("README has the metric table's end marker");
    let expected = format!("\n{}", metric_table());
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(PATH, format!("{}{expected}{}", &text[..begin], &text[end..])).unwrap();
        return;
    }
    assert_eq!(
        &text[begin..end],
        expected,
        "the README's metric table differs from the catalogue"
    );
}

#[test]
fn every_variable_is_in_the_readme_table() {
    let readme = readme();
    for var in vars::USER_SETTABLE {
        assert!(readme.contains(&format!("| `{var}` |")), "README lacks {var}");
    }
}
