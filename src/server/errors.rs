//! mistral.rs's failures in OpenAI's error shape. It answers `{"message": …,
//! "partial_response": …}` with a Rust backtrace in the message, or axum's
//! plain-text rejections; clients of the OpenAI API expect
//! `{"error": {"message", "type"}}`, and the backtrace is not theirs to see.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// Error bodies are short; a larger one is passed on as it is.
const LIMIT: usize = 1 << 20;

pub(super) async fn shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, LIMIT).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let json = openai_error(status, &bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(json.to_string()))
}

/// The error body for `status` and what mistral.rs sent.
fn openai_error(status: StatusCode, body: &[u8]) -> serde_json::Value {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(error) = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .filter(|e| e.is_object())
    {
        return serde_json::json!({ "error": error });
    }
    let message = match parsed.as_ref().and_then(|v| v.get("message")) {
        Some(serde_json::Value::String(m)) => m.clone(),
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    // The first line says what went wrong; the rest is a backtrace.
    let message = message.lines().next().unwrap_or_default().trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    serde_json::json!({
        "error": {
            "message": message,
            "type": if status.is_server_error() { "server_error" } else { "invalid_request_error" },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistralrs_errors_take_openai_s_shape_without_the_backtrace() {
        let body = br#"{"message":"shape mismatch in matmul\n   0: candle_core::error::Error::bt\n   1: x","partial_response":{"id":"1"}}"#;
        assert_eq!(
            openai_error(StatusCode::INTERNAL_SERVER_ERROR, body),
            serde_json::json!({"error": {"message": "shape mismatch in matmul", "type": "server_error"}})
        );
        assert_eq!(
            openai_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                b"Failed to deserialize the JSON body"
            ),
            serde_json::json!({"error": {"message": "Failed to deserialize the JSON body", "type": "invalid_request_error"}})
        );
        let ours = br#"{"error":{"message":"x","type":"not_found"}}"#;
        assert_eq!(
            openai_error(StatusCode::NOT_FOUND, ours),
            serde_json::json!({"error": {"message": "x", "type": "not_found"}})
        );
        assert_eq!(
            openai_error(StatusCode::BAD_REQUEST, b""),
            serde_json::json!({"error": {"message": "Bad Request", "type": "invalid_request_error"}})
        );
    }
}
