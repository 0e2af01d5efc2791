//! The layout holds: modules import only layers below their own, siblings
//! import one another without circles, and no source file outgrows an
//! afternoon's read. Read from the source text, so a new arrow up or a new
//! circle fails here, with its files named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's top-level modules, lowest layer first. A module may import
/// its own layer's module and those of lower layers, never a higher one;
/// modules of one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    &["units", "files", "diagnostic"],
    &["manifest"],
    &["model", "inventory"],
    &["plan"],
    &["launch", "review"],
    &["server"],
    &["app"],
    &["cli"],
];

/// The most lines a source file holds, its unit tests not counted.
const MOST_LINES: usize = 600;

type Module = Vec<String>;

struct Source {
    path: PathBuf,
    module: Module,
    /// The text before its `#[cfg(test)]` module, comments removed.
    code: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap().with_extension("");
                let mut module: Module = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if module.last().is_some_and(|m| m == "mod") {
                    module.pop();
                }
                if module == ["lib"] || module == ["main"] {
                    module.clear();
                }
                // A `tests.rs` beside a module is its unit tests.
                if module.last().is_some_and(|m| m == "tests") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap()
                    .lines()
                    .map(|l| l.split("//").next().unwrap())
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(Source { path, module, code });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The module paths `source` names: `crate::a::b`, `super::a` (resolved),
/// and the items of `use crate::a::{b, c}` groups.
fn references(source: &Source) -> BTreeSet<Module> {
    // In `a/b.rs` (or `a/b/mod.rs`) `super` is `a`.
    let parent: Module = source.module[..source.module.len().saturating_sub(1)].to_vec();
    let mut out = BTreeSet::new();
    let text = &source.code;
    let mut at = 0;
    while let Some(found) = next_path(text, at) {
        let (start, end) = found;
        at = end;
        let path: Vec<&str> = text[start..end].split("::").collect();
        let (base, rest): (Module, &[&str]) = match path[0] {
            "crate" => (Vec::new(), &path[1..]),
            "super" => {
                let ups = path.iter().take_while(|p| **p == "super").count();
                let mut base = parent.clone();
                for _ in 1..ups {
                    base.pop();
                }
                (base, &path[ups..])
            }
            _ => continue,
        };
        let mut module = base;
        module.extend(
            rest.iter()
                .take_while(|p| p.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .map(|p| (*p).to_owned()),
        );
        // `use crate::a::{b, c::D}`: each lower-case item is a module (or
        // function) path under `a`.
        let tail = &text[end..];
        if let Some(group) = tail.strip_prefix("::{") {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let head = item.trim().split("::").next().unwrap_or("");
                if head == "self" {
                    out.insert(module.clone());
                } else if head.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    let mut m = module.clone();
                    m.push(head.to_owned());
                    out.insert(m);
                }
            }
        }
        out.insert(module);
    }
    out
}

/// The next `crate::…` or `super::…` path at or after `from`.
fn next_path(text: &str, from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    loop {
        let rest = &text[i..];
        let hit = [rest.find("crate::"), rest.find("super::")]
            .into_iter()
            .flatten()
            .min()?;
        let start = i + hit;
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            i = start + 1;
            continue;
        }
        let mut end = start;
        let bytes = text.as_bytes();
        loop {
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            if text[end..].starts_with("::")
                && bytes
                    .get(end + 2)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                end += 2;
            } else {
                break;
            }
        }
        return Some((start, end));
    }
}

/// The longest prefix of `path` that is a module of the crate.
fn module_of(path: &Module, modules: &BTreeSet<Module>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|m| modules.contains(m))
}

/// Every import between modules, as (importer, imported, file).
fn imports() -> Vec<(Module, Module, PathBuf)> {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let mut out = Vec::new();
    for source in &sources {
        for path in references(source) {
            if let Some(target) = module_of(&path, &modules) {
                if target != source.module {
                    out.push((source.module.clone(), target, source.path.clone()));
                }
            }
        }
    }
    out
}

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_top_level_module_has_a_layer() {
    let tops: BTreeSet<String> = sources()
        .into_iter()
        .filter_map(|s| s.module.first().cloned())
        .collect();
    let missing: Vec<_> = tops.iter().filter(|t| layer(t).is_none()).collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn modules_import_only_lower_layers() {
    let mut wrong = Vec::new();
    for (from, to, file) in imports() {
        let (Some(a), Some(b)) = (from.first(), to.first()) else {
            continue;
        };
        if a == b {
            continue;
        }
        let (la, lb) = (layer(a).unwrap(), layer(b).unwrap());
        if lb >= la {
            wrong.push(format!(
                "{}: {a} (layer {la}) imports {b} (layer {lb})",
                shown(&file)
            ));
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports up or across:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sibling_modules_import_each_other_without_circles() {
    // Between two modules, the arrow at their first differing level: a file
    // deep in `plan::strategy` importing `plan::scope` is strategy → scope.
    // A module's own children and ancestors are not siblings.
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut via: BTreeMap<(Module, Module), PathBuf> = BTreeMap::new();
    for (from, to, file) in imports() {
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        let (a, b) = (from[..=common].to_vec(), to[..=common].to_vec());
        via.entry((a.clone(), b.clone())).or_insert(file);
        graph.entry(a).or_default().insert(b);
    }
    let mut circles = Vec::new();
    for start in graph.keys() {
        // A path back to `start` through modules after it (each circle once).
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let mut names: Vec<String> = path.iter().map(|m| m.join("::")).collect();
                    names.push(start.join("::"));
                    let files: Vec<String> = path
                        .iter()
                        .zip(path.iter().skip(1).chain(std::iter::once(start)))
                        .map(|(a, b)| shown(&via[&(a.clone(), b.clone())]))
                        .collect();
                    circles.push(format!("{} (in {})", names.join(" → "), files.join(", ")));
                } else if next > start && seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_an_afternoon_allows() {
    let long: Vec<String> = sources()
        .iter()
        .map(|s| (s.code.lines().count(), shown(&s.path)))
        .filter(|(n, _)| *n >= MOST_LINES)
        .map(|(n, p)| format!("{p}: {n} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "files of {MOST_LINES} lines or more, tests not counted:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_the_arrows_they_guard() {
    // The readers must find real imports, or the tests above pass on nothing.
    let all = imports();
    let has = |a: &str, b: &str| {
        all.iter()
            .any(|(f, t, _)| f.join("::") == a && t.join("::") == b)
    };
    assert!(has("cli::plan", "app"), "a `use crate::app::…` in cli/plan");
    assert!(
        has("plan::strategy::auto", "plan::scope"),
        "a `use super::super::scope::…`"
    );
    assert!(
        has("plan::advice", "plan::solve"),
        "a `use super::solve::…`"
    );
    assert!(
        has("inventory::gpu", "units"),
        "a `use crate::units::{{…}}` group"
    );
    assert!(all.len() > 300, "only {} imports read", all.len());
}
