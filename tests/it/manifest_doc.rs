//! `docs/manifest.md` documents exactly the keys of the manifest's JSON Schema,
//! every value of each enumerated key, and the built-in defaults the code applies.
//!
//! A key's row is a table row whose first cell is the key path in backticks, in a
//! table whose first header cell is `Key`. Keys inside the tables of a list are
//! written with `[]`: `parallelism.map[].gpu`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::support;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// What the schema says about one key.
#[derive(Debug, Default)]
struct SchemaKey {
    /// The `const` choices of an enumerated key.
    choices: BTreeSet<String>,
}

/// Every key path of the schema, through `$ref`, `allOf`, `anyOf`, `oneOf` and
/// array `items`.
fn schema_keys(schema: &Value) -> BTreeMap<String, SchemaKey> {
    let mut keys = BTreeMap::new();
    walk(schema, schema, "", &mut keys, &mut Vec::new());
    keys
}

fn walk(
    root: &Value,
    node: &Value,
    path: &str,
    keys: &mut BTreeMap<String, SchemaKey>,
    refs: &mut Vec<String>,
) {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        // A definition that contains itself would recurse forever.
        if refs.iter().any(|r| r == reference) {
            return;
        }
        let name = reference
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        let target = &root["definitions"][name];
        assert!(!target.is_null(), "dangling $ref {reference}");
        refs.push(reference.to_owned());
        walk(root, target, path, keys, refs);
        refs.pop();
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        for alternative in node
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(root, alternative, path, keys, refs);
        }
    }
    if let Some(choice) = node.get("const").and_then(Value::as_str) {
        keys.entry(path.to_owned())
            .or_default()
            .choices
            .insert(choice.to_owned());
    }
    if let Some(items) = node.get("items") {
        walk(root, items, &format!("{path}[]"), keys, refs);
    }
    for (key, value) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        keys.entry(child.clone()).or_default();
        walk(root, value, &child, keys, refs);
    }
}

/// One key's row in the doc.
#[derive(Debug)]
struct Row {
    default: String,
    /// Every backticked word of the row, with the values of the tables the row
    /// links to (`[quantization values](#quantization-values)`).
    words: BTreeSet<String>,
}

/// The text between backticks.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

/// The id GitHub gives a heading, for the links between sections.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn doc_rows(doc: &str) -> BTreeMap<String, Row> {
    // First pass: the first cells of the tables under each heading whose first
    // header cell is not `Key` (lists of values).
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut key_rows: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    let mut header: Option<String> = None;
    // The line after a header row must be the `|---|` separator.
    let mut separator_next = false;
    let mut in_code_block = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        if let Some(text) = line.strip_prefix('#') {
            section = anchor(text.trim_start_matches('#'));
            continue;
        }
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let row = cells(line);
        if separator_next {
            assert!(
                row[0].starts_with("---"),
                "a table of docs/manifest.md has no `|---|` line under its header: {line}"
            );
            separator_next = false;
            continue;
        }
        let Some(kind) = &header else {
            header = Some(row[0].to_owned());
            separator_next = true;
            continue;
        };
        let Some(first) = backticked(row[0]).next() else {
            panic!("a row of docs/manifest.md does not start with a backticked name: {line}");
        };
        if kind == "Key" {
            assert_eq!(
                row.len(),
                5,
                "a key row needs Key, Type, Default, Example and Description: {line}"
            );
            key_rows.push((first.to_owned(), row[2].to_owned(), line.to_owned()));
        } else {
            values
                .entry(section.clone())
                .or_default()
                .insert(first.to_owned());
        }
    }
    let mut rows = BTreeMap::new();
    for (key, default, line) in key_rows {
        let mut words: BTreeSet<String> = backticked(&line).map(str::to_owned).collect();
        for link in line.split("](#").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            let listed = values
                .get(target)
                .unwrap_or_else(|| panic!("`{key}` links to #{target}, which lists no values"));
            words.extend(listed.iter().cloned());
        }
        let previous = rows.insert(key.clone(), Row { default, words });
        assert!(
            previous.is_none(),
            "`{key}` has two rows in docs/manifest.md"
        );
    }
    rows
}

#[test]
fn every_schema_key_is_documented_and_every_documented_key_exists() {
    let schema: Value = serde_json::from_str(&read("schemas/deploy.schema.json")).unwrap();
    let in_schema = schema_keys(&schema);
    let rows = doc_rows(&read("docs/manifest.md"));
    let schema_paths: BTreeSet<&String> = in_schema.keys().filter(|k| !k.is_empty()).collect();
    let doc_paths: BTreeSet<&String> = rows.keys().collect();
    let missing: Vec<_> = schema_paths.difference(&doc_paths).collect();
    let stale: Vec<_> = doc_paths.difference(&schema_paths).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/manifest.md is out of step with schemas/deploy.schema.json:\n\
         keys without a row: {missing:?}\n\
         rows for keys the schema does not have: {stale:?}"
    );
}

#[test]
fn every_choice_of_an_enumerated_key_is_documented() {
    let schema: Value = serde_json::from_str(&read("schemas/deploy.schema.json")).unwrap();
    let rows = doc_rows(&read("docs/manifest.md"));
    let mut undocumented = Vec::new();
    for (path, key) in schema_keys(&schema) {
        let Some(row) = rows.get(&path) else { continue };
        for choice in &key.choices {
            if !row.words.contains(choice) {
                undocumented.push(format!("{path} = \"{choice}\""));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "values the schema accepts that docs/manifest.md does not list: {undocumented:?}"
    );
}

/// The built-in defaults, as `deployctl config --show-origin` prints them for a
/// manifest that sets only what is required.
fn builtin_defaults() -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deploy.toml");
    std::fs::write(
        &manifest,
        "version = 1\n\n[model]\nsource = \"Qwen/Qwen2-VL-7B-Instruct\"\n",
    )
    .unwrap();
    let text = support::stdout_of(
        support::deployctl()
            .args(["config", "--show-origin"])
            .arg(&manifest)
            .env("NO_COLOR", "1"),
    );
    let mut defaults = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_owned();
            continue;
        }
        let Some((assignment, origin)) = line.split_once('#') else {
            continue;
        };
        if origin.trim() != "default" {
            continue;
        }
        let (key, value) = assignment
            .split_once('=')
            .unwrap_or_else(|| panic!("unexpected line in `config` output: {line}"));
        let path = if table.is_empty() {
            key.trim().to_owned()
        } else {
            format!("{table}.{}", key.trim())
        };
        defaults.insert(path, value.trim().to_owned());
    }
    defaults
}

#[test]
fn documented_defaults_are_the_built_in_ones() {
    let rows = doc_rows(&read("docs/manifest.md"));
    let defaults = builtin_defaults();
    assert!(
        defaults.contains_key("server.port"),
        "no defaults found in `deployctl config` output: {defaults:?}"
    );
    let mut wrong = Vec::new();
    for (path, value) in &defaults {
        let documented = rows.get(path).map(|r| r.default.as_str());
        if documented != Some(format!("`{value}`").as_str()) {
            wrong.push(format!(
                "{path}: the code's default is `{value}`, docs/manifest.md says {documented:?}"
            ));
        }
    }
    // A literal default in the doc that the code does not apply is wrong too.
    for (path, row) in &rows {
        if row.default.starts_with('`') && !defaults.contains_key(path) {
            wrong.push(format!(
                "{path}: docs/manifest.md gives the default {}, but the code sets none",
                row.default
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_schema_walk_sees_nested_and_listed_keys() {
    let schema: Value = serde_json::from_str(&read("schemas/deploy.schema.json")).unwrap();
    let keys = schema_keys(&schema);
    for path in [
        "devices.expect.min_compute_capability",
        "parallelism.map[].gpu",
        "server.api_key.env",
    ] {
        assert!(
            keys.contains_key(path),
            "{path} not found: {:?}",
            keys.keys()
        );
    }
    assert!(keys["precision.dtype"].choices.contains("bf16"));
}
