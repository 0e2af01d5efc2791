//! `deployctl render MANIFEST --target …`: the launch a manifest compiles to, for
//! users who run the stock `mistralrs` binary themselves.

use std::path::PathBuf;

use clap::ValueEnum;

use super::exit::Exit;
use super::hardware::Hardware;
use super::output::eprint_human;
use super::output::{out, outln};
use crate::app::{App, LiveGpus, Planned, Session};
use crate::diagnostic;
use crate::launch;
use crate::launch::kubernetes as kube;
use crate::manifest::Overrides;
use crate::manifest::{KeyPath, LayerKind, Loaded, Manifest};
use crate::plan::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest to render.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,

    /// What to print.
    #[arg(long, value_enum, default_value_t = Target::MistralrsCli)]
    pub target: Target,

    #[command(flatten)]
    pub hardware: Hardware,

    /// `--target kubernetes`: write one file per object and a `kustomization.yaml`
    /// into DIR (made if missing) instead of a YAML stream on stdout.
    #[arg(short, long, value_name = "DIR", conflicts_with = "check")]
    pub output: Option<PathBuf>,

    /// `--target kubernetes`: exit 1 when the files in DIR are not what this render
    /// writes (stale, missing or extra), so that committed YAML stays honest in CI.
    #[arg(long, value_name = "DIR")]
    pub check: Option<PathBuf>,

    /// Override a key: `--set server.port=9000`. Repeatable.
    #[arg(long = "set", value_name = "TABLE.KEY=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// `ENV=… mistralrs serve …`, shell-quoted.
    MistralrsCli,
    /// The `mistralrs from-config` TOML file, with its environment as a comment.
    MistralrsToml,
    /// The topology YAML of a manual map with per-range quantization.
    Topology,
    /// The launch description, as JSON: what `apply` builds in-process.
    Description,
    /// Kubernetes objects (ConfigMap, Deployment, Service) whose pod runs `deployctl
    /// apply`: a YAML stream, or files with `-o DIR`.
    Kubernetes,
}

pub(super) fn run(args: Args, color: bool) -> Exit {
    if !args.manifest.is_file() {
        eprintln!("error: `{}` is not a file", args.manifest.display());
        return Exit::Usage;
    }
    let mut diagnostics = Vec::new();
    let app = App::new(args.hardware.source(LiveGpus::Read), Settings::default());
    let overrides = Overrides::from_process(args.sets.clone());
    let Some(Session {
        loaded,
        manifest,
        planned,
    }) = app.session(&args.manifest, &overrides, &mut diagnostics)
    else {
        eprint_human(&diagnostics, color);
        return Exit::Invalid;
    };
    if args.target == Target::Kubernetes {
        return kubernetes(
            &args,
            &loaded,
            &manifest,
            planned.as_ref(),
            diagnostics,
            color,
        );
    }
    if args.output.is_some() || args.check.is_some() {
        eprint_human(&diagnostics, color);
        eprintln!("error: `--output` and `--check` go with `--target kubernetes`");
        return Exit::Usage;
    }
    eprint_human(&diagnostics, color);
    let Some(description) = planned.as_ref().and_then(|p| p.compile(&manifest)) else {
        return super::exit::of(&diagnostics, false).worst(Exit::DoesNotFit);
    };
    if diagnostics.iter().any(diagnostic::Diagnostic::is_error) {
        return super::exit::of(&diagnostics, false);
    }
    let rendered = launch::command_line(&description);
    if matches!(args.target, Target::MistralrsCli | Target::MistralrsToml) {
        if let Some(warning) = unauthenticated(&manifest) {
            eprintln!("{warning}");
        }
    }
    match args.target {
        Target::MistralrsCli => outln!("{}", rendered.command_line()),
        Target::MistralrsToml => out!("{}", launch::config_file::render(&description)),
        Target::Topology => match &rendered.topology {
            Some(t) => out!("{t}"),
            None => {
                eprintln!(
                    "error: this plan needs no topology: it has no per-range quantization; use `--target mistralrs-cli`"
                );
                return Exit::Invalid;
            }
        },
        Target::Kubernetes => unreachable!("rendered above"),
        Target::Description => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&description).expect("serializable")
            );
        }
    }
    Exit::Ok
}

/// Said on stderr when the manifest has an API key that a stock `mistralrs`
/// launch cannot carry: that server would answer anyone.
pub(super) fn unauthenticated(manifest: &crate::manifest::Manifest) -> Option<&'static str> {
    manifest.server.api_key.is_some().then_some(
        "warning: this launch serves without authentication: the stock `mistralrs` binary takes no \
         API key, so `server.api_key` is not in it. Put it behind a proxy that checks \
         `Authorization`, or run `deployctl apply`, which does.",
    )
}

/// `--target kubernetes`: the refusals, then the objects.
fn kubernetes(
    args: &Args,
    loaded: &Loaded,
    manifest: &Manifest,
    planned: Option<&Planned>,
    mut diagnostics: Vec<crate::diagnostic::Diagnostic>,
    color: bool,
) -> Exit {
    let plan = planned.and_then(|p| p.outcome.plan.as_ref());
    let fits = !diagnostics
        .iter()
        .any(crate::diagnostic::Diagnostic::is_error);
    let host_set = !matches!(
        loaded.provenance.layer(&KeyPath::parse("server.host")),
        None | Some(LayerKind::Default)
    );
    let written = kube::AsWritten {
        model_source: loaded
            .raw
            .model
            .as_ref()
            .and_then(|m| m.source.as_deref())
            .unwrap_or_default(),
        host_set,
        fits,
    };
    diagnostics.extend(
        kube::refusals(manifest, plan, &written)
            .iter()
            .map(|f| crate::app::diagnose(f, loaded)),
    );
    crate::diagnostic::sort(&mut diagnostics);
    eprint_human(&diagnostics, color);
    let errors = diagnostics
        .iter()
        .any(crate::diagnostic::Diagnostic::is_error);
    let Some(plan) = plan.filter(|_| !errors) else {
        return super::exit::of(&diagnostics, false).worst(Exit::DoesNotFit);
    };
    let model_config = match &manifest.model.config {
        Some(path) => match crate::files::read_text(path, crate::files::cap::CONFIG) {
            Ok(text) => Some(text),
            Err(e) => {
                eprintln!(
                    "error: cannot read `{}` for the pod: {}",
                    crate::diagnostic::display_path(path),
                    crate::diagnostic::io_reason(&e)
                );
                return Exit::Invalid;
            }
        },
        None => None,
    };
    // Without the "Resolved from PATH" line: the render is the same bytes
    // wherever the repository is checked out.
    let manifest_text: String = super::config::render(loaded, &manifest.name, false)
        .lines()
        .skip_while(|l| l.starts_with("# Resolved from"))
        .map(|l| format!("{l}\n"))
        .collect();
    let rendered = kube::render(&kube::Input {
        manifest,
        plan,
        manifest_text: &manifest_text,
        model_config: model_config.as_deref(),
        version: env!("CARGO_PKG_VERSION"),
    });
    if let Some(dir) = &args.check {
        return check(dir, &rendered, args);
    }
    let Some(dir) = &args.output else {
        out!("{}", rendered.stream());
        return Exit::Ok;
    };
    if dir.exists() && !dir.is_dir() {
        eprintln!(
            "error: `{}` is a file; `-o` takes the directory to write the objects in",
            crate::diagnostic::display_path(dir)
        );
        return Exit::Usage;
    }
    if let Err(e) = write_dir(dir, &rendered) {
        eprintln!(
            "error: cannot write `{}`: {}",
            crate::diagnostic::display_path(dir),
            crate::diagnostic::io_reason(&e)
        );
        return Exit::Invalid;
    }
    eprintln!(
        "wrote {} file(s) to {}: `kubectl apply -k {}`",
        rendered.files.len(),
        crate::diagnostic::display_path(dir),
        crate::diagnostic::display_path(dir)
    );
    Exit::Ok
}

/// Writes each file beside itself and renames it into place, and removes the
/// YAML files an earlier render wrote that this one does not.
fn write_dir(dir: &std::path::Path, rendered: &kube::Rendered) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in &rendered.files {
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.persist(dir.join(name)).map_err(|e| e.error)?;
    }
    for stale in extra_files(dir, rendered)? {
        std::fs::remove_file(dir.join(stale))?;
    }
    Ok(())
}

/// The rendered-looking files in `dir` that `rendered` does not have: those
/// that begin with the render's header.
fn extra_files(dir: &std::path::Path, rendered: &kube::Rendered) -> std::io::Result<Vec<String>> {
    let mut extra = Vec::new();
    if !dir.exists() {
        return Ok(extra); // every file is missing, and said so
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = rendered.files.iter().any(|(n, _)| *n == name);
        let yaml = name.ends_with(".yaml");
        if !ours && yaml {
            let text = crate::files::read_text(&entry.path(), crate::files::cap::MANIFEST)
                .unwrap_or_default();
            if text.starts_with("# Rendered by deployctl") {
                extra.push(name);
            }
        }
    }
    extra.sort();
    Ok(extra)
}

fn check(dir: &std::path::Path, rendered: &kube::Rendered, args: &Args) -> Exit {
    let mut stale = Vec::new();
    for (name, text) in &rendered.files {
        match crate::files::read_text(&dir.join(name), crate::files::cap::MANIFEST) {
            Ok(committed) if committed == *text => {}
            Ok(_) => stale.push(format!("{name}: differs")),
            Err(_) => stale.push(format!("{name}: missing")),
        }
    }
    match extra_files(dir, rendered) {
        Ok(extra) => stale.extend(
            extra
                .into_iter()
                .map(|n| format!("{n}: no longer rendered")),
        ),
        Err(e) => {
            eprintln!(
                "error: cannot read `{}`: {e}",
                crate::diagnostic::display_path(dir)
            );
            return Exit::Usage;
        }
    }
    if stale.is_empty() {
        eprintln!(
            "{} is up to date with {}",
            crate::diagnostic::display_path(dir),
            crate::diagnostic::display_path(&args.manifest)
        );
        return Exit::Ok;
    }
    eprintln!(
        "error: {} is stale against {}:",
        crate::diagnostic::display_path(dir),
        crate::diagnostic::display_path(&args.manifest)
    );
    for s in &stale {
        eprintln!("  {s}");
    }
    eprintln!(
        "help: re-render it: `deployctl render {} --target kubernetes -o {}`",
        crate::diagnostic::display_path(&args.manifest),
        crate::diagnostic::display_path(dir)
    );
    Exit::Invalid
}
