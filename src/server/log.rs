//! How `apply` writes its lines: the server's own (one per request, its
//! warnings) and mistral.rs's, which come through `tracing`. Plain text for a
//! terminal by default; with `json`, one object per line for a log pipeline,
//! mistral.rs's lines included.

use std::fmt;

use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Plain text, for a terminal.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// Seconds since the Unix epoch, with milliseconds: what log pipelines parse
/// without a time-zone database.
pub fn time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

/// One line of the server's own, in `format`.
pub fn say(format: LogFormat, level: &str, message: &str) {
    match format {
        LogFormat::Plain => eprintln!("{message}"),
        LogFormat::Json => eprintln!(
            "{}",
            json!({ "time": time(), "level": level, "message": message })
        ),
    }
}

/// Shows mistral.rs's loading steps and warnings on stderr, as `mistralrs
/// serve` does; `RUST_LOG` overrides the filter.
pub fn install(format: LogFormat, color: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,mistralrs=info,mistralrs_core=info,mistralrs_quant=info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Plain => builder.with_target(false).with_ansi(color).try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// A `tracing` event as one JSON line, in the shape of the server's own.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", event_json(event))
    }
}

fn event_json(event: &Event<'_>) -> Value {
    let mut fields = Fields::default();
    event.record(&mut fields);
    let meta = event.metadata();
    let mut line = json!({
        "time": time(),
        "level": meta.level().as_str().to_ascii_lowercase(),
        "message": fields.message.unwrap_or_default(),
        "target": meta.target(),
    });
    if !fields.rest.is_empty() {
        line["fields"] = Value::Object(fields.rest);
    }
    line
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    rest: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.rest.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}
