//! JSON files a manifest names (a layer map, a tokenizer): where in the file a
//! parse error is, and what went wrong, for a diagnostic's label.

use std::sync::Arc;

use crate::diagnostic::{Place, SourceText};

/// The place of a serde_json error in `source`: its line and column as a span.
pub(super) fn error_place(source: &Arc<SourceText>, e: &serde_json::Error) -> Place {
    let offset = if e.line() == 0 {
        0
    } else {
        let line = e.line().min(source.text().lines().count().max(1));
        let span = source.line_span(line);
        (span.start + e.column().saturating_sub(1)).min(span.end)
    };
    Place::Span {
        source: source.clone(),
        span: offset..offset,
    }
}

/// serde_json's message without its " at line N column M" tail: the label
/// already points there.
pub(super) fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
