//! What a request may ask of the deployment, checked before mistral.rs sees
//! it: a body of bounded size, no more choices (`n`) than the deployment runs
//! sequences at once, and images only where the model takes them, inline.
//! mistral.rs fetches an `image_url` it is given, `http(s)://` or `file://`,
//! with no timeout, even for a text model: a request could make the server
//! reach any address, or probe which files exist.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// The limits a deployment puts on requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The deployment's name: the one `model` a request may name.
    pub model: String,
    /// Largest request body accepted.
    pub body_bytes: usize,
    /// Most choices (`n`) one request may ask for: the sequences mistral.rs
    /// runs at once.
    pub max_choices: u64,
    /// The model takes images.
    pub images: bool,
    /// The plan's `max_seq_len`: prompt and answer together.
    pub max_seq_len: u64,
}

/// The request's body, parsed once, for the handler after the guard.
#[derive(Clone)]
pub(super) struct Parsed(pub Value);

pub(super) async fn check(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} bytes",
                limits.body_bytes
            ),
        )
    };
    // Refused on its declared length before any of it is read, so the client
    // gets the answer rather than a connection cut while it still sends.
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, limits.body_bytes).await else {
        return too_large();
    };
    let mut parts = parts;
    // A body that is not JSON is mistral.rs's to reject, in its own words.
    if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
        if let Some(model) = json.get("model").and_then(Value::as_str) {
            if model != limits.model {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("this deployment serves `{}`, not `{model}`", limits.model),
                );
            }
        }
        if let Err(e) = allowed(&json, &limits) {
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
        parts.extensions.insert(Parsed(json));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// How a request oversteps the deployment's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LimitError {
    #[error("`n` must be from 1 to {max_choices}, the sequences this deployment runs at once")]
    Choices { max_choices: u64 },
    /// `key`: `max_tokens` or `max_completion_tokens`.
    #[error(
        "`{key}` must be from 1 to {}: this deployment's context is {max_seq_len} tokens, prompt included",
        .max_seq_len.saturating_sub(1)
    )]
    Tokens { key: &'static str, max_seq_len: u64 },
    #[error("this deployment's model takes no images")]
    NoImages,
    #[error("images must be inline `data:` URLs: this deployment fetches no remote or local files")]
    ImageNotInline,
}

/// Whether `request` keeps within `limits`, or why not.
fn allowed(request: &Value, limits: &Limits) -> Result<(), LimitError> {
    if let Some(n) = request.get("n") {
        match n.as_u64() {
            Some(n) if (1..=limits.max_choices).contains(&n) => {}
            _ => {
                return Err(LimitError::Choices {
                    max_choices: limits.max_choices,
                });
            }
        }
    }
    for key in ["max_tokens", "max_completion_tokens"] {
        let Some(asked) = request.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        if !asked
            .as_u64()
            .is_some_and(|n| (1..limits.max_seq_len).contains(&n))
        {
            return Err(LimitError::Tokens {
                key,
                max_seq_len: limits.max_seq_len,
            });
        }
    }
    for url in image_urls(request) {
        if !limits.images {
            return Err(LimitError::NoImages);
        }
        if !url.starts_with("data:") {
            return Err(LimitError::ImageNotInline);
        }
    }
    Ok(())
}

/// Every image URL in a chat request's messages: `image_url` parts (an
/// object with `url`, or the URL itself) and `input_image` parts.
fn image_urls(request: &Value) -> Vec<String> {
    let mut urls = Vec::new();
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return urls;
    };
    for part in messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
    {
        for key in ["image_url", "input_image", "image"] {
            match part.get(key) {
                Some(Value::String(url)) => urls.push(url.clone()),
                Some(Value::Object(o)) => urls.push(
                    o.get("url")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                ),
                Some(_) => urls.push(String::new()),
                None => {}
            }
        }
        if part
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("image"))
            && !["image_url", "input_image", "image"]
                .iter()
                .any(|k| part.get(*k).is_some())
        {
            urls.push(String::new());
        }
    }
    urls
}

fn error(status: StatusCode, message: String) -> Response {
    super::refusal(status, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits(images: bool) -> Limits {
        Limits {
            model: "m".into(),
            body_bytes: 1 << 20,
            max_choices: 2,
            images,
            max_seq_len: 100,
        }
    }

    fn chat_with_image(url: &str) -> Value {
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]}]})
    }

    #[test]
    fn images_only_for_a_multimodal_model_and_only_inline() {
        let inline = chat_with_image("data:image/png;base64,iVBORw0KGgo=");
        assert!(allowed(&inline, &limits(false)).is_err());
        assert!(allowed(&inline, &limits(true)).is_ok());
        for url in ["http://169.254.169.254/latest", "file:///etc/shadow", ""] {
            let err = allowed(&chat_with_image(url), &limits(true))
                .unwrap_err()
                .to_string();
            assert!(err.contains("inline"), "{url}: {err}");
        }
        let plain = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert!(allowed(&plain, &limits(false)).is_ok());
    }

    #[test]
    fn max_tokens_within_the_context() {
        assert!(allowed(&json!({"max_tokens": 99}), &limits(false)).is_ok());
        assert!(allowed(&json!({"max_tokens": null}), &limits(false)).is_ok());
        for n in [json!(100), json!(0), json!(-1), json!(1.5), json!("9")] {
            let err = allowed(&json!({ "max_tokens": n }), &limits(false))
                .unwrap_err()
                .to_string();
            assert!(err.contains("from 1 to 99"), "{n}: {err}");
        }
        assert!(allowed(&json!({"max_completion_tokens": 100}), &limits(false)).is_err());
    }

    #[test]
    fn no_more_choices_than_the_sequences_run_at_once() {
        assert!(allowed(&json!({"n": 2}), &limits(false)).is_ok());
        for n in [json!(3), json!(0), json!(-1), json!("2")] {
            assert!(allowed(&json!({ "n": n }), &limits(false)).is_err(), "{n}");
        }
    }
}
