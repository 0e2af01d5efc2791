//! The HTTP server `apply` runs: the deployment's OpenAI routes (mistral.rs's,
//! from `mistralrs-server-core`) behind deployctl's own `/health`,
//! `/deployctl/status` and `/metrics`, API-key check, request limits and
//! logs; bound before the model loads, and drained on SIGINT or SIGTERM.
//!
//! A request passes, outermost first: `tracked` (id, log, metrics, time
//! limit), `auth`, then on the generation routes `admission` (429 when full)
//! and `guard` (body, model, `n`, images, `max_tokens`), then `forward`:
//! 503 while loading or draining, the context check, and mistral.rs.

mod admission;
mod auth;
mod context;
mod errors;
mod guard;
mod listener;
pub mod log;
mod memory_watch;
mod metrics;
mod model_name;
mod phase;
mod routes;
mod tracked;

pub use guard::Limits;
pub use listener::ConnectionLimits;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{RwLock, watch};
use tower::ServiceExt as _;

use mistralrs::core::MistralRs;

use crate::inventory::measure::Row;
use metrics::Metrics;
use phase::{CurrentPhase, Phase};

pub use log::LogFormat;
use log::say;

/// Measures each device's memory for the deployment, planned beside held.
pub type Measure = Arc<dyn Fn() -> Vec<Row> + Send + Sync>;

/// Prints the ready line, given the load time and what was measured.
pub type OnReady = Box<dyn FnOnce(Duration, &[Row]) + Send>;

pub struct Options {
    /// The deployment's name: requests route by it, and responses carry it.
    pub name: String,
    /// The id mistral.rs knows the model by.
    pub model_id: String,
    pub host: String,
    pub port: u16,
    pub api_key: Option<String>,
    /// What one request may ask for.
    pub limits: Limits,
    pub connections: ConnectionLimits,
    /// Sequences mistral.rs runs at once: as many again may wait.
    pub max_seqs: u32,
    /// How long `/health` answers 503 after SIGINT/SIGTERM before the
    /// listener closes, so load balancers stop sending requests first.
    pub drain: Duration,
    /// How long in-flight requests may then run before they are cut.
    pub grace: Duration,
    /// The longest one generation may take.
    pub request_timeout: Duration,
    /// Web origins that may call from a page; none when empty.
    pub cors_origins: Vec<String>,
    /// Serve even when the build differs from the plan.
    pub allow_deviations: bool,
    pub log: LogFormat,
    /// The plan and launch, for `/deployctl/status`.
    pub status: serde_json::Value,
    pub measure: Measure,
    /// Called once the model is loaded, with the load time: prints the ready
    /// line.
    pub on_ready: OnReady,
}

/// A loaded model: the engine to serve, and how its build differs from the
/// plan (see `launch::contract`).
pub struct Loaded {
    pub engine: Arc<MistralRs>,
    /// What the pipeline reports it built, for `/deployctl/status`.
    pub built: serde_json::Value,
    /// Each way the build differs from the plan; while any is left,
    /// `/health` answers 503 unless `allow_deviations`.
    pub deviations: Vec<String>,
}

/// How serving ended, when it ended without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A signal came before the model was ready. The load may still be
    /// running on another thread: the process should exit now.
    BeforeReady,
    /// Every request finished within the grace period.
    Drained,
    /// The grace period ended with these generations still running; they
    /// were ended with an error.
    Cut { requests: i64 },
}

/// Why serving ended badly.
#[derive(Debug)]
pub enum Failure {
    /// The address could not be bound (in use, not ours): nothing was loaded.
    Bind(String),
    /// The model could not be loaded.
    Load(String),
    Serve(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Bind(m) | Failure::Load(m) | Failure::Serve(m) => f.write_str(m),
        }
    }
}

struct Shared {
    phase: CurrentPhase,
    /// Set once, when the model is loaded.
    ready: std::sync::OnceLock<Ready>,
    model_id: String,
    max_seq_len: u64,
    status: RwLock<serde_json::Value>,
    metrics: Arc<Metrics>,
    measure: Measure,
}

/// What serving needs once the model is loaded.
struct Ready {
    /// mistral.rs's routes, behind the renaming and error shaping.
    routes: Router,
    engine: Arc<MistralRs>,
    /// How the build differs from the plan: `/health` answers 503 while any
    /// (none kept under `allow_deviations`).
    deviations: Vec<String>,
}

impl Shared {
    /// Enters `phase`, for requests and in `/metrics` alike.
    fn enter(&self, phase: Phase) {
        self.phase.set(phase);
        self.metrics.set_phase(phase);
    }

    /// Measures memory now (off the async threads: NVML and `/proc` block),
    /// and records it in the metrics.
    async fn remeasure(&self) -> Vec<Row> {
        let measure = self.measure.clone();
        let rows = tokio::task::spawn_blocking(move || measure())
            .await
            .unwrap_or_default();
        memory_watch::record_memory(&self.metrics, &rows);
        rows
    }
}

/// Counts SIGINT and SIGTERM from now on. One listener for the whole run:
/// a listener made later would miss a signal that came before it.
fn count_signals() -> std::io::Result<watch::Receiver<u32>> {
    let (tx, rx) = watch::channel(0);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
                tx.send_modify(|n| *n += 1);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}

/// Binds, serves 503 while `load` runs, then serves the model until SIGINT or
/// SIGTERM, and drains: `drain` of 503 on `/health`, then `grace` for what is
/// in flight. A second signal skips what is left of both.
pub async fn run<L>(options: Options, load: L) -> Result<Stopped, Failure>
where
    L: Future<Output = anyhow::Result<Loaded>> + Send + 'static,
{
    let mut signals =
        count_signals().map_err(|e| Failure::Serve(format!("cannot watch for signals: {e}")))?;
    let address = format!("{}:{}", options.host, options.port);
    let tcp = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
        Failure::Bind(match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("cannot listen on {address}: the port is in use")
            }
            _ => format!("cannot listen on {address}: {e}"),
        })
    })?;
    let metrics = Arc::new(Metrics::new());
    let shared = Arc::new(Shared {
        phase: CurrentPhase::default(),
        ready: std::sync::OnceLock::new(),
        model_id: options.model_id,
        max_seq_len: options.limits.max_seq_len,
        status: RwLock::new(options.status),
        metrics: metrics.clone(),
        measure: options.measure,
    });
    let (close_tx, close_rx) = watch::channel(false);
    let (cut_tx, cut_rx) = watch::channel(false);
    let app = app(
        &shared,
        options.limits,
        options.api_key,
        options.max_seqs,
        cors(&options.cors_origins),
        tracked::Tracking {
            metrics: metrics.clone(),
            log: options.log,
            cut: cut_rx,
            request_timeout: options.request_timeout,
        },
    );
    let mut server = tokio::spawn(listener::serve(tcp, app, close_rx, options.connections));

    // On a task of its own: mistral.rs's load blocks the thread it runs on
    // for most of its length, and a signal must be seen meanwhile.
    let started = Instant::now();
    let mut loading = tokio::spawn(load);
    let loaded = tokio::select! {
        loaded = &mut loading => match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => {
                let _ = close_tx.send(true);
                return Err(Failure::Load(format!("{e:#}")));
            }
            Err(e) => {
                let _ = close_tx.send(true);
                return Err(Failure::Load(format!("the load stopped: {e}")));
            }
        },
        _ = signals.wait_for(|n| *n > 0) => {
            let _ = close_tx.send(true);
            return Ok(Stopped::BeforeReady);
        }
    };
    let engine = loaded.engine;
    for deviation in &loaded.deviations {
        say(
            options.log,
            "error",
            &format!("error: the launch does not hold the plan: {deviation}"),
        );
    }
    if !loaded.deviations.is_empty() && options.allow_deviations {
        say(
            options.log,
            "warn",
            "warning: serving anyway (`--allow-deviations`)",
        );
    }
    let routes =
        mistralrs_server_core::mistralrs_server_router_builder::MistralRsServerRouterBuilder::new()
            .with_mistralrs(engine.clone())
            // No origin may read responses from a web page: mistral.rs allows
            // any by default.
            .with_allowed_origins(Vec::new())
            .build()
            .await
            .map_err(|e| Failure::Serve(format!("{e:#}")))?
            .layer(axum::middleware::from_fn_with_state(
                Arc::<str>::from(options.name),
                model_name::rename,
            ))
            .layer(axum::middleware::from_fn(errors::shape));
    let _ = shared.ready.set(Ready {
        routes,
        engine,
        deviations: if options.allow_deviations {
            Vec::new()
        } else {
            loaded.deviations.clone()
        },
    });
    let took = started.elapsed();
    let measured = (shared.measure)();
    memory_watch::record_memory(&metrics, &measured);
    metrics.load_seconds.set(took.as_secs_f64());
    if let serde_json::Value::Object(map) = &mut *shared.status.write().await {
        map.insert("load_seconds".into(), took.as_secs_f64().into());
        map.insert("built".into(), loaded.built);
        map.insert("deviations".into(), loaded.deviations.clone().into());
        // What the load itself took, before any request: what the plan's
        // weights and runtime are measured against.
        map.insert(
            "measured_at_load".into(),
            serde_json::to_value(&measured).unwrap_or_default(),
        );
    }
    shared.enter(Phase::Ready);
    (options.on_ready)(took, &measured);
    // What the load's table already warned of is not warned of again.
    let warned = measured
        .iter()
        .filter(|r| r.warning.is_some())
        .map(|r| r.device.clone())
        .collect();
    tokio::spawn(memory_watch::watch_memory(
        shared.clone(),
        options.log,
        warned,
    ));

    tokio::select! {
        _ = signals.wait_for(|n| *n > 0) => {}
        // The listener stopped by itself.
        _ = &mut server => return Err(Failure::Serve("the listener stopped".into())),
    }
    shared.enter(Phase::Draining);
    say(
        options.log,
        "info",
        &format!(
            "draining: /health answers 503 for {} s, then requests in flight have {} s to finish",
            options.drain.as_secs_f64(),
            options.grace.as_secs_f64()
        ),
    );
    tokio::select! {
        () = tokio::time::sleep(options.drain) => {}
        _ = signals.wait_for(|n| *n > 1) => {}
    }
    let _ = close_tx.send(true);
    let finished = tokio::select! {
        _ = &mut server => true,
        () = tokio::time::sleep(options.grace) => false,
        _ = signals.wait_for(|n| *n > 1) => false,
    };
    if finished {
        return Ok(Stopped::Drained);
    }
    let requests = metrics.in_flight.get();
    let _ = cut_tx.send(true);
    // Cut streams end at once; what is left is dropped with the process.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(Stopped::Cut { requests })
}

fn app(
    shared: &Arc<Shared>,
    limits: Limits,
    api_key: Option<String>,
    max_seqs: u32,
    cors: Option<tower_http::cors::CorsLayer>,
    tracking: tracked::Tracking,
) -> Router {
    // Only the deployment's routes: mistral.rs's router also serves unload,
    // reload, tune, system info and doctor, re-ISQ, responses, images and
    // speech, none of which a deployment is for (some read files or reach the
    // network), so they are never forwarded.
    let checked = axum::middleware::from_fn_with_state(Arc::new(limits), guard::check);
    let admitted = axum::middleware::from_fn_with_state(
        Arc::new(admission::Admission::new(max_seqs, shared.metrics.clone())),
        admission::admit,
    );
    let generate = || post(forward).layer(checked.clone()).layer(admitted.clone());
    Router::new()
        .route("/health", get(routes::health))
        .route("/deployctl/status", get(routes::status))
        .route("/metrics", get(routes::metrics_text))
        .route("/v1/chat/completions", generate())
        .route("/v1/completions", generate())
        .route("/v1/models", get(forward))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(api_key),
            auth::require_key,
        ))
        // Outside the key check: a browser's preflight carries no key.
        .layer(tower::util::option_layer(cors))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(tracking),
            tracked::track,
        ))
        .with_state(shared.clone())
}

/// CORS for the origins the manifest lists (`server.cors_origins`), and none
/// otherwise: mistral.rs's own router allows every origin, which let any page
/// its operator opened call the model.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let request_id = HeaderName::from_static("x-request-id");
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                request_id.clone(),
            ])
            .expose_headers([request_id])
            .max_age(Duration::from_secs(600)),
    )
}

/// An error in OpenAI's shape, for the server's own refusals; its `type`
/// follows the status.
fn refusal(status: StatusCode, message: &str) -> Response {
    let kind = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_exceeded",
        s if s.is_server_error() => "server_error",
        _ => "invalid_request_error",
    };
    (
        status,
        axum::Json(serde_json::json!({ "error": { "message": message, "type": kind } })),
    )
        .into_response()
}

/// The deployment's OpenAI routes go to mistral.rs's once they exist.
async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let phase = shared.phase.get();
    let (Phase::Ready, Some(ready)) = (phase, shared.ready.get()) else {
        let mut response = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            if phase == Phase::Draining {
                "the server is shutting down"
            } else {
                "the model is still loading"
            },
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return response;
    };
    let (routes, engine) = (ready.routes.clone(), &ready.engine);
    let (mut parts, body) = request.into_parts();
    let chat = parts.uri.path() == "/v1/chat/completions";
    let Some(guard::Parsed(mut json)) = parts.extensions.remove::<guard::Parsed>() else {
        return detached(routes, Request::from_parts(parts, body)).await;
    };
    if let Err(refused) = context::fit(engine, &mut json, chat, shared.max_seq_len).await {
        return refused;
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = axum::body::Body::from(json.to_string());
    detached(routes, Request::from_parts(parts, body)).await
}

/// Runs mistral.rs's handler on a task of its own, so that it keeps its
/// receiver until the engine has answered even when the client has gone.
///
/// mistral.rs 0.8.1 cancels a sequence only when a streamed chunk cannot be
/// sent (`pipeline/sampling.rs`: the failed send sets `StopReason::Canceled`).
/// A non-streamed request has no such check: when its receiver is gone, the
/// final send fails, the engine's error path `unwrap`s a second send to the
/// same closed channel (`handle_pipeline_forward_error!`, `utils/mod.rs`), and
/// the panic fails every other request in the batch while the engine
/// restarts. Kept alive here, a non-streamed generation whose client left runs
/// to its end (at most the context) and its answer is dropped. It is not
/// asked of mistral.rs as a stream instead: 0.8.1 drops a stream's final
/// chunk when the text ends inside a multi-byte character
/// (`Sequence::peek_delta`), so the answer could not be completed.
async fn detached(routes: Router, request: Request) -> Response {
    match tokio::spawn(async move { routes.oneshot(request).await }).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request's handler failed",
        ),
    }
}
