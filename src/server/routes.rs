//! deployctl's own routes: `/health`, `/deployctl/status`, `/metrics`, and
//! the answer for a route the deployment does not serve.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mistralrs::core::{MistralRs, ModelStatus};

use super::Shared;
use super::phase::Phase;

/// Whether the model is still loaded and its engine thread still running.
pub(super) fn engine_alive(engine: &MistralRs, model_id: &str) -> bool {
    matches!(
        engine.get_model_status(model_id),
        Ok(Some(ModelStatus::Loaded))
    ) && engine
        .get_sender(Some(model_id))
        .is_ok_and(|sender| !sender.is_closed())
}

/// 200 while the model serves; 503 while it loads, while the server drains,
/// when the engine is gone, and when mistral.rs built something other than
/// the plan: what load balancers and Kubernetes probes expect.
pub(super) async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let unavailable = |why: &'static str| (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    match shared.phase.get() {
        Phase::Loading => unavailable("loading"),
        Phase::Draining => unavailable("draining"),
        Phase::Ready => match shared.ready.get() {
            Some(ready) if !ready.deviations.is_empty() => {
                let why = format!("the launch does not hold the plan: {}", ready.deviations[0]);
                (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
            }
            Some(ready) if engine_alive(&ready.engine, &shared.model_id) => {
                (StatusCode::OK, "ok").into_response()
            }
            _ => unavailable("the model's engine has stopped"),
        },
    }
}

pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let mut status = shared.status.read().await.clone();
    if let serde_json::Value::Object(map) = &mut status {
        map.insert("state".into(), shared.phase.get().name().into());
        map.insert(
            "loaded".into(),
            (shared.phase.get() != Phase::Loading).into(),
        );
        if shared.phase.get() != Phase::Loading {
            let rows = shared.remeasure().await;
            map.insert(
                "measured".into(),
                serde_json::to_value(&rows).unwrap_or_default(),
            );
        }
    }
    axum::Json(status).into_response()
}

pub(super) async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

/// A route the deployment does not serve, in OpenAI's error shape.
pub(super) async fn not_found(request: Request) -> Response {
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
