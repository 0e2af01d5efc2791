//! The HTTP server `apply` runs: mistral.rs's OpenAI-compatible routes (from
//! `mistralrs-server-core`) behind deployctl's own `/health`, `/deployctl/status`
//! and API-key check, bound before the model loads and stopped gracefully.

mod auth;
mod errors;
mod guard;
mod model_name;

pub use guard::Limits;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{RwLock, watch};
use tower::ServiceExt as _;

use mistralrs::core::MistralRs;

pub struct Options {
    /// The deployment's name: requests route by it, and responses carry it.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub api_key: Option<String>,
    /// What one request may ask for.
    pub limits: Limits,
    /// How long in-flight requests may run after SIGINT/SIGTERM.
    pub grace: Duration,
    /// The plan and launch, for `/deployctl/status`.
    pub status: serde_json::Value,
    /// Called once the model is loaded, with the load time: prints the ready
    /// line and adds what it measured to the status.
    pub on_ready: Box<dyn FnOnce(Duration) -> serde_json::Value + Send>,
}

struct Shared {
    routes: RwLock<Option<Router>>,
    status: RwLock<serde_json::Value>,
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

/// Binds, serves 503 while `load` runs, then serves the model until SIGINT or
/// SIGTERM; in-flight requests get `grace` to finish.
pub async fn run<L>(options: Options, load: L) -> Result<(), Failure>
where
    L: Future<Output = anyhow::Result<Arc<MistralRs>>>,
{
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
        Failure::Bind(match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("cannot listen on {address}: the port is in use")
            }
            _ => format!("cannot listen on {address}: {e}"),
        })
    })?;
    let shared = Arc::new(Shared {
        routes: RwLock::new(None),
        status: RwLock::new(options.status),
    });
    // Only the deployment's routes: mistral.rs's router also serves unload,
    // reload, tune, system info and doctor, re-ISQ, responses, images and
    // speech, none of which a deployment is for (some read files or reach the
    // network), so they are never forwarded.
    let checked = axum::middleware::from_fn_with_state(Arc::new(options.limits), guard::check);
    let app = Router::new()
        .route("/health", get(health))
        .route("/deployctl/status", get(status))
        .route("/v1/chat/completions", post(forward).layer(checked.clone()))
        .route("/v1/completions", post(forward).layer(checked))
        .route("/v1/models", get(forward))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(options.api_key),
            auth::require_key,
        ))
        .with_state(shared.clone());

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = tokio::spawn({
        let mut stop_rx = stop_rx.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                })
                .await
        }
    });

    let started = Instant::now();
    let loaded = tokio::select! {
        result = load => Some(result),
        () = shutdown_signal() => None,
    };
    match loaded {
        None => {
            let _ = stop_tx.send(true);
            return finish(server, options.grace).await;
        }
        Some(Err(e)) => {
            let _ = stop_tx.send(true);
            let _ = finish(server, options.grace).await;
            return Err(Failure::Load(format!("{e:#}")));
        }
        Some(Ok(engine)) => {
            let routes = mistralrs_server_core::mistralrs_server_router_builder::MistralRsServerRouterBuilder::new()
                .with_mistralrs(engine)
                // No origin may read responses from a web page: mistral.rs
                // allows any by default.
                .with_allowed_origins(Vec::new())
                .build()
                .await
                .map_err(|e| Failure::Serve(format!("{e:#}")))?
                .layer(axum::middleware::from_fn_with_state(
                    Arc::<str>::from(options.name),
                    model_name::rename,
                ))
                .layer(axum::middleware::from_fn(errors::shape));
            *shared.routes.write().await = Some(routes);
            let measured = (options.on_ready)(started.elapsed());
            if let serde_json::Value::Object(map) = &mut *shared.status.write().await {
                map.insert("loaded".into(), true.into());
                map.insert(
                    "load_seconds".into(),
                    started.elapsed().as_secs_f64().into(),
                );
                map.insert("measured".into(), measured);
            }
        }
    }
    tokio::select! {
        () = shutdown_signal() => {}
        _ = stop_rx.changed() => {}
    }
    let _ = stop_tx.send(true);
    finish(server, options.grace).await
}

async fn finish(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    grace: Duration,
) -> Result<(), Failure> {
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(Failure::Serve(e.to_string())),
        Ok(Err(e)) => Err(Failure::Serve(e.to_string())),
        // Requests still running after the grace period are cut off.
        Err(_) => Ok(()),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (`docker stop`, systemd).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// 503 until the model is loaded, then 200: what load balancers and
/// Kubernetes readiness probes expect.
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    if shared.routes.read().await.is_some() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "loading").into_response()
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.status.read().await.clone()).into_response()
}

/// A route the deployment does not serve, in OpenAI's error shape.
async fn not_found(request: Request) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": {
                "message": format!("`{} {}` is not a route of this deployment", request.method(), request.uri().path()),
                "type": "not_found",
            }
        })),
    )
        .into_response()
}

/// The deployment's OpenAI routes go to mistral.rs's once they exist.
async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let routes = shared.routes.read().await.clone();
    match routes {
        Some(routes) => match routes.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": { "message": "the model is still loading", "type": "unavailable" }
            })),
        )
            .into_response(),
    }
}
