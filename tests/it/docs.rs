//! The documentation stays true to the code.

use std::collections::{BTreeSet, HashMap};

use deployctl::diagnostic::Code;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn every_diagnostic_code_is_documented_and_every_documented_code_exists() {
    let doc = read("docs/diagnostics.md");
    let documented: BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.split_whitespace().next().unwrap())
        .collect();
    let in_code: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let missing: Vec<_> = in_code.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&in_code).collect();
    assert!(
        missing.is_empty(),
        "codes without a section in docs/diagnostics.md: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "docs/diagnostics.md documents codes that no longer exist: {stale:?}"
    );
}

/// The id GitHub gives a Markdown heading: its text lowercased, with everything
/// but letters, digits, spaces, `-` and `_` removed, and spaces made `-`. A
/// repeated heading gets `-1`, `-2`, … on its later copies.
fn github_anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = BTreeSet::new();
    let mut in_code_block = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code_block = !in_code_block;
        }
        if in_code_block {
            continue;
        }
        let Some(text) = line.strip_prefix('#').map(|l| l.trim_start_matches('#')) else {
            continue;
        };
        if !text.starts_with(' ') {
            continue;
        }
        let slug: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_default();
        anchors.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    anchors
}

#[test]
fn every_diagnostic_links_to_its_section() {
    let anchors = github_anchors(&read("docs/diagnostics.md"));
    let prefix = format!(
        "{}/blob/main/docs/diagnostics.md#",
        deployctl::diagnostic::REPOSITORY
    );
    let mut broken = Vec::new();
    for code in Code::ALL {
        let url = code.url();
        let anchor = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{code}: {url} is not in docs/diagnostics.md"));
        // The section's heading must be the code itself, not a neighbour's.
        let expected = code.as_str().replace(':', "");
        if anchor != expected || !anchors.contains(anchor) {
            broken.push(format!("{code} → #{anchor}"));
        }
    }
    assert!(
        broken.is_empty(),
        "links with no matching heading in docs/diagnostics.md (a heading must hold the code \
         alone): {broken:?}"
    );
}

#[test]
fn github_anchors_follow_githubs_rules() {
    let anchors = github_anchors(
        "# Diagnostics reference\n### deployctl::plan::uneven_ranks (warning)\n\
         ```\n# not a heading\n```\n## Plan\n## Plan\n",
    );
    let expected: BTreeSet<String> = [
        "diagnostics-reference",
        "deployctlplanuneven_ranks-warning",
        "plan",
        "plan-1",
    ]
    .map(String::from)
    .into();
    assert_eq!(anchors, expected);
}

/// Every field of a diagnostic in the JSON output is described in
/// docs/validate-json.md, and the doc describes no field the output lacks.
#[test]
fn validate_json_doc_describes_every_diagnostic_field() {
    let schema: serde_json::Value =
        serde_json::from_str(&read("schemas/validate-output.schema.json")).unwrap();
    let fields: BTreeSet<String> = schema["definitions"]["JsonDiagnostic"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let doc = read("docs/validate-json.md");
    let list = doc
        .split_once("- `diagnostics`:")
        .expect("docs/validate-json.md has a `diagnostics` item")
        .1;
    let list = list.split("\n- ").next().unwrap();
    // The nested items name the fields in backticks before the first colon.
    let described: BTreeSet<String> = list
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .flat_map(|item| {
            let names = item.split(':').next().unwrap_or_default();
            names
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<_> = fields.difference(&described).collect();
    let stale: Vec<_> = described.difference(&fields).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/validate-json.md out of step with the diagnostic fields: \
         undescribed {missing:?}, no longer output {stale:?}"
    );
}

/// docs/architectures.md has one row per supported class, with its `--arch`
/// name and how it is planned from a config, and no row more.
#[test]
fn the_architecture_table_is_the_code_s() {
    use deployctl::model::architectures::{GGUF, Layout, SUPPORTED};
    let doc = read("docs/architectures.md");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), SUPPORTED.len() + GGUF.len(), "rows: {rows:#?}");
    for a in SUPPORTED {
        let how = match a.layout {
            Layout::Modelled => "modelled",
            Layout::Estimated => "estimated",
            Layout::HeadersOnly => "checkpoint",
        };
        let row = format!("| `{}` | `{}` |", a.class, a.mistralrs);
        let line = rows
            .iter()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row for {}", a.class));
        assert!(
            line.ends_with(&format!("| {how} |")),
            "{line}: expected {how}"
        );
    }
    for (arch, class) in GGUF {
        assert!(
            rows.contains(&format!("| `{arch}` | `{class}` |").as_str()),
            "no row for GGUF {arch}"
        );
    }
}
