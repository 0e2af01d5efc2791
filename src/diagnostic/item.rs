//! One problem found in the user's input, as plain data.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{LabeledSpan, SourceCode};

use super::code::Code;
use super::source::SourceText;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Where a problem is. Every diagnostic has one: a span in a file, a whole file,
/// an environment variable or a command-line flag.
#[derive(Debug, Clone)]
pub enum Place {
    Span {
        source: Arc<SourceText>,
        span: Range<usize>,
    },
    File(PathBuf),
    Env(String),
    Flag(String),
}

/// A further span in the same file, e.g. "first listed here".
#[derive(Debug, Clone)]
pub struct Note {
    pub span: Range<usize>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub place: Place,
    /// Text of the label under the primary span.
    pub label: String,
    pub notes: Vec<Note>,
    pub help: Option<String>,
    /// Do not print the source line: it holds a secret.
    pub redact: bool,
}

impl Diagnostic {
    pub fn error(code: Code, place: Place, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            place,
            label: String::new(),
            notes: Vec::new(),
            help: None,
            redact: false,
        }
    }

    pub fn warning(code: Code, place: Place, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, place, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, span: Range<usize>, text: impl Into<String>) -> Self {
        self.notes.push(Note {
            span,
            text: text.into(),
        });
        self
    }

    /// In-place forms of the builders above, for code that holds a `&mut`.
    pub fn with_label(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = label.into();
        self
    }

    pub fn with_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(&mut self, span: Range<usize>, text: impl Into<String>) -> &mut Self {
        self.notes.push(Note {
            span,
            text: text.into(),
        });
        self
    }

    pub fn with_redaction(&mut self) -> &mut Self {
        self.redact = true;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// File, line and column of the primary span, when it is in a file.
    pub fn location(&self) -> Option<Location> {
        match &self.place {
            Place::Span { source, span } => {
                let (line, column) = source.line_col(span.start);
                let (end_line, end_column) = source.line_col(span.end);
                Some(Location {
                    file: source.name().to_owned(),
                    line,
                    column,
                    end_line,
                    end_column,
                })
            }
            Place::File(path) => Some(Location {
                file: super::source::display_path(path),
                line: 1,
                column: 1,
                end_line: 1,
                end_column: 1,
            }),
            Place::Env(_) | Place::Flag(_) => None,
        }
    }

    /// Sort key that gives a stable, reading-order output.
    pub(crate) fn sort_key(&self) -> (String, usize, Code) {
        match &self.place {
            Place::Span { source, span } => (source.name().to_owned(), span.start, self.code),
            Place::File(path) => (super::source::display_path(path), 0, self.code),
            Place::Env(name) => (format!("\u{10ffff}env {name}"), 0, self.code),
            Place::Flag(flag) => (format!("\u{10ffff}flag {flag}"), 0, self.code),
        }
    }

    fn shows_snippet(&self) -> bool {
        let Place::Span { source, span } = &self.place else {
            return false;
        };
        !self.redact
            && std::iter::once(span)
                .chain(self.notes.iter().map(|n| &n.span))
                .all(|s| lines_are_short(source.text(), s))
    }
}

/// The longest source line a snippet shows. A longer one (minified or
/// generated TOML) is left out, and the headline says where the problem is:
/// a snippet would print the whole line, and miette cannot place a label past
/// column 65,535.
const SNIPPET_LINE_LIMIT: usize = 400;

/// Whether the lines a snippet of `span` prints (its own and one either side)
/// are all short enough to show.
fn lines_are_short(text: &str, span: &Range<usize>) -> bool {
    let clamp = |i: usize| {
        let mut i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (start, end) = (clamp(span.start), clamp(span.end.max(span.start)));
    // Back two line breaks from the start, forward two from the end.
    let from = text[..start]
        .rmatch_indices('\n')
        .nth(1)
        .map_or(0, |(i, _)| i + 1);
    let to = text[end..]
        .match_indices('\n')
        .nth(1)
        .map_or(text.len(), |(i, _)| end + i);
    text[from..to]
        .split('\n')
        .all(|line| line.len() <= SNIPPET_LINE_LIMIT)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        // Where there is no snippet, the headline itself must say where.
        match &self.place {
            Place::Span { .. } if self.shows_snippet() => Ok(()),
            Place::Span { .. } | Place::File(_) => {
                let at = self.location().expect("file places have a location");
                write!(f, " (at {}:{}:{})", at.file, at.line, at.column)
            }
            Place::Env(name) => write!(f, " (from environment variable `{name}`)"),
            Place::Flag(flag) => write!(f, " (from `{flag}`)"),
        }
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }

    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.url()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match &self.place {
            Place::Span { source, .. } if self.shows_snippet() => Some(source.named()),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let Place::Span { span, .. } = &self.place else {
            return None;
        };
        if !self.shows_snippet() {
            return None;
        }
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        let primary = LabeledSpan::new_primary_with_span(label, span.clone());
        let notes = self
            .notes
            .iter()
            .map(|n| LabeledSpan::new_with_span(Some(n.text.clone()), n.span.clone()));
        Some(Box::new(std::iter::once(primary).chain(notes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_is_left_out_when_a_line_it_would_print_is_too_long() {
        let long = "x".repeat(SNIPPET_LINE_LIMIT + 1);
        let text = format!("a = 1\nb = 2\nc = 3\n{long}\n");
        // `a`: its own line and `b` are short.
        assert!(lines_are_short(&text, &(0..1)));
        // `c`: the long line after it would be printed too.
        assert!(!lines_are_short(&text, &(12..13)));
        // On the long line itself, and past the end of the text.
        assert!(!lines_are_short(&text, &(20..21)));
        assert!(lines_are_short("a", &(5..9)));
    }
}
