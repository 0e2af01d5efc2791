//! `deployctl apply MANIFEST`: validate, plan, preflight, load the model with
//! mistral.rs exactly as planned, and serve it until SIGINT or SIGTERM.
//!
//! mistral.rs's tensor parallelism re-executes this program once per extra GPU
//! with the same arguments and `__MISTRALRS_DAEMON_INTERNAL` set. Such a worker
//! reaches the same model build from the same argv, but prints nothing, binds
//! no port and writes nothing.

use std::path::PathBuf;

use super::exit::Exit;
use super::hardware::Hardware;
use super::output::eprint_human;
use super::output::outln;
use crate::app::{App, LiveGpus, Session};
use crate::diagnostic;
use crate::launch;
use crate::manifest::SecretSource;
use crate::plan::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest to deploy.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,

    #[command(flatten)]
    pub hardware: Hardware,

    /// Print the equivalent `mistralrs serve` launch and exit without loading.
    #[arg(long)]
    pub dry_run: bool,

    /// Rehearse the launch on this machine's CPU: load the plan's layer map and
    /// topology, with their per-range quantization, with the host standing in
    /// for every GPU. Proves on a machine without GPUs (CI) that mistral.rs
    /// accepts the launch. Plan against `--gpus` or `--inventory`.
    #[arg(long)]
    pub on_cpu: bool,

    /// Seconds `/health` answers 503 after SIGINT/SIGTERM, while the listener
    /// still answers, so that load balancers stop sending requests first.
    /// Default: `server.drain_seconds` (5).
    #[arg(long, value_name = "SECONDS")]
    pub drain: Option<u32>,

    /// Seconds in-flight requests may then run before they are cut, a
    /// stream with an error event. A second signal cuts at once. Default:
    /// `server.grace_seconds` (10).
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u32>,

    /// Seconds one generation may take, streamed or not: past it a
    /// non-streamed request gets 504 and a stream an error event. Default:
    /// `server.request_timeout_seconds` (600).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub request_timeout: Option<u32>,

    /// The format of the server's lines: `plain`, or `json`, one object per
    /// line, mistral.rs's included. Default: `server.log_format` (`plain`).
    #[arg(long, value_name = "FORMAT", value_parser = ["plain", "json"])]
    pub log_format: Option<String>,

    /// Serve even when mistral.rs built something other than the plan (paged
    /// attention off, the model on the CPU, another dtype): `/health` then
    /// answers 200, and each difference is logged as an error.
    #[arg(long)]
    pub allow_deviations: bool,

    /// Override a key: `--set server.port=9000`. Repeatable.
    #[arg(long = "set", value_name = "TABLE.KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Set in the processes mistral.rs starts for tensor-parallel ranks.
const WORKER_ENV: &str = "__MISTRALRS_DAEMON_INTERNAL";

pub(super) fn run(args: Args, color: bool) -> Exit {
    let worker = std::env::var_os(WORKER_ENV).is_some();
    let say = |text: &str| {
        if !worker {
            eprintln!("{text}");
        }
    };
    if !args.manifest.is_file() {
        say(&format!(
            "error: {}",
            crate::files::not_a_file(&args.manifest)
        ));
        return Exit::Usage;
    }
    let settings = Settings {
        flash_attention: cfg!(feature = "flash-attn"),
        ..Settings::default()
    };
    let mut diagnostics = Vec::new();
    let app = App::new(args.hardware.source(LiveGpus::Read), settings);
    let overrides = crate::manifest::Overrides::from_process(args.sets);
    let Some(Session {
        loaded,
        manifest,
        planned,
    }) = app.session(&args.manifest, &overrides, &mut diagnostics)
    else {
        if !worker {
            eprint_human(&diagnostics, color);
        }
        return Exit::Invalid;
    };
    // On the box, the others the repository places on this host.
    if let Some((p, plan)) = planned
        .as_ref()
        .and_then(|p| p.outcome.plan.as_ref().map(|plan| (p, plan)))
        .filter(|(p, _)| p.inventory.source == crate::inventory::InventorySource::Live)
    {
        crate::app::neighbours::check(&loaded, &manifest, plan, &p.inventory, &mut diagnostics);
        diagnostic::sort(&mut diagnostics);
    }
    if !worker {
        // First, what this machine (or pod) was given: a pod scheduled onto
        // the wrong node says so in its first lines.
        let cpu_only = |p: &&crate::app::Planned| {
            p.inventory.source == crate::inventory::InventorySource::CpuOnly
        };
        if let Some(p) = planned.as_ref().filter(|p| !cpu_only(p)) {
            let met = !diagnostics
                .iter()
                .any(|d| d.code == crate::diagnostic::Code::ExpectationNotMet);
            let line = received(&p.inventory, manifest.devices.expect.as_ref(), met);
            let json = match args.log_format.as_deref() {
                Some(format) => format == "json",
                None => manifest.server.log_format == crate::manifest::values::LogFormat::Json,
            };
            if json {
                // One JSON object per line from the first, as the server's.
                eprintln!(
                    "{}",
                    serde_json::json!({ "level": "info", "message": line })
                );
            } else {
                say(&line);
            }
        }
        eprint_human(&diagnostics, color);
    }
    // Preflight and budget errors block: there is no `--force` for a launch that
    // would run out of memory.
    let (Some(planned), false) = (
        planned,
        diagnostics.iter().any(diagnostic::Diagnostic::is_error),
    ) else {
        say("error: not deploying: fix the errors above first");
        return super::exit::of(&diagnostics, false).worst(Exit::DoesNotFit);
    };
    let Some(plan) = planned.outcome.plan.as_ref() else {
        return Exit::DoesNotFit;
    };
    let mut description = launch::compile(&manifest, &planned.model.shape, plan);
    if args.on_cpu {
        description = match description.rehearse_on_cpu() {
            Ok(d) => d,
            Err(message) => {
                say(&format!("error: {message}"));
                return Exit::Usage;
            }
        };
        if let Some(why) = crate::model::rules::cpu_blocker(&planned.model.shape) {
            say(&format!("error: cannot rehearse on the CPU: {why}"));
            return Exit::Usage;
        }
    }
    let rendered = launch::command_line(&description);
    if args.dry_run {
        if let Some(warning) = super::render::unauthenticated(&manifest) {
            say(warning);
        }
        outln!("{}", rendered.command_line());
        for r in &rendered.requires {
            outln!("# requires {r}");
        }
        if let Some(topology) = &rendered.topology {
            outln!("\n# topology.yml\n{topology}");
        }
        return Exit::Ok;
    }
    if let Some(missing) = missing_feature(&description) {
        say(&missing);
        return Exit::Runtime;
    }
    let api_key = match read_api_key(manifest.server.api_key.as_ref()) {
        Ok(key) => key,
        Err(message) => {
            say(&format!("error: {message}"));
            return Exit::Runtime;
        }
    };
    if let Some(message) = missing_file(&manifest.model) {
        say(&format!("error: {message}"));
        return Exit::Runtime;
    }
    serve(Serving {
        description: &description,
        manifest: &manifest,
        plan,
        api_key,
        timing: Timing {
            drain: args.drain.unwrap_or(manifest.server.drain_seconds),
            grace: args.grace.unwrap_or(manifest.server.grace_seconds),
            request_timeout: args
                .request_timeout
                .unwrap_or(manifest.server.request_timeout_seconds),
        },
        allow_deviations: args.allow_deviations,
        json_log: match args.log_format.as_deref() {
            Some(format) => format == "json",
            None => manifest.server.log_format == crate::manifest::values::LogFormat::Json,
        },
        worker,
        color,
    })
}

/// Everything `serve` needs, checked: the launch and the plan it came from.
// The lean build's `serve` only says how to get one that serves.
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
struct Serving<'a> {
    description: &'a launch::Description,
    manifest: &'a crate::manifest::Manifest,
    plan: &'a crate::plan::Plan,
    /// Never printed.
    api_key: Option<String>,
    timing: Timing,
    json_log: bool,
    /// Serve even when mistral.rs built something other than the plan.
    allow_deviations: bool,
    /// A tensor-parallel rank started by mistral.rs: builds the model only.
    worker: bool,
    color: bool,
}

/// The serving stages' time limits, in seconds (see `Args`).
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
struct Timing {
    drain: u32,
    grace: u32,
    request_timeout: u32,
}

/// A tokenizer or chat template named by an absolute path that is not on
/// this machine. `validate` leaves such paths alone, since they point into the
/// serving machine; here they must exist, or mistral.rs would fail after the
/// weights load (or, for a GGUF model, silently use the file's own tokenizer).
/// Validation has already checked the content of those that exist.
fn missing_file(model: &crate::manifest::Model) -> Option<String> {
    [
        ("model.tokenizer", &model.tokenizer),
        ("model.chat_template", &model.chat_template),
    ]
    .into_iter()
    .find_map(|(key, file)| {
        let file = file.as_ref().filter(|f| !f.is_file())?;
        Some(format!(
            "`{key}` names `{}`, which is not a file on this machine",
            file.display()
        ))
    })
}

/// The rebuild command when this binary lacks what the plan needs.
fn missing_feature(d: &launch::Description) -> Option<String> {
    let (feature, have) = match d.requires()? {
        "nccl" => ("nccl", cfg!(feature = "nccl")),
        other => (other, cfg!(feature = "cuda")),
    };
    if have && cfg!(feature = "serve") {
        return None;
    }
    Some(format!(
        "error: this deployctl was built without the `{feature}` feature, which the plan needs \
         ({}); rebuild it with:\n  cargo install deployctl --features {feature}",
        match feature {
            "nccl" => "tensor parallelism",
            _ => "its layers are on GPUs",
        }
    ))
}

/// Reads the API key from where the manifest says. Never printed.
/// Why the API key the manifest names could not be read.
#[derive(Debug, thiserror::Error)]
enum ApiKeyError {
    #[error("`server.api_key` reads environment variable `{0}`, which is unset or empty")]
    UnsetVariable(String),
    #[error("`server.api_key` file `{0}` is empty")]
    EmptyFile(String),
    #[error("cannot read `server.api_key` file `{file}`: {reason}")]
    Unreadable { file: String, reason: String },
}

fn read_api_key(source: Option<&SecretSource>) -> Result<Option<String>, ApiKeyError> {
    match source {
        None => Ok(None),
        Some(SecretSource::Env(var)) => match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_owned())),
            _ => Err(ApiKeyError::UnsetVariable(var.clone())),
        },
        Some(SecretSource::File(path)) => {
            match crate::files::read_text(path, crate::files::cap::SECRET) {
                Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_owned())),
                Ok(_) => Err(ApiKeyError::EmptyFile(path.display().to_string())),
                Err(e) => Err(ApiKeyError::Unreadable {
                    file: path.display().to_string(),
                    reason: diagnostic::io_reason(&e),
                }),
            }
        }
    }
}

#[cfg(not(feature = "serve"))]
fn serve(_: Serving<'_>) -> Exit {
    eprintln!(
        "error: this deployctl was built without the `serve` feature, so it validates and plans only; \
         rebuild it with:\n  cargo install deployctl"
    );
    Exit::Runtime
}

#[cfg(feature = "serve")]
fn serve(serving: Serving<'_>) -> Exit {
    use std::time::Duration;

    let Serving {
        description,
        manifest,
        plan,
        api_key,
        timing,
        json_log,
        allow_deviations,
        worker,
        color,
    } = serving;

    // Before any thread or CUDA call exists: the runtime and mistral.rs read it.
    launch::in_process::set_environment(description);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Runtime;
        }
    };
    if worker {
        // A tensor-parallel rank: build the same model, never return.
        return match runtime.block_on(launch::in_process::load(description.clone())) {
            Ok(_) => Exit::Ok,
            Err(_) => Exit::Runtime,
        };
    }
    let log = if json_log {
        crate::server::LogFormat::Json
    } else {
        crate::server::LogFormat::Plain
    };
    crate::server::log::install(log, color);
    let loopback = crate::manifest::is_loopback(&manifest.server.host);
    let say = move |level: &str, message: &str| crate::server::log::say(log, level, message);
    if !loopback && api_key.is_none() {
        say(
            "warn",
            &format!(
                "warning: serving on {} without an API key: anyone who can reach the port can use the model",
                manifest.server.host
            ),
        );
    }
    let strategy = plan.strategy.describe(plan.devices.len());
    let on_cpu = description.on_cpu();
    let rehearsal = if plan.strategy != crate::plan::Kind::Cpu && on_cpu {
        ", rehearsed on the CPU"
    } else {
        ""
    };
    say(
        "info",
        &format!(
            "loading {} ({strategy}{rehearsal}) with mistral.rs…",
            manifest.name
        ),
    );
    let address = format!("http://{}:{}", manifest.server.host, manifest.server.port);
    let name = manifest.name.clone();
    let summary = format!(
        "{} layers, {}",
        plan.model_layers,
        super::plan_table::gib(plan.weights_total)
    );
    let planned = plan.clone();
    // What this process holds before the model: the plan does not cover it.
    let before = crate::inventory::measure::resident(std::process::id()).unwrap_or_default();
    let options = crate::server::Options {
        name: manifest.name.clone(),
        model_id: description.model_id.clone(),
        host: manifest.server.host.clone(),
        port: manifest.server.port,
        api_key,
        limits: crate::server::Limits {
            model: manifest.name.clone(),
            // Generous for inline images; mistral.rs's own default is 50 MB.
            body_bytes: 32 << 20,
            max_choices: u64::from(description.max_seqs.max(1)),
            images: description.max_images.is_some(),
            max_seq_len: description.max_seq_len,
        },
        connections: crate::server::ConnectionLimits {
            connections: 1024,
            header_timeout: Duration::from_secs(30),
        },
        max_seqs: description.max_seqs,
        drain: Duration::from_secs(timing.drain.into()),
        grace: Duration::from_secs(timing.grace.into()),
        request_timeout: Duration::from_secs(timing.request_timeout.max(1).into()),
        cors_origins: manifest.server.cors_origins.clone(),
        allow_deviations,
        log,
        status: serde_json::json!({
            "deployment": name,
            "plan": plan,
            "launch": launch_without_paths(description),
        }),
        measure: std::sync::Arc::new(move || super::measured::report(&planned, on_cpu, before)),
        on_ready: Box::new(move |took, measured| {
            say("info", &super::measured::table(measured));
            say(
                "info",
                &format!(
                    "ready: {name} at {address} ({summary}), loaded in {:.2} s",
                    took.as_secs_f64()
                ),
            );
        }),
    };
    let described = description.clone();
    let loading = async move {
        let (engine, built) = launch::in_process::load(described.clone()).await?;
        Ok(crate::server::Loaded {
            engine,
            deviations: launch::contract::deviations(&described, &built),
            built: serde_json::to_value(&built).unwrap_or_default(),
        })
    };
    let outcome = runtime.block_on(crate::server::run(options, loading));
    // A load still running (stopped before it was ready) is not waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(crate::server::Stopped::BeforeReady) => {
            say("info", "stopped before the model was ready");
            Exit::Ok
        }
        Ok(crate::server::Stopped::Drained) => {
            say("info", "stopped: every request finished");
            Exit::Ok
        }
        Ok(crate::server::Stopped::Cut { requests }) => {
            say(
                "warn",
                &format!(
                    "stopped: {requests} request(s) were still running when the grace period ended, and were cut"
                ),
            );
            Exit::Cut
        }
        Err(e) => {
            say("error", &format!("error: {e}"));
            Exit::Runtime
        }
    }
}

/// The launch for `/deployctl/status`, without the serving machine's paths.
#[cfg(feature = "serve")]
fn launch_without_paths(description: &launch::Description) -> serde_json::Value {
    let mut value = serde_json::to_value(description).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        for key in ["files", "tokenizer", "chat_template"] {
            map.remove(key);
        }
    }
    value
}

/// `GPUs: 2 × NVIDIA A100 80GB PCIe (80 GiB) (this machine (NVML));
/// [devices.expect] asks 2 GPU(s), 80 GB each: met`. Whether it is met is
/// the preflight's verdict (`met`), not a second reading of the numbers.
fn received(
    inventory: &crate::inventory::Inventory,
    expect: Option<&crate::manifest::ExpectedHardware>,
    met: bool,
) -> String {
    let mut line = format!("GPUs: {} ({})", inventory.describe(), inventory.source);
    if let Some(e) = expect {
        let mut asks = Vec::new();
        if let Some(count) = e.count {
            asks.push(format!("{count} GPU(s)"));
        }
        if let Some(memory) = e.memory {
            asks.push(format!("{memory} each"));
        }
        if let Some(c) = e.min_compute_capability {
            asks.push(format!("compute {}.{} or newer", c.major, c.minor));
        }
        if !asks.is_empty() {
            line.push_str(&format!(
                "; [devices.expect] asks {}: {}",
                asks.join(", "),
                if met { "met" } else { "NOT met" }
            ));
        }
    }
    line
}
