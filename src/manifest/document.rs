//! One TOML file of a manifest: its text, and the span of every key and value.
//!
//! We parse the text ourselves, before any layering, because figment turns TOML
//! syntax errors into strings and does not keep spans (see `docs/architecture.md`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::path::KeyPath;
use super::structure::{self, Schema};
use crate::diagnostic::{Code, Diagnostic, Place, SourceText};

#[derive(Debug, Clone)]
struct Spans {
    key: Option<Range<usize>>,
    value: Range<usize>,
}

/// A parsed file with a span index keyed by dotted path (`devices.max_memory.2`).
#[derive(Debug, Clone)]
pub struct Document {
    pub source: Arc<SourceText>,
    spans: HashMap<String, Spans>,
    /// Raw `extends` entries with their spans, read before layering so cycles and
    /// missing files point at the right entry.
    pub extends: Vec<(String, Range<usize>)>,
    /// The file's own `version` value and its span, if it sets one.
    pub version: Option<(i64, Range<usize>)>,
    /// Keys whose values failed the schema check. They are reported, and left out
    /// of the merge so the rest of the file is still checked.
    pub invalid: Vec<KeyPath>,
    /// The file's values as the merge takes them: parsed once, here, and
    /// read straight into figment's model. Taken by the loader.
    pub values: Option<figment::value::Dict>,
}

impl Document {
    /// Parses `source` and checks it against the manifest schema. Returns `None`
    /// on a syntax error; structural errors leave `valid` false.
    pub fn parse(
        source: Arc<SourceText>,
        schema: &Schema,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Document> {
        let (table, errors) = DeTable::parse_recoverable(source.text());
        if !errors.is_empty() {
            // After the first syntax error the parser is guessing; later errors
            // are mostly echoes of it, so report the first one alone.
            for error in errors.into_iter().take(1) {
                let span = error.span().unwrap_or(0..0);
                let message = error.message().trim_end().to_owned();
                diagnostics.push(
                    Diagnostic::error(
                        Code::Syntax,
                        Place::Span {
                            source: source.clone(),
                            span,
                        },
                        format!("invalid TOML: {}", first_line(&message)),
                    )
                    .label(first_line(&message).to_owned())
                    .help("fix the TOML syntax; see https://toml.io/en/v1.0.0"),
                );
            }
            return None;
        }
        let invalid = structure::check(schema, &table, &source, diagnostics);

        let mut spans = HashMap::new();
        index_table(table.get_ref(), &mut String::new(), &mut spans);
        let extends = match table.get_ref().get("extends").map(Spanned::get_ref) {
            Some(DeValue::Array(items)) => items
                .iter()
                .filter_map(|v| v.get_ref().as_str().map(|s| (s.to_owned(), v.span())))
                .collect(),
            _ => Vec::new(),
        };
        let version = table
            .get_ref()
            .get("version")
            .and_then(|v| match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .map(|n| (n, v.span())),
                _ => None,
            });
        let values = serde::Deserialize::deserialize(toml::de::Deserializer::from(table)).ok();
        Some(Document {
            source,
            spans,
            extends,
            version,
            invalid,
            values,
        })
    }

    /// Span of the value at `path`.
    pub fn value_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.spans.get(&path.dotted()).map(|s| s.value.clone())
    }

    /// Span of the key at `path`, or of the value for array elements.
    pub fn key_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.spans
            .get(&path.dotted())
            .map(|s| s.key.clone().unwrap_or_else(|| s.value.clone()))
    }

    /// 1-based line of the key (or element) at `path`.
    pub fn line_of(&self, path: &KeyPath) -> Option<usize> {
        self.key_span(path).map(|s| self.source.line_col(s.start).0)
    }

    pub fn place(&self, span: Range<usize>) -> Place {
        Place::Span {
            source: self.source.clone(),
            span,
        }
    }
}

/// Indexes every key and element under `dotted` (a `KeyPath::dotted`
/// prefix, extended in place and restored: one buffer for the whole walk).
fn index_table(table: &DeTable<'_>, dotted: &mut String, spans: &mut HashMap<String, Spans>) {
    for (key, value) in table {
        let len = dotted.len();
        if len > 0 {
            dotted.push('.');
        }
        dotted.push_str(key.get_ref());
        spans.insert(
            dotted.clone(),
            Spans {
                key: Some(key.span()),
                value: value.span(),
            },
        );
        index_value(value.get_ref(), dotted, spans);
        dotted.truncate(len);
    }
}

fn index_value(value: &DeValue<'_>, dotted: &mut String, spans: &mut HashMap<String, Spans>) {
    match value {
        DeValue::Table(table) => index_table(table, dotted, spans),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = dotted.len();
                if len > 0 {
                    dotted.push('.');
                }
                let _ = write!(dotted, "{i}");
                spans.insert(
                    dotted.clone(),
                    Spans {
                        key: None,
                        value: item.span(),
                    },
                );
                index_value(item.get_ref(), dotted, spans);
                dotted.truncate(len);
            }
        }
        _ => {}
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Whether a `*.toml` file is a manifest: its top-level table (before the first
/// `[header]`) has a `version =` line. Text-only, so a file with broken syntax
/// is still recognised and reported.
pub fn looks_like_manifest(text: &str) -> bool {
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('[') {
            return false;
        }
        if let Some(rest) = line.strip_prefix("version") {
            if rest.trim_start().starts_with('=') {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_manifests_by_top_level_version() {
        assert!(looks_like_manifest("#:schema x\nversion = 1\n[model]\n"));
        assert!(looks_like_manifest("name = \"a\"\n  version=1"));
        assert!(!looks_like_manifest("[package]\nversion = \"1.0\"\n"));
        assert!(!looks_like_manifest("versions = 1\n"));
    }

    #[test]
    fn indexes_keys_values_and_elements() {
        let text = "version = 1\n[devices]\nmax_memory = [\"15GB\", \"20GB\"]\n";
        let source = SourceText::new("d.toml", text);
        let mut diags = Vec::new();
        let doc = Document::parse(source, &Schema::manifest(), &mut diags).unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        let path = KeyPath::parse("devices.max_memory.1");
        let span = doc.value_span(&path).unwrap();
        assert_eq!(&text[span], "\"20GB\"");
        assert_eq!(doc.line_of(&KeyPath::parse("devices.max_memory")), Some(3));
    }
}
