//! Prompt plus `max_tokens` within the plan's `max_seq_len`: the context the
//! plan sized the KV cache for. mistral.rs checks a prompt only against the
//! model's own limit (`engine/add_request.rs`, the config's
//! `max_position_embeddings`), and without `max_tokens` generates up to it.
//!
//! Most requests are decided without tokenizing: a token is at least one
//! byte of the JSON text it came from, so a request whose text, plus a margin
//! for the chat template, plus `max_tokens` fits is within the window. The
//! rest are tokenized by mistral.rs, chat template applied, and refused or
//! given the `max_tokens` that fills the window.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use either::Either;
use indexmap::IndexMap;
use mistralrs::core::{MessageContent, MistralRs, Request, TokenizationRequest};
use serde_json::Value;

/// Tokens a chat template may add around the messages' text: role markers
/// per message, and a default system prompt some templates insert.
const TEMPLATE_TOKENS: u64 = 256;
const PER_MESSAGE_TOKENS: u64 = 16;

/// The most tokens `request`'s prompt can be, from its text alone.
pub(super) fn prompt_bound(request: &Value) -> u64 {
    let bytes = |key: &str| {
        request.get(key).map_or(0, |v| {
            serde_json::to_string(v).map_or(0, |s| s.len() as u64)
        })
    };
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |m| m.len() as u64);
    bytes("messages")
        + bytes("prompt")
        + bytes("tools")
        + TEMPLATE_TOKENS
        + PER_MESSAGE_TOKENS.saturating_mul(messages)
}

/// Checks `request` against the window of `max_seq_len` tokens, and sets
/// `max_tokens` to what is left of it when the request names none.
pub(super) async fn fit(
    engine: &Arc<MistralRs>,
    request: &mut Value,
    chat: bool,
    max_seq_len: u64,
) -> Result<(), Response> {
    let asked = request
        .get("max_tokens")
        .or_else(|| request.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    if let Some(asked) = asked {
        if prompt_bound(request).saturating_add(asked) <= max_seq_len {
            return Ok(());
        }
    }
    let Some(prompt) = tokens(engine, request, chat).await else {
        // Whatever mistral.rs cannot tokenize it refuses in its own words.
        return Ok(());
    };
    match asked {
        Some(asked) if prompt.saturating_add(asked) > max_seq_len => Err(refuse(format!(
            "the prompt is {prompt} tokens and `max_tokens` asks for {asked} more: together more than this deployment's context of {max_seq_len} tokens (`workload.max_seq_len`)"
        ))),
        Some(_) => Ok(()),
        None if prompt >= max_seq_len => Err(refuse(format!(
            "the prompt is {prompt} tokens, which leaves no room to answer within this deployment's context of {max_seq_len} tokens (`workload.max_seq_len`)"
        ))),
        None => {
            if let Value::Object(map) = request {
                map.insert("max_tokens".into(), (max_seq_len - prompt).into());
            }
            Ok(())
        }
    }
}

fn refuse(message: String) -> Response {
    super::refusal(StatusCode::BAD_REQUEST, &message)
}

/// The prompt's tokens, as mistral.rs counts them (chat template applied).
async fn tokens(engine: &Arc<MistralRs>, request: &Value, chat: bool) -> Option<u64> {
    let text = if chat {
        Either::Left(messages(request.get("messages")?.as_array()?))
    } else {
        Either::Right(request.get("prompt")?.as_str()?.to_owned())
    };
    let tools = request
        .get("tools")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let sender = engine.get_sender(None).ok()?;
    sender
        .send(Request::Tokenize(TokenizationRequest {
            text,
            tools,
            add_generation_prompt: true,
            add_special_tokens: true,
            enable_thinking: request.get("enable_thinking").and_then(Value::as_bool),
            reasoning_effort: None,
            response: tx,
        }))
        .await
        .ok()?;
    // The engine panics when the answer finds no receiver
    // (`tokenize_text`'s `expect`), so it is awaited to the end even when
    // this request is dropped.
    let reply = tokio::spawn(async move { rx.recv().await }).await.ok()??;
    reply.ok().map(|t| t.len() as u64)
}

/// Chat messages as mistral.rs's tokenizer takes them: text parts joined,
/// images left out (their tokens are bounded by the plan's image limits).
fn messages(list: &[Value]) -> Vec<IndexMap<String, MessageContent>> {
    list.iter()
        .filter_map(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(key, value)| {
                    let content = match value {
                        Value::String(s) => Either::Left(s.clone()),
                        Value::Array(parts) if key == "content" => Either::Left(
                            parts
                                .iter()
                                .filter_map(|p| p.get("text").and_then(Value::as_str))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        ),
                        Value::Array(items) => Either::Right(
                            items
                                .iter()
                                .filter_map(Value::as_object)
                                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                                .collect(),
                        ),
                        Value::Null => return None,
                        other => Either::Left(other.to_string()),
                    };
                    Some((key.clone(), content))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bound_counts_every_byte_of_text_and_the_template_s_margin() {
        let short = json!({"messages": [{"role": "user", "content": "hi"}]});
        let text = r#"[{"role":"user","content":"hi"}]"#.len() as u64;
        assert_eq!(
            prompt_bound(&short),
            text + TEMPLATE_TOKENS + PER_MESSAGE_TOKENS
        );
        let long = json!({"prompt": "x".repeat(10_000)});
        assert!(prompt_bound(&long) > 10_000);
    }

    #[test]
    fn text_parts_are_joined_and_images_left_out() {
        let list = [json!({"role": "user", "content": [
            {"type": "text", "text": "what is"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            {"type": "text", "text": "this?"},
        ]})];
        let m = messages(&list);
        assert_eq!(m[0]["content"], Either::Left("what is\nthis?".to_owned()));
        assert_eq!(m[0]["role"], Either::Left("user".to_owned()));
    }
}
