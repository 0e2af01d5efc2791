//! `deployctl config MANIFEST`: the resolved manifest, as TOML, optionally with
//! where each value came from (like `git config --show-origin`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::exit::Exit;
use super::output::eprint_human;
use super::output::out;
use crate::diagnostic::display_path;
use crate::manifest::{KeyPath, LayerKind, Loaded, Loader, Overrides};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest to resolve.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,

    /// Annotate each value with its origin: file:line, environment variable, flag or default.
    #[arg(long)]
    pub show_origin: bool,

    /// Override a key: `--set server.port=9000`. Repeatable.
    #[arg(long = "set", value_name = "TABLE.KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Keys that hold paths, which are relative to the file that sets them.
const PATH_KEYS: [&str; 6] = [
    "model.source",
    "model.config",
    "model.tokenizer",
    "model.chat_template",
    "parallelism.map_file",
    "server.api_key.file",
];

pub(super) fn run(args: Args, color: bool) -> Exit {
    if !args.manifest.is_file() {
        eprintln!("error: {}", crate::files::not_a_file(&args.manifest));
        return Exit::Usage;
    }
    let outcome = Loader::new().load(&args.manifest, &Overrides::from_process(args.sets));
    eprint_human(&outcome.diagnostics, color);
    match (&outcome.loaded, &outcome.manifest) {
        (Some(loaded), Some(manifest)) => {
            out!("{}", render(loaded, &manifest.name, args.show_origin));
            Exit::Ok
        }
        _ => Exit::Invalid,
    }
}

/// The resolved manifest as TOML that validates to the same manifest when saved
/// beside the original: `extends` is merged away, and paths set in other
/// directories are rewritten relative to the manifest.
pub(super) fn render(loaded: &Loaded, name: &str, show_origin: bool) -> String {
    let provenance = &loaded.provenance;
    let mut raw = loaded.raw.clone();
    raw.version = Some(1);
    raw.name = Some(name.to_owned());
    raw.extends = None;
    let mut table = toml::Table::try_from(&raw).expect("the raw manifest serializes to TOML");
    let top_dir = provenance
        .top()
        .source
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for key in PATH_KEYS {
        let path = KeyPath::parse(key);
        if let Some(toml::Value::String(value)) = lookup_mut(&mut table, &path) {
            let from = provenance.base_dir(&path);
            let is_path = key != "model.source"
                || !matches!(
                    crate::manifest::classify_source(value, &from),
                    Some(crate::manifest::ModelSource::Hub { .. }) | None
                );
            if !is_path {
                continue;
            }
            if let Some(rebased) = rebase(value, &from, &top_dir) {
                *value = rebased;
            }
        }
    }

    let mut out = String::new();
    let files: Vec<String> = provenance
        .documents()
        .iter()
        .map(|d| d.source.name().to_owned())
        .collect();
    let _ = writeln!(out, "# Resolved from {}.", files.join(" < "));
    let origin = |path: &KeyPath| -> Option<String> {
        if !show_origin {
            return None;
        }
        Some(match (path.to_string().as_str(), provenance.layer(path)) {
            ("version", _) => "format version".to_owned(),
            ("name", None | Some(LayerKind::Default)) => "file name".to_owned(),
            _ => provenance.describe(path),
        })
    };
    emit_table(&table, &KeyPath::root(), &origin, &mut out);
    out
}

fn emit_table(
    table: &toml::Table,
    path: &KeyPath,
    origin: &dyn Fn(&KeyPath) -> Option<String>,
    out: &mut String,
) {
    let lines: Vec<(String, Option<String>)> = table
        .iter()
        .filter(|(_, v)| !v.is_table())
        .map(|(k, v)| (format!("{} = {}", toml_key(k), v), origin(&path.key(k))))
        .collect();
    let width = lines
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    for (line, from) in lines {
        match from {
            Some(from) => {
                let _ = writeln!(out, "{line:<width$}  # {from}");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    for (k, v) in table {
        if let toml::Value::Table(sub) = v {
            let child = path.key(k);
            let _ = writeln!(out, "\n[{child}]");
            emit_table(sub, &child, origin, out);
        }
    }
}

fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

fn lookup_mut<'a>(table: &'a mut toml::Table, path: &KeyPath) -> Option<&'a mut toml::Value> {
    let mut keys = path.segments().iter().filter_map(|s| match s {
        crate::manifest::Segment::Key(k) => Some(k.as_str()),
        crate::manifest::Segment::Index(_) => None,
    });
    let mut value = table.get_mut(keys.next()?)?;
    for key in keys {
        value = value.as_table_mut()?.get_mut(key)?;
    }
    Some(value)
}

/// A path `value`, written relative to `from`, rewritten relative to `to`;
/// `None` when it needs no change (absolute, or already relative to `to`).
fn rebase(value: &str, from: &Path, to: &Path) -> Option<String> {
    let written = Path::new(value);
    if written.is_absolute() || from == to {
        return None;
    }
    let target = crate::manifest::normalize_path(&from.join(written));
    let relative = pathdiff::diff_paths(&target, to)?;
    let text = display_path(&relative);
    Some(if text.starts_with("../") || value.starts_with("./") {
        text
    } else {
        format!("./{text}")
    })
}
