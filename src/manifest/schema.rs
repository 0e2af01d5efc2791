//! The manifest's JSON Schema, generated from the TOML model.

use schemars::generate::SchemaSettings;
use serde_json::Value as Json;

use super::wire::RawManifest;

/// The schema as JSON. Draft-07, which taplo and VS Code's Even Better TOML read.
pub fn manifest_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<RawManifest>();
    let mut value = serde_json::to_value(schema).expect("a generated schema is valid JSON");
    strip_null(&mut value);
    value
}

/// TOML has no null: `Option<T>` fields mean "may be absent", which JSON Schema
/// already says by leaving them out of `required`. Drop the null alternatives
/// schemars adds, so editors offer only what TOML can hold.
fn strip_null(node: &mut Json) {
    if let Some(object) = node.as_object_mut() {
        if let Some(Json::Array(types)) = object.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                object.insert("type".into(), only);
            }
        }
        if let Some(Json::Array(alternatives)) = object.get("anyOf") {
            let kept: Vec<Json> = alternatives
                .iter()
                .filter(|a| a.get("type") != Some(&Json::String("null".into())))
                .cloned()
                .collect();
            object.remove("anyOf");
            match kept.as_slice() {
                // `$ref` siblings are ignored in draft-07, hence `allOf`.
                [only] if only.get("$ref").is_some() => {
                    object.insert("allOf".into(), Json::Array(kept));
                }
                [only] => {
                    for (k, v) in only.as_object().into_iter().flatten() {
                        object.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                _ => {
                    object.insert("anyOf".into(), Json::Array(kept));
                }
            }
        }
        for child in object.values_mut() {
            strip_null(child);
        }
    } else if let Some(items) = node.as_array_mut() {
        items.iter_mut().for_each(strip_null);
    }
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn manifest_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&manifest_schema()).expect("serializable");
    text.push('\n');
    text
}
