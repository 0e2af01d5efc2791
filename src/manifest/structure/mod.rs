//! Checks a file's keys and value types against the JSON Schema generated from
//! the TOML model, reporting every problem with its span.
//!
//! serde stops at the first error of a struct; walking the schema instead finds
//! every unknown key and every mistyped value in one run, and keeps the schema
//! the single source of truth for what a manifest may contain.

mod compiled;

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::Value as Json;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use self::compiled::{Compiled, Kind, Kinds, Node, NodeId};
use super::path::{KeyPath, Segment};
use crate::diagnostic::{Code, Diagnostic, Place, SourceText, suggest};

/// The manifest's JSON Schema (as committed in `schemas/deploy.schema.json`),
/// compiled for checking.
pub struct Schema {
    tree: Compiled,
}

impl Schema {
    pub fn manifest() -> Self {
        Schema {
            tree: Compiled::new(&super::schema::manifest_schema()),
        }
    }

    fn node(&self, id: NodeId) -> &Node {
        self.tree.node(id)
    }

    /// The node for `path`, following tables and lists. `Err` holds the depth
    /// of the first segment that names no key, and the valid keys there.
    fn node_at(&self, path: &KeyPath) -> Result<NodeId, (usize, Vec<String>)> {
        let mut id = self.tree.root;
        for (depth, segment) in path.segments().iter().enumerate() {
            let node = self.node(id);
            id = match segment {
                Segment::Key(key) => {
                    let tables: Vec<&Node> = std::iter::once(node)
                        .chain(node.alternatives.iter().map(|a| self.node(*a)))
                        .filter(|n| !n.properties.is_empty())
                        .collect();
                    match tables.iter().find_map(|t| t.property(key)) {
                        Some(found) => found,
                        None => {
                            let valid = tables
                                .iter()
                                .flat_map(|t| t.properties.iter().map(|(k, _)| k.clone()))
                                .collect();
                            return Err((depth, valid));
                        }
                    }
                }
                Segment::Index(_) => match node.items {
                    Some(items) => items,
                    None => return Err((depth, Vec::new())),
                },
            };
        }
        Ok(id)
    }

    /// Whether the key at `path` takes strings and nothing else.
    pub fn accepts_only_strings(&self, path: &KeyPath) -> bool {
        self.node_at(path)
            .is_ok_and(|id| self.node(id).kinds.only(Kind::String))
    }

    /// Checks one override (an environment variable or `--set` flag) that sets
    /// `path` to `value`, whose text is `text`.
    pub fn check_override(
        &self,
        path: &KeyPath,
        value: &toml::Value,
        text: &str,
    ) -> Vec<Diagnostic> {
        let source = SourceText::new("override", text.to_owned());
        let walker = Walker::new(self, &source);
        let mut out = Vec::new();
        let id = match self.node_at(path) {
            Ok(id) => id,
            Err((depth, valid)) => {
                let prefix = KeyPath::from_segments(&path.segments()[..=depth]);
                let name = prefix.last_key().unwrap_or_default().to_owned();
                let valid: Vec<&str> = valid.iter().map(String::as_str).collect();
                out.push(walker.unknown_key(&name, &valid, 0..0, &prefix));
                return out;
            }
        };
        let parsed;
        let de_value = match value {
            toml::Value::String(s) => DeValue::String(s.clone().into()),
            _ => {
                parsed = DeValue::parse(text).map(Spanned::into_inner);
                match &parsed {
                    Ok(v) => v.clone(),
                    Err(_) => DeValue::String(text.into()),
                }
            }
        };
        walker.check(id, &Spanned::new(0..text.len(), de_value), path, &mut out);
        out
    }
}

/// Checks a whole document. Returns the keys whose values are invalid, so the
/// rest of the file can still be merged and checked.
pub(super) fn check(
    schema: &Schema,
    table: &Spanned<DeTable<'_>>,
    source: &Arc<SourceText>,
    out: &mut Vec<Diagnostic>,
) -> Vec<KeyPath> {
    let walker = Walker::new(schema, source);
    walker.check_table(
        schema.tree.root,
        table.get_ref(),
        table.span(),
        &KeyPath::root(),
        out,
    );
    walker.invalid.into_inner()
}

struct Walker<'a> {
    schema: &'a Schema,
    source: &'a Arc<SourceText>,
    /// Keys whose values failed the check.
    invalid: RefCell<Vec<KeyPath>>,
}

fn kind_of(value: &DeValue<'_>) -> Kind {
    match value {
        DeValue::String(_) => Kind::String,
        DeValue::Integer(_) => Kind::Integer,
        DeValue::Float(_) => Kind::Float,
        DeValue::Boolean(_) => Kind::Boolean,
        DeValue::Datetime(_) => Kind::Datetime,
        DeValue::Array(_) => Kind::Array,
        DeValue::Table(_) => Kind::Table,
    }
}

fn literal_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl<'a> Walker<'a> {
    fn new(schema: &'a Schema, source: &'a Arc<SourceText>) -> Self {
        Walker {
            schema,
            source,
            invalid: RefCell::new(Vec::new()),
        }
    }

    fn place(&self, span: std::ops::Range<usize>) -> Place {
        Place::Span {
            source: self.source.clone(),
            span,
        }
    }

    fn check(
        &self,
        id: NodeId,
        value: &Spanned<DeValue<'_>>,
        path: &KeyPath,
        out: &mut Vec<Diagnostic>,
    ) {
        let node = self.schema.node(id);
        let kind = kind_of(value.get_ref());
        if !node.kinds.contains(kind) {
            out.push(self.type_error(node.kinds, value, path));
            return;
        }

        let alts: Vec<&Node> = node
            .alternatives
            .iter()
            .map(|a| self.schema.node(*a))
            .filter(|alt| alt.kinds.contains(kind))
            .collect();
        if !alts.is_empty() {
            if alts.iter().all(|a| !a.literals.is_empty()) {
                let allowed: Vec<&Json> = alts.iter().flat_map(|a| &a.literals).collect();
                self.check_literal(&allowed, value, path, out);
                return;
            }
            let ids: Vec<NodeId> = node
                .alternatives
                .iter()
                .copied()
                .filter(|a| self.schema.node(*a).kinds.contains(kind))
                .collect();
            if let [only] = ids.as_slice() {
                self.check(*only, value, path, out);
                return;
            }
            // Several alternatives take this kind: accept if one fits, else report
            // the closest one's problems.
            let mut best: Option<Vec<Diagnostic>> = None;
            for alt in ids {
                let mut trial = Vec::new();
                self.check(alt, value, path, &mut trial);
                if trial.is_empty() {
                    return;
                }
                if best.as_ref().is_none_or(|b| trial.len() < b.len()) {
                    best = Some(trial);
                }
            }
            out.extend(best.unwrap_or_default());
            return;
        }

        if !node.literals.is_empty() {
            let allowed: Vec<&Json> = node.literals.iter().collect();
            self.check_literal(&allowed, value, path, out);
            return;
        }

        match value.get_ref() {
            DeValue::Integer(i) => {
                let n = i128::from_str_radix(i.as_str(), i.radix()).unwrap_or(i128::MAX);
                self.check_range(node, n, value, path, out);
            }
            DeValue::Array(items) => self.check_array(node, items, value, path, out),
            DeValue::Table(table) => self.check_table(id, table, value.span(), path, out),
            _ => {}
        }
    }

    fn type_error(
        &self,
        accepted: Kinds,
        value: &Spanned<DeValue<'_>>,
        path: &KeyPath,
    ) -> Diagnostic {
        let found = kind_of(value.get_ref());
        let expected: Vec<&str> = accepted.iter().map(Kind::name).collect();
        let expected = match expected.as_slice() {
            [one] => (*one).to_owned(),
            [rest @ .., last] => format!("{} or {}", rest.join(", "), last),
            [] => "nothing".to_owned(),
        };
        let mut d = Diagnostic::error(
            Code::InvalidType,
            self.place(value.span()),
            format!("`{path}` must be {expected}, found {}", found.name()),
        )
        .label(format!("this is {}", found.name()));
        let key = path.last_key().unwrap_or("value");
        if let (DeValue::String(s), false) = (value.get_ref(), accepted.contains(Kind::Table)) {
            let number = accepted.contains(Kind::Integer) && s.trim().parse::<i64>().is_ok();
            let boolean = accepted.contains(Kind::Boolean) && matches!(s.trim(), "true" | "false");
            if number || boolean {
                d = d.help(format!("remove the quotes: `{key} = {}`", s.trim()));
            } else if accepted.contains(Kind::Array) {
                d = d.help(format!(
                    "write a TOML list: `{key} = {}`",
                    list_from_words(s)
                ));
            }
        } else if accepted.contains(Kind::Table) && !accepted.contains(Kind::String) {
            d = d.help(format!(
                "`{path}` is a table: write `[{path}]` and its keys below it"
            ));
        }
        d
    }

    fn check_literal(
        &self,
        allowed: &[&Json],
        value: &Spanned<DeValue<'_>>,
        path: &KeyPath,
        out: &mut Vec<Diagnostic>,
    ) {
        let found = match value.get_ref() {
            DeValue::String(s) => Json::String(s.to_string()),
            DeValue::Boolean(b) => Json::Bool(*b),
            DeValue::Integer(i) => {
                i64::from_str_radix(i.as_str(), i.radix()).map_or(Json::Null, Json::from)
            }
            _ => Json::Null,
        };
        if allowed.contains(&&found) {
            return;
        }
        let names: Vec<String> = allowed.iter().map(|v| literal_text(v)).collect();
        let found_text = literal_text(&found);
        let mut help = String::new();
        if let Some(near) = suggest::closest(&found_text, names.iter().map(String::as_str)) {
            help = format!("did you mean `{near}`? ");
        }
        help.push_str(&format!("valid values: {}", suggest::list(&names)));
        out.push(
            Diagnostic::error(
                Code::InvalidValue,
                self.place(value.span()),
                format!("`{found_text}` is not a valid value for `{path}`"),
            )
            .label("not one of the valid values")
            .help(help),
        );
    }

    fn check_range(
        &self,
        node: &Node,
        n: i128,
        value: &Spanned<DeValue<'_>>,
        path: &KeyPath,
        out: &mut Vec<Diagnostic>,
    ) {
        let min = node.minimum;
        let max = node.maximum.into_iter().chain(node.type_maximum).min();
        let problem = match (min, max) {
            (Some(min), _) if n < min => Some(format!("at least {min}")),
            (_, Some(max)) if n > max => Some(format!("at most {max}")),
            _ => None,
        };
        if let Some(bound) = problem {
            // A type's own limit (4294967295) is no advice unless it was crossed.
            let hi = node.maximum.or(max.filter(|m| n > *m));
            let range = match (min, hi) {
                (Some(lo), Some(hi)) => format!("use a value from {lo} to {hi}"),
                (Some(lo), None) => format!("use a value of {lo} or more"),
                (None, Some(hi)) => format!("use a value of {hi} or less"),
                (None, None) => unreachable!("a bound was crossed"),
            };
            out.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    self.place(value.span()),
                    format!("`{path}` must be {bound}, found {n}"),
                )
                .label(format!("must be {bound}"))
                .help(range),
            );
        }
    }

    fn check_array(
        &self,
        node: &Node,
        items: &[Spanned<DeValue<'_>>],
        value: &Spanned<DeValue<'_>>,
        path: &KeyPath,
        out: &mut Vec<Diagnostic>,
    ) {
        let len = items.len() as u64;
        let wrong = match (node.min_items, node.max_items) {
            (Some(lo), Some(hi)) if lo == hi && len != lo => Some(format!("exactly {lo} entries")),
            (Some(lo), _) if len < lo => Some(format!("at least {lo} entries")),
            (_, Some(hi)) if len > hi => Some(format!("at most {hi} entries")),
            _ => None,
        };
        if let Some(wanted) = wrong {
            let found = if len == 1 {
                "1 entry".to_owned()
            } else {
                format!("{len} entries")
            };
            out.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    self.place(value.span()),
                    format!("`{path}` must have {wanted}, found {len}"),
                )
                .label(found),
            );
        }
        if let Some(item_schema) = node.items {
            for (i, item) in items.iter().enumerate() {
                self.check(item_schema, item, &path.index(i), out);
            }
        }
    }

    fn check_table(
        &self,
        id: NodeId,
        table: &DeTable<'_>,
        span: std::ops::Range<usize>,
        path: &KeyPath,
        out: &mut Vec<Diagnostic>,
    ) {
        let node = self.schema.node(id);
        for (key, item) in table {
            let name = key.get_ref().as_ref();
            let child = path.key(name);
            let before = out.len();
            match node.property(name) {
                Some(sub) => {
                    self.check(sub, item, &child, out);
                    // Tables report their own bad keys; other values go whole.
                    let whole = !item.get_ref().is_table()
                        || !self.schema.node(sub).kinds.contains(Kind::Table);
                    if out.len() > before && whole {
                        self.invalid.borrow_mut().push(child.clone());
                    }
                }
                None if node.closed => {
                    let valid: Vec<&str> =
                        node.properties.iter().map(|(k, _)| k.as_str()).collect();
                    out.push(self.unknown_key(name, &valid, key.span(), &child));
                    self.invalid.borrow_mut().push(child.clone());
                }
                None => {}
            }
        }
        for name in &node.required {
            if !table.contains_key(name.as_str()) {
                out.push(
                    Diagnostic::error(
                        Code::MissingKey,
                        self.place(span.clone()),
                        format!("missing key `{name}` in `{path}`"),
                    )
                    .label(format!("needs `{name}`"))
                    .help(format!("add `{name} = ...` here")),
                );
                // Incomplete, the table is no value at all.
                self.invalid.borrow_mut().push(path.clone());
            }
        }
    }

    fn unknown_key(
        &self,
        name: &str,
        valid: &[&str],
        span: std::ops::Range<usize>,
        path: &KeyPath,
    ) -> Diagnostic {
        let table = path.table_display();
        let snake = name.replace('-', "_").to_ascii_lowercase();
        let elsewhere = self
            .schema
            .tree
            .keys
            .iter()
            .find(|(t, k)| *k == snake && !t.is_empty() && !valid.contains(&k.as_str()));
        let help = if let Some(near) = suggest::closest(name, valid.iter().copied()) {
            format!("did you mean `{near}`?")
        } else if let Some((t, k)) = elsewhere {
            format!("`{k}` belongs in `[{t}]`: move it under that table")
        } else if valid.is_empty() {
            "remove it".to_owned()
        } else {
            format!("valid keys in {table}: {}", suggest::list(valid))
        };
        Diagnostic::error(
            Code::UnknownKey,
            self.place(span),
            format!("unknown key `{name}` in {table}"),
        )
        .label("unknown key")
        .help(help)
    }
}

/// `"0, 1 2"` → `[0, 1, 2]`; words that are not integers are quoted.
fn list_from_words(s: &str) -> String {
    let items: Vec<String> = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => format!("\"{w}\""),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Vec<Diagnostic> {
        let source = SourceText::new("t.toml", text);
        let table = DeTable::parse(text).unwrap();
        let mut out = Vec::new();
        check(&Schema::manifest(), &table, &source, &mut out);
        out
    }

    fn codes(text: &str) -> Vec<(Code, String)> {
        check_text(text)
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    #[test]
    fn reports_every_unknown_key_and_bad_type_at_once() {
        let found = codes(
            "version = 1\nbogus = 1\n[server]\nprot = 1\nport = \"80\"\n[precision]\ndtype = \"bf61\"\n",
        );
        assert_eq!(
            found,
            vec![
                (
                    Code::UnknownKey,
                    "unknown key `bogus` in the top level".into()
                ),
                (Code::UnknownKey, "unknown key `prot` in `[server]`".into()),
                (
                    Code::InvalidType,
                    "`server.port` must be an integer, found a string".into()
                ),
                (
                    Code::InvalidValue,
                    "`bf61` is not a valid value for `precision.dtype`".into()
                ),
            ]
        );
    }

    #[test]
    fn checks_ranges_array_lengths_and_required_keys() {
        let found = codes(
            "[server]\nport = 70000\n[workload]\nmax_image_size = [1]\n\
             [parallelism]\nmap = [{ layers = \"0-3\" }]\n",
        );
        assert_eq!(found[0].0, Code::OutOfRange);
        assert_eq!(
            found[1],
            (
                Code::InvalidValue,
                "`workload.max_image_size` must have exactly 2 entries, found 1".into()
            )
        );
        assert_eq!(
            found[2],
            (
                Code::MissingKey,
                "missing key `gpu` in `parallelism.map[0]`".into()
            )
        );
    }

    #[test]
    fn accepts_every_shape_of_an_untagged_value() {
        let ok = "version = 1\n[devices]\ngpus = [0, \"GPU-abc\"]\nmax_memory = [\"1GB\", 5]\nreserve = 1024\n\
                  [server]\napi_key = { env = \"KEY\" }\n";
        assert!(check_text(ok).is_empty(), "{:?}", check_text(ok));
        let ok =
            "[devices]\nmax_memory = \"90%\"\n[server]\napi_key = \"inline is caught later\"\n";
        assert!(check_text(ok).is_empty());
    }

    #[test]
    fn points_misplaced_keys_to_their_table() {
        let d = &check_text("version = 1\ngpus = [0]\n")[0];
        assert_eq!(
            d.help.as_deref(),
            Some("`gpus` belongs in `[devices]`: move it under that table")
        );
    }
}
