//! Keeping `server.api_key` out of diagnostics: whatever a manifest or an
//! override writes there (a stray literal, a table, a list), no diagnostic
//! shows its source lines or quotes its strings.

use std::ops::Range;
use std::path::PathBuf;

use super::document::Document;
use super::layers;
use super::overrides::Overrides;
use super::path::KeyPath;
use crate::diagnostic::{Diagnostic, Place};

/// Where the secrets sit: per file, the lines of `server.api_key`'s value;
/// and every string written under it, in files and overrides.
#[derive(Debug, Default)]
pub(super) struct Secrets {
    lines: Vec<(PathBuf, Range<usize>)>,
    strings: Vec<String>,
}

const KEY: &str = "server.api_key";

impl Secrets {
    pub(super) fn find(documents: &[Document], overrides: &Overrides) -> Secrets {
        let mut secrets = Secrets::default();
        let key = KeyPath::parse(KEY);
        for doc in documents {
            let Some(span) = doc.value_span(&key) else {
                continue;
            };
            let value = doc.source.text().get(span.clone()).unwrap_or_default();
            let found = secret_strings(value);
            if found.is_empty() && !matches!(parse(value), None | Some(toml::Value::Integer(_))) {
                continue; // `{ env = "NAME" }` or `{ file = "/path" }`: nothing secret
            }
            let first = doc.source.line_col(span.start).0;
            let last = doc
                .source
                .line_col(span.end.saturating_sub(1).max(span.start))
                .0;
            secrets
                .lines
                .push((doc.source.path().to_path_buf(), first..last + 1));
            secrets.strings.extend(found);
        }
        let set = overrides.sets.iter().filter_map(|flag| {
            let (key, value) = flag.split_once('=')?;
            key.trim().starts_with(KEY).then(|| value.trim().to_owned())
        });
        let env = overrides.env.iter().filter_map(|(name, value)| {
            let key = layers::env_key(name)?;
            key.dotted().starts_with(KEY).then(|| value.clone())
        });
        secrets
            .strings
            .extend(set.chain(env).filter(|s| !s.is_empty()));
        // Longest first, so that a secret containing another is replaced whole.
        secrets.strings.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }

    /// Hides the source lines of any diagnostic whose snippet would show the
    /// secret's lines (miette prints a line of context each side), and
    /// replaces the secret's strings in every text.
    pub(super) fn redact(&self, diagnostics: &mut [Diagnostic]) {
        for d in diagnostics {
            if let Place::Span { source, span } = &d.place {
                let line = source.line_col(span.start).0;
                let shown = line.saturating_sub(1)..line + 2;
                if self
                    .lines
                    .iter()
                    .any(|(path, lines)| path == source.path() && overlaps(lines, &shown))
                {
                    d.redact = true;
                }
            }
            for s in &self.strings {
                for text in [&mut d.message, &mut d.label]
                    .into_iter()
                    .chain(d.help.as_mut())
                {
                    if text.contains(s.as_str()) {
                        *text = text.replace(s.as_str(), "<redacted>");
                    }
                }
                for note in &mut d.notes {
                    if note.text.contains(s.as_str()) {
                        note.text = note.text.replace(s.as_str(), "<redacted>");
                    }
                }
                if let Place::Flag(flag) | Place::Env(flag) = &mut d.place {
                    if flag.contains(s.as_str()) {
                        *flag = flag.replace(s.as_str(), "<redacted>");
                    }
                }
            }
        }
    }
}

/// The value as TOML, when it parses as one on its own.
fn parse(value: &str) -> Option<toml::Value> {
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()?
        .remove("v")
}

/// The strings of an `api_key` value that may be the key itself: all of them,
/// but an `env` that names a variable and a `file` path.
fn secret_strings(value: &str) -> Vec<String> {
    fn strings(v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::String(s) if !s.is_empty() => out.push(s.clone()),
            toml::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            toml::Value::Table(t) => t.values().for_each(|i| strings(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match parse(value) {
        Some(toml::Value::Table(table)) => {
            for (key, v) in &table {
                let named = |s: &str| {
                    !s.is_empty()
                        && !s.starts_with(|c: char| c.is_ascii_digit())
                        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                match (key.as_str(), v) {
                    ("env", toml::Value::String(s)) if named(s) => {}
                    ("file", toml::Value::String(_)) => {}
                    _ => strings(v, &mut out),
                }
            }
        }
        Some(v) => strings(&v, &mut out),
        // Not a value on its own (a `[server.api_key]` table's lines): every
        // quoted string in it.
        None => out.extend(
            value
                .split(['"', '\''])
                .skip(1)
                .step_by(2)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        ),
    }
    out
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}
