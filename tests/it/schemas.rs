//! The committed JSON Schemas are exactly what the code generates.
//! Regenerate them with `DEPLOYCTL_UPDATE_SCHEMAS=1 cargo test --test it schemas::`.

use std::path::Path;

use clap::ValueEnum;
use deployctl::cli::schema::Which;

#[test]
fn committed_schemas_match_the_code() {
    let update = std::env::var_os("DEPLOYCTL_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for which in Which::value_variants() {
        let (file, generated) = which.committed();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            if update {
                std::fs::write(&path, &generated).unwrap();
            } else {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{} out of date with the code; regenerate with:\n  DEPLOYCTL_UPDATE_SCHEMAS=1 cargo test --test it schemas::",
        stale.join(", ")
    );
}

#[test]
fn manifest_schema_is_draft_07_with_descriptions_on_every_key() {
    let schema = deployctl::manifest::schema::manifest_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let mut undocumented = Vec::new();
    let mut tables = vec![("".to_owned(), &schema)];
    for (_, def) in schema["definitions"].as_object().unwrap() {
        tables.push(("def".to_owned(), def));
    }
    for (_, table) in tables {
        for (key, prop) in table["properties"].as_object().into_iter().flatten() {
            if prop.get("description").is_none() {
                undocumented.push(key.clone());
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "keys without a doc comment: {undocumented:?}"
    );
}
