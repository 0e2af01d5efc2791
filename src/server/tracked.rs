//! Every exchange, from request to the last byte of its response: a request
//! id (the client's `X-Request-Id`, or a new one) echoed back, one log line,
//! the metrics, and for generations a time limit and the cut at shutdown.
//!
//! A response's body is wrapped, so what is recorded is what the client got:
//! a stream's time to first token, its token counts from the final chunk's
//! `usage`, and whether it ended early (client gone, timed out, cut).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use tokio::sync::watch;

use super::LogFormat;
use super::admission::Admitted;
use super::metrics::{EndLabel, Metrics, RouteLabel, RouteStatus};

/// What every exchange shares.
pub(super) struct Tracking {
    pub metrics: Arc<Metrics>,
    pub log: LogFormat,
    /// Turns true when the drain's grace is over: responses still running
    /// are ended.
    pub cut: watch::Receiver<bool>,
    /// The longest a generation may run, streamed or not.
    pub request_timeout: Duration,
}

/// The route's name in metrics and logs: only the deployment's routes, so
/// that a scan of random paths cannot grow the metrics without bound.
fn route_name(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "chat_completions",
        "/v1/completions" => "completions",
        "/v1/models" => "models",
        "/health" => "health",
        "/deployctl/status" => "status",
        "/metrics" => "metrics",
        _ => "other",
    }
}

fn generates(route: &str) -> bool {
    matches!(route, "chat_completions" | "completions")
}

/// A client's id is kept when it is short and printable; anything else is
/// replaced, so that a log line cannot be forged through it.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

pub(super) async fn track(
    State(tracking): State<Arc<Tracking>>,
    request: Request,
    next: Next,
) -> Response {
    // Recorded even when the client goes before the answer: dropping this
    // future drops the exchange, which logs it as closed by the client.
    let mut exchange = Exchange::begin(&tracking, &request);
    let generation = generates(exchange.route);
    let mut cut = tracking.cut.clone();
    let response = if generation {
        // A stream ended here is cancelled in mistral.rs when its receiver
        // goes; a non-streamed generation runs on (see `detached`).
        tokio::select! {
            response = next.run(request) => response,
            () = super::listener::until_true(&mut cut) => super::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server stopped before the answer was complete",
            ),
            () = tokio::time::sleep(tracking.request_timeout) => super::refusal(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "the answer took longer than the deployment's request timeout of {} s",
                    tracking.request_timeout.as_secs()
                ),
            ),
        }
    } else {
        next.run(request).await
    };
    let (mut parts, body) = response.into_parts();
    if let Ok(value) = HeaderValue::from_str(&exchange.id) {
        parts.headers.insert("x-request-id", value);
    }
    exchange.sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    exchange.status = parts.status.as_u16();
    exchange._admitted = parts.extensions.remove::<Admitted>();
    let (cut, deadline) = if generation && exchange.sse {
        let mut rx = tracking.cut.clone();
        let cut: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            super::listener::until_true(&mut rx).await;
        });
        let remaining = tracking
            .request_timeout
            .saturating_sub(exchange.started.elapsed());
        (Some(cut), Some(Box::pin(tokio::time::sleep(remaining))))
    } else {
        (None, None)
    };
    Response::from_parts(
        parts,
        Body::new(TrackedBody {
            inner: body,
            exchange,
            cut,
            deadline,
            ended: false,
        }),
    )
}

/// The status recorded for a request whose client went before the answer
/// (nginx's convention; no response is sent).
const CLIENT_CLOSED: u16 = 499;

/// How a response ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Running,
    Complete,
    Early(&'static str),
}

/// One exchange's record, written when its response body is dropped: after
/// the last byte, or when the client went away.
struct Exchange {
    metrics: Arc<Metrics>,
    log: LogFormat,
    id: String,
    method: String,
    path: String,
    route: &'static str,
    status: u16,
    started: Instant,
    first_token: Option<Instant>,
    /// Prompt and completion tokens, from the response's `usage`.
    usage: Option<(u64, u64)>,
    /// mistral.rs's own time for the prompt, from `usage`: a non-streamed
    /// answer's time to first token.
    prompt_seconds: Option<f64>,
    end: End,
    /// The part of the body not yet read: a stream's incomplete line, or a
    /// whole JSON body (up to `SEEN_LIMIT`).
    seen: Vec<u8>,
    sse: bool,
    /// Holds the request's place among those admitted until the response ends.
    _admitted: Option<Admitted>,
}

/// Usage comes last, in a short object: longer bodies are not kept whole.
const SEEN_LIMIT: usize = 4 << 20;

impl Exchange {
    /// The record of `request`, begun as it arrives: closed by the client
    /// until a response says otherwise.
    fn begin(tracking: &Tracking, request: &Request) -> Exchange {
        Exchange {
            metrics: tracking.metrics.clone(),
            log: tracking.log,
            id: request_id(request),
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            route: route_name(request.uri().path()),
            status: CLIENT_CLOSED,
            started: Instant::now(),
            first_token: None,
            usage: None,
            prompt_seconds: None,
            end: End::Running,
            seen: Vec::new(),
            sse: false,
            _admitted: None,
        }
    }

    fn observe(&mut self, data: &[u8]) {
        if self.seen.len() + data.len() > SEEN_LIMIT {
            self.seen.clear();
            return;
        }
        self.seen.extend_from_slice(data);
        if !self.sse {
            return;
        }
        while let Some(end) = self.seen.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.seen.drain(..=end).collect();
            let Some(payload) = line.strip_prefix(b"data:") else {
                continue;
            };
            if let Ok(chunk) = serde_json::from_slice::<serde_json::Value>(payload) {
                self.read_chunk(&chunk);
            }
        }
    }

    fn read_chunk(&mut self, chunk: &serde_json::Value) {
        let texts = chunk
            .get("choices")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                c.pointer("/delta/content")
                    .or_else(|| c.get("text"))
                    .and_then(serde_json::Value::as_str)
            });
        if self.first_token.is_none() && texts.into_iter().any(|t| !t.is_empty()) {
            self.first_token = Some(Instant::now());
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let count = |key| usage.get(key).and_then(serde_json::Value::as_u64);
            if let (Some(prompt), Some(completion)) =
                (count("prompt_tokens"), count("completion_tokens"))
            {
                self.usage = Some((prompt, completion));
            }
            self.prompt_seconds = usage
                .get("total_prompt_time_sec")
                .and_then(serde_json::Value::as_f64)
                .filter(|s| (0.0..1e9).contains(s));
        }
    }

    fn finish(&mut self) {
        if !self.sse && self.end == End::Complete {
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&self.seen) {
                self.read_chunk(&json);
            }
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.end == End::Running {
            self.end = End::Early("client_closed");
        }
        let took = self.started.elapsed();
        let m = &self.metrics;
        m.requests
            .get_or_create(&RouteStatus {
                route: self.route,
                status: self.status,
            })
            .inc();
        let label = RouteLabel { route: self.route };
        m.latency.get_or_create(&label).observe(took.as_secs_f64());
        if let End::Early(reason) = self.end {
            m.ended_early.get_or_create(&EndLabel { reason }).inc();
        }
        if generates(self.route) && self.status == 200 {
            if let Some(first) = self.time_to_first_token() {
                m.time_to_first_token
                    .get_or_create(&label)
                    .observe(first.as_secs_f64());
            }
            if let Some((prompt, completion)) = self.usage {
                m.prompt_tokens.inc_by(prompt);
                m.completion_tokens.inc_by(completion);
                // After the first token: the prompt's processing is not
                // generation.
                let generating =
                    took.saturating_sub(self.time_to_first_token().unwrap_or_default());
                if completion > 1 && !generating.is_zero() {
                    m.tokens_per_second
                        .observe((completion - 1) as f64 / generating.as_secs_f64());
                }
            }
        }
        if matches!(self.route, "health" | "metrics") {
            return;
        }
        eprintln!("{}", self.log_line(took));
    }
}

impl Exchange {
    /// A stream's first text as it reached the client, or for a non-streamed
    /// answer mistral.rs's time for the prompt.
    fn time_to_first_token(&self) -> Option<Duration> {
        self.first_token
            .map(|f| f.duration_since(self.started))
            .or_else(|| self.prompt_seconds.map(Duration::from_secs_f64))
    }

    fn log_line(&self, took: Duration) -> String {
        let outcome = match self.end {
            End::Running | End::Complete => "complete",
            End::Early(reason) => reason,
        };
        match self.log {
            LogFormat::Json => serde_json::json!({
                "time": super::log::time(),
                "level": if self.status >= 500 { "error" } else { "info" },
                "message": "request",
                "request_id": self.id,
                "method": self.method,
                "path": self.path,
                "status": self.status,
                "outcome": outcome,
                "latency_ms": (took.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                "time_to_first_token_ms": self.time_to_first_token().map(|t| (t.as_secs_f64() * 1000.0 * 10.0).round() / 10.0),
                "prompt_tokens": self.usage.map(|u| u.0),
                "completion_tokens": self.usage.map(|u| u.1),
            })
            .to_string(),
            LogFormat::Plain => {
                let mut line = format!(
                    "request {} {} {} {} in {:.3} s",
                    self.id,
                    self.method,
                    self.path,
                    self.status,
                    took.as_secs_f64()
                );
                if let Some((prompt, completion)) = self.usage {
                    line.push_str(&format!(", {prompt} prompt + {completion} generated tokens"));
                }
                if outcome != "complete" {
                    line.push_str(&format!(" ({})", outcome.replace('_', " ")));
                }
                line
            }
        }
    }
}

struct TrackedBody {
    inner: Body,
    exchange: Exchange,
    cut: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    ended: bool,
}

/// The event a stream ends with when it is cut, in OpenAI's error shape.
fn error_event(reason: &str) -> Bytes {
    let message = match reason {
        "timed_out" => "the answer took longer than the deployment's request timeout",
        _ => "the server is shutting down",
    };
    let event =
        serde_json::json!({"error": {"message": message, "type": "server_error", "code": reason}});
    Bytes::from(format!("data: {event}\n\n"))
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let stopped = if this
            .cut
            .as_mut()
            .is_some_and(|c| c.as_mut().poll(cx).is_ready())
        {
            Some("cut_at_shutdown")
        } else if this
            .deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
        {
            Some("timed_out")
        } else {
            None
        };
        if let Some(reason) = stopped {
            this.ended = true;
            this.exchange.end = End::Early(reason);
            return Poll::Ready(Some(Ok(Frame::data(error_event(reason)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.exchange.observe(data);
                }
                // hyper stops polling a body that says it has ended.
                if this.inner.is_end_stream() {
                    this.ended = true;
                    this.exchange.end = End::Complete;
                    this.exchange.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.exchange.end = End::Complete;
                this.exchange.finish();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.cut.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.cut.is_some() {
            http_body::SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_s_request_id_is_kept_only_when_it_is_safe_to_log() {
        let with = |id: &str| {
            Request::builder()
                .header("x-request-id", id)
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(request_id(&with("abc-123")), "abc-123");
        for bad in ["a b", "x\"y", &"z".repeat(129), ""] {
            let id = request_id(&with(bad));
            assert_eq!(id.len(), 32, "{bad:?} gave {id}");
        }
    }

    #[test]
    fn streamed_usage_and_first_token_are_read_across_frame_boundaries() {
        let tracking = Tracking {
            metrics: Arc::new(Metrics::new()),
            log: LogFormat::Plain,
            cut: watch::channel(false).1,
            request_timeout: Duration::from_secs(1),
        };
        let request = Request::post("/v1/chat/completions")
            .body(Body::empty())
            .unwrap();
        let mut e = Exchange::begin(&tracking, &request);
        e.status = 200;
        e.sse = true;
        e.observe(b": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n");
        assert!(e.first_token.is_none());
        e.observe(b"data: {\"choices\":[{\"delta\":{\"content\":\"Pa");
        e.observe(b"ris\"}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n");
        assert!(e.first_token.is_some());
        assert_eq!(e.usage, Some((7, 3)));
        e.end = End::Complete;
    }
}
