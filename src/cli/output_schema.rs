//! The JSON Schema of a command's output document, as committed under
//! `schemas/`: a leaf, so each command and `schema` itself can name it.

/// The draft-07 JSON Schema of an output document, pretty-printed with a
/// trailing newline, as committed under `schemas/`.
pub(crate) fn text<T: schemars::JsonSchema>() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).expect("serializable");
    text.push('\n');
    text
}
