//! `Authorization: Bearer <key>` on every route but `/health`, compared in
//! constant time. The key is never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

pub(super) async fn require_key(
    State(key): State<Arc<Option<String>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = key.as_deref() else {
        return next.run(request).await;
    };
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let mut headers = request.headers().get_all(header::AUTHORIZATION).iter();
    let (first, second) = (headers.next(), headers.next());
    if second.is_some() {
        // Which one a proxy or a client meant is anyone's guess.
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "error": { "message": "send one `Authorization` header, not several", "type": "invalid_request_error" }
            })),
        )
            .into_response();
    }
    let given = first
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(key.as_bytes())) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({
            "error": { "message": "missing or wrong API key: send `Authorization: Bearer <key>`", "type": "unauthorized" }
        })),
    )
        .into_response()
}

/// The credentials of a `Bearer` authorization; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start())
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer sk-1", "bearer sk-1", "BEARER sk-1", "Bearer  sk-1"] {
            assert_eq!(bearer(v), Some("sk-1"), "{v}");
        }
        assert_eq!(bearer("Basic sk-1"), None);
        assert_eq!(bearer("Bearersk-1"), None);
    }
}
