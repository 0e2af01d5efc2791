//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use deployctl::diagnostic::{Diagnostic, Place, render};
use deployctl::manifest::{LoadOutcome, Loader, Overrides};

/// The `deployctl` binary Cargo built for these tests.
pub(crate) fn deployctl_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_deployctl"))
}

/// `deployctl`, started in the package root with a scrubbed environment
/// (`scrub`). Every test that runs the binary starts here, then sets the
/// folder and the variables it tests.
///
/// The folder is set even where a test names only absolute paths, so that
/// no test depends on the working directory `cargo test` happened to give.
pub(crate) fn deployctl() -> Command {
    let mut cmd = Command::new(deployctl_bin());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    scrub(&mut cmd);
    cmd
}

/// Variables that change what `deployctl` does or prints, removed from
/// every command that runs it (directly or through a shell).
const SCRUBBED: &[&str] = &[
    // Which GPUs a plan sees (`gpus`, the live inventory).
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    // Colour: deployctl's own `--color auto`, and clap's (anstream).
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    // The width clap wraps `--help` at when stdout is not a terminal.
    "COLUMNS",
    "LINES",
    // The server's log filter (`apply`).
    "RUST_LOG",
    // Set on CI runners; colour detection (anstream) reads it.
    "CI",
    // Makes `apply` a mistral.rs worker process.
    "__MISTRALRS_DAEMON_INTERNAL",
];

/// Prefixes of the same: `DEPLOYCTL_<TABLE>__<KEY>` overrides,
/// `DEPLOYCTL_LIVE_INVENTORY`, `DEPLOYCTL_API_KEY`; `GITHUB_STEP_SUMMARY`
/// and the rest of a GitHub runner's variables.
const SCRUBBED_PREFIXES: &[&str] = &["DEPLOYCTL_", "GITHUB_"];

/// Removes from `cmd`'s environment every variable of `SCRUBBED` and
/// `SCRUBBED_PREFIXES`, so a developer's shell or a CI runner cannot change
/// a test's outcome. A test that sets one of them does so afterwards.
pub(crate) fn scrub(cmd: &mut Command) -> &mut Command {
    for name in SCRUBBED {
        cmd.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| SCRUBBED_PREFIXES.iter().any(|p| n.starts_with(p)))
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// No Hugging Face cache: hub ids resolve from the built-in catalog on
/// every machine (`HF_*` removed, `HOME` pointed nowhere).
pub(crate) fn without_model_caches(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("HF_")) {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", "/nonexistent")
}

/// Runs `cmd`, which must exit 0, and returns what it printed on stdout. A
/// failure shows the command and both of its outputs.
pub(crate) fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The worked examples users copy: `examples/` at the repository root.
pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A fixture manifest and the header directives at its top:
/// `# expect: CODE @ PLACE`, `# env: NAME=VALUE`, `# set: table.key=value`.
pub(crate) struct Case {
    pub path: PathBuf,
    pub expect: Vec<String>,
    pub overrides: Overrides,
}

impl Case {
    pub(crate) fn read(path: &Path) -> Case {
        let text = std::fs::read_to_string(path).unwrap();
        let mut expect = Vec::new();
        let mut overrides = Overrides::default();
        for line in text.lines() {
            let Some(directive) = line.strip_prefix("# ") else {
                continue;
            };
            if let Some(e) = directive.strip_prefix("expect: ") {
                expect.push(e.trim().to_owned());
            } else if let Some(e) = directive.strip_prefix("env: ") {
                let (k, v) = e.split_once('=').expect("env: NAME=VALUE");
                overrides.env.push((k.to_owned(), v.to_owned()));
            } else if let Some(s) = directive.strip_prefix("set: ") {
                overrides.sets.push(s.to_owned());
            }
        }
        expect.sort();
        Case {
            path: path.to_path_buf(),
            expect,
            overrides,
        }
    }

    /// Loads the case with paths relative to the fixtures folder, as a user would
    /// run it from there.
    pub(crate) fn load(&self) -> LoadOutcome {
        let relative = self.path.strip_prefix(fixtures()).unwrap();
        Loader::new()
            .in_dir(fixtures())
            .load(relative, &self.overrides)
    }

    /// `CODE @ PLACE` for each diagnostic, in the fixture header's notation.
    pub(crate) fn found(&self, outcome: &LoadOutcome) -> Vec<String> {
        let dir = self
            .path
            .parent()
            .unwrap()
            .strip_prefix(fixtures())
            .unwrap()
            .to_owned();
        let mut found: Vec<String> = outcome
            .diagnostics
            .iter()
            .map(|d| format!("{} @ {}", d.code, place(d, &dir, &self.path)))
            .collect();
        found.sort();
        found
    }
}

fn place(d: &Diagnostic, dir: &Path, main: &Path) -> String {
    match &d.place {
        Place::Env(name) => format!("env {name}"),
        Place::Flag(flag) => format!("flag {flag}"),
        Place::Span { .. } | Place::File(_) => {
            let at = d.location().unwrap();
            let file = Path::new(&at.file);
            if file.file_name() == main.file_name() && file.parent() == Some(dir) {
                at.line.to_string()
            } else {
                let shown = file.strip_prefix(dir).unwrap_or(file);
                format!("{}:{}", deployctl::diagnostic::display_path(shown), at.line)
            }
        }
    }
}

/// Every case under `folder`: `*.toml` files directly in it, and `deploy.toml`
/// in its subfolders (cases made of several files).
pub(crate) fn cases(folder: &str) -> Vec<Case> {
    let root = fixtures().join(folder);
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let main = path.join("deploy.toml");
            assert!(main.is_file(), "{} has no deploy.toml", path.display());
            paths.push(main);
        } else if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| Case::read(p)).collect()
}

pub(crate) fn render_all(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| render::human(d, false))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each document of a YAML stream (`render --target kubernetes`), as JSON.
pub(crate) fn yaml_documents(stream: &str) -> Vec<serde_json::Value> {
    stream
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_norway::from_str(d).unwrap_or_else(|e| panic!("{e}:\n{d}")))
        .collect()
}
