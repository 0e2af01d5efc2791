//! Responses name the deployment, as requests do. mistral.rs fills `model` with
//! its pipeline's name, which is the model's path on the serving machine: not
//! what the client asked for, and not the client's to see.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;

/// The largest JSON response renamed; no completion comes near it.
const LIMIT: usize = 64 << 20;

pub(super) async fn rename(State(name): State<Arc<str>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if kind.starts_with("application/json") {
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, LIMIT).await else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "response too large").into_response();
        };
        let bytes = rename_json(&bytes, &name).unwrap_or(bytes);
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(bytes))
    } else if kind.starts_with("text/event-stream") {
        let (parts, body) = response.into_parts();
        let events = body
            .into_data_stream()
            .map(move |chunk| chunk.map(|c| rename_events(c, &name)));
        Response::from_parts(parts, Body::from_stream(events))
    } else {
        response
    }
}

/// `json` with its top-level `model` string set to `name`; `None` if it has none.
fn rename_json(json: &[u8], name: &str) -> Option<Bytes> {
    let mut value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let model = value.as_object_mut()?.get_mut("model")?;
    if !model.is_string() {
        return None;
    }
    *model = name.into();
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

/// Server-sent events with each `data:` line renamed. axum writes each event
/// in one frame, so a line is not split across chunks; a line that does not
/// parse passes unchanged.
fn rename_events(chunk: Bytes, name: &str) -> Bytes {
    let Ok(text) = std::str::from_utf8(&chunk) else {
        return chunk;
    };
    if !text.contains("\"model\"") {
        return chunk;
    }
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        match body
            .strip_prefix("data:")
            .and_then(|json| rename_json(json.trim_start().as_bytes(), name))
        {
            Some(json) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&json);
                out.extend_from_slice(&line.as_bytes()[body.len()..]);
            }
            None => out.extend_from_slice(line.as_bytes()),
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_the_top_level_model_only() {
        let json = br#"{"id":"1","model":"/models/llama","choices":[{"model":"x"}],"usage":{"avg_tok_per_sec":5.5637374}}"#;
        assert_eq!(
            rename_json(json, "chat").unwrap(),
            br#"{"id":"1","model":"chat","choices":[{"model":"x"}],"usage":{"avg_tok_per_sec":5.5637374}}"#.as_slice()
        );
        assert_eq!(rename_json(br#"{"data":[]}"#, "chat"), None);
        assert_eq!(rename_json(b"[1]", "chat"), None);
    }

    #[test]
    fn renames_each_event_and_keeps_the_rest() {
        let events = Bytes::from_static(
            b"data: {\"model\":\"/models/llama\",\"object\":\"chat.completion.chunk\"}\n\n\
              : keep-alive\n\ndata: [DONE]\n\n",
        );
        assert_eq!(
            rename_events(events, "chat"),
            Bytes::from_static(
                b"data: {\"model\":\"chat\",\"object\":\"chat.completion.chunk\"}\n\n\
                  : keep-alive\n\ndata: [DONE]\n\n"
            )
        );
        let other = Bytes::from_static(b"data: [DONE]\n\n");
        assert_eq!(rename_events(other.clone(), "chat"), other);
    }
}
