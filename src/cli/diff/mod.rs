//! `deployctl diff [--base REF] [PATH...]`: what a change does to the plans
//! of the manifests under PATH, between a Git revision and the work tree.

mod cells;
mod markdown;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use schemars::JsonSchema;
use serde::Serialize;

use super::exit::Exit;
use super::hardware::Hardware;
use super::output::outln;
use crate::app::git::{GitError, Repo};
use crate::app::{App, LiveGpus, discover, tree};
use crate::diagnostic::render::{escape_data, escape_property};
use crate::manifest::Overrides;
use crate::plan::Settings;
use crate::review::{self, Change, Side, Totals};

pub(super) const AFTER_HELP: &str = "\
Both sides are planned as `validate` plans them: against `--inventory` or `--gpus` when given,
else each manifest's host (`hosts/HOST.toml`, as that side has it) or `[devices.expect]`; this
machine's GPUs never count, and deployments on one host are planned together. The base is read from
Git without touching the work tree (the `git` binary must be on PATH). A manifest is changed
when its file, a file it extends or its `model.config` changed, and renamed when Git's rename
detection pairs it with a file at the base.

Formats: `human`; `markdown`, a pull-request comment (a summary table, then a collapsible
section per manifest); `json` (schemas/diff-output.schema.json); `github`, which appends the
markdown to $GITHUB_STEP_SUMMARY and annotates each manifest that stops fitting.

Exit codes: 0 no plan stops fitting; 1 a manifest in the work tree is invalid; 2 usage error
(not a Git repository, an unknown REF); 3 a manifest that fitted (or is new) does not fit;
6 a GPU's planned total grew by more than --max-growth. `deployctl --help` lists every code.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files, or directories to search, as `validate` finds them. Default: the
    /// current directory.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The revision to compare with. Default: the merge base of HEAD with the default
    /// branch (origin/HEAD, else main or master).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,

    /// Also exit 6 when any GPU's planned total grows by more than this many percent.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub max_growth: Option<f64>,

    #[command(flatten)]
    pub hardware: Hardware,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people, in a terminal.
    Human,
    /// A pull-request comment.
    Markdown,
    /// One JSON document (schemas/diff-output.schema.json).
    Json,
    /// Annotations on stdout, and the markdown appended to $GITHUB_STEP_SUMMARY.
    Github,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a number of percent"))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!(
            "`{text}`: a percentage must be a finite number, 0 or more"
        ))
    }
}

/// The JSON output of `diff --format json`. Stable: fields are only ever added.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Report {
    /// Version of this document's format.
    pub format_version: u32,
    pub base: Base,
    /// Every manifest added, removed, renamed or changed, in path order.
    pub changes: Vec<Change>,
    pub summary: Totals,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(super) struct Base {
    /// The revision as named (`--base`), or the default branch it is the merge base with.
    pub name: String,
    pub commit: String,
}

/// The JSON Schema of [`Report`], committed as `schemas/diff-output.schema.json`.
pub(super) fn report_schema_text() -> String {
    super::output_schema::text::<Report>()
}

pub(super) fn run(args: Args) -> Exit {
    match review(&args) {
        Ok(report) => finish(&args, &report),
        Err(message) => {
            eprintln!("error: {message}");
            Exit::Usage
        }
    }
}

/// Why `diff` could not compare: printed as `error: …`, with exit 2.
#[derive(Debug, thiserror::Error)]
enum DiffError {
    #[error("no current directory: {0}")]
    NoCwd(std::io::Error),
    #[error("{0}; `deployctl diff` compares with a Git revision")]
    NotARepository(String),
    #[error("{0}")]
    Git(String),
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("`{0}` is outside the repository")]
    Outside(String),
    #[error("`{given}` exists neither here nor at {base}")]
    Nowhere { given: String, base: String },
    #[error("cannot enter `{dir}`: {source}")]
    Enter { dir: String, source: std::io::Error },
}

impl From<GitError> for DiffError {
    fn from(e: GitError) -> Self {
        DiffError::Git(e.0)
    }
}

/// Both sides, planned and compared.
fn review(args: &Args) -> Result<Report, DiffError> {
    let cwd = std::env::current_dir().map_err(DiffError::NoCwd)?;
    let repo = Repo::discover(&cwd).map_err(|e| DiffError::NotARepository(e.0))?;
    let root = std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_path_buf());
    let (name, commit) = match &args.base {
        Some(rev) => (rev.clone(), repo.commit(rev)?),
        None => repo.default_base()?,
    };
    let exported = tempfile::Builder::new()
        .prefix("deployctl-diff-")
        .tempdir()
        .map_err(DiffError::TempDir)?;
    repo.export(&commit, exported.path())?;
    // The base's root is a repository's root, as the work tree's is: the
    // search for `hosts/` stops there, and `.gitignore` applies below it.
    std::fs::create_dir_all(exported.path().join(".git")).map_err(DiffError::TempDir)?;
    let renamed: HashMap<PathBuf, PathBuf> = repo
        .renames(&commit)?
        .into_iter()
        .map(|(old, new)| (new, old))
        .collect();

    let given = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut relative = Vec::new();
    for path in &given {
        let absolute = crate::manifest::normalize_path(&cwd.join(path));
        let absolute = std::fs::canonicalize(&absolute).unwrap_or(absolute);
        let inside = absolute
            .strip_prefix(&root)
            .map_err(|_| DiffError::Outside(path.display().to_string()))?;
        relative.push(inside.to_path_buf());
    }

    for (given, inside) in given.iter().zip(&relative) {
        if !root.join(inside).exists() && !exported.path().join(inside).exists() {
            return Err(DiffError::Nowhere {
                given: given.display().to_string(),
                base: name,
            });
        }
    }
    let app = App::new(
        args.hardware.source(LiveGpus::Skip),
        Settings {
            capacity: true,
            ..Settings::default()
        },
    );
    // Each side is read from inside its tree, so that every path a
    // diagnostic names is relative to the repository root on both.
    let sides = side_of(&app, &root, &relative)
        .and_then(|head| Ok((head, side_of(&app, exported.path(), &relative)?)));
    let _ = std::env::set_current_dir(&cwd);
    let (head, base) = sides?;

    let mut base = base;
    let mut changes = Vec::new();
    for (path, after) in head {
        let old = renamed
            .get(&path)
            .filter(|old| base.contains_key(*old))
            .cloned();
        let before = base.remove(old.as_ref().unwrap_or(&path));
        changes.push(review::compare(
            shown(&path),
            old.as_deref().map(shown),
            before,
            Some(after),
        ));
    }
    for (path, before) in base {
        changes.push(review::compare(shown(&path), None, Some(before), None));
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let summary = review::totals(&changes);
    changes.retain(|c| c.status != review::Status::Unchanged);
    Ok(Report {
        format_version: 1,
        base: Base { name, commit },
        changes,
        summary,
    })
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Every manifest under `paths` (relative to `root`), planned, by its path
/// relative to `root`. A path that does not exist on this side holds none.
fn side_of(
    app: &App,
    root: &Path,
    paths: &[PathBuf],
) -> Result<BTreeMap<PathBuf, Side>, DiffError> {
    std::env::set_current_dir(root).map_err(|source| DiffError::Enter {
        dir: root.display().to_string(),
        source,
    })?;
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.clone()
            }
        })
        .filter(|p| p.exists())
        .collect();
    // A folder with no manifest on one side is every manifest added or removed.
    let candidates: Vec<crate::app::discover::Found> = paths
        .iter()
        .filter_map(|p| discover::manifests(std::slice::from_ref(p)).ok())
        .flatten()
        .collect();
    let checked = tree::check(
        app,
        &candidates,
        &Overrides::default(),
        |manifest, planned| {
            let plan = planned.and_then(|p| p.outcome.plan.clone());
            let launch = planned
                .and_then(|p| p.compile(manifest))
                .map(|d| crate::launch::command_line(&d).command_line());
            (
                Some(manifest.name.clone()),
                plan,
                launch,
                manifest.model.config.clone(),
            )
        },
    );
    let relative = |name: &str| -> String { shown(Path::new(name.trim_start_matches("./"))) };
    Ok(checked
        .into_iter()
        .map(|c| {
            let (name, plan, launch, config) = c.kept.unwrap_or_default();
            let inputs = digest(c.files.iter().chain(config.as_ref()));
            let side = Side::new(
                name,
                plan.as_ref(),
                launch,
                &c.diagnostics,
                &relative,
                inputs,
            );
            let path = c.path.strip_prefix(".").unwrap_or(&c.path).to_path_buf();
            (path, side)
        })
        .collect())
}

/// What the files hold, as one number: equal contents, equal digests.
fn digest<'a>(files: impl Iterator<Item = &'a PathBuf>) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for file in files {
        crate::files::read_text(file, crate::files::cap::MANIFEST)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

fn finish(args: &Args, report: &Report) -> Exit {
    match args.format {
        DiffFormat::Human => super::output::print(text::render(report)),
        DiffFormat::Markdown => super::output::print(markdown::render(report)),
        DiffFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(report).expect("serializable")
        ),
        DiffFormat::Github => github(report),
    }
    let mut exit = Exit::Ok;
    if report
        .changes
        .iter()
        .any(|c| c.after.as_ref().is_some_and(|a| !a.valid))
    {
        exit = exit.worst(Exit::Invalid);
    }
    if report.summary.stopped_fitting > 0 {
        exit = exit.worst(Exit::DoesNotFit);
    }
    if let Some(max) = args.max_growth {
        let grew = report
            .changes
            .iter()
            .filter_map(|c| c.largest_growth_percent)
            .any(|g| g > max);
        if grew {
            exit = exit.worst(Exit::Grew);
        }
    }
    exit
}

/// `::error` annotations for each manifest that stops fitting, on the line
/// of its first error, and the markdown in the job's summary.
fn github(report: &Report) {
    for c in report.changes.iter().filter(|c| c.stopped_fitting) {
        let after = c.after.as_ref();
        let first = after.and_then(|a| a.findings.iter().find(|f| f.severity == "error"));
        let file = first
            .and_then(|f| f.file.clone())
            .unwrap_or_else(|| c.path.clone());
        let line = first.and_then(|f| f.line).unwrap_or(1);
        let message = first.map_or("the plan no longer fits".to_owned(), |f| f.message.clone());
        outln!(
            "::error file={},line={line},title=deployctl diff: {} no longer fits::{}",
            escape_property(&file),
            escape_property(&c.path),
            escape_data(&message)
        );
    }
    let markdown = markdown::render(report);
    match std::env::var_os("GITHUB_STEP_SUMMARY") {
        Some(path) => {
            use std::io::Write as _;
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| f.write_all(markdown.as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "warning: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                    Path::new(&path).display()
                );
            }
        }
        None => {
            eprintln!("note: $GITHUB_STEP_SUMMARY is unset; the summary follows on stdout");
            super::output::print(markdown);
        }
    }
}
