//! Diagnostics rendered for people (miette), for programs (JSON) and for
//! GitHub Actions (workflow commands).

use std::fmt::Write as _;

use miette::{GraphicalReportHandler, GraphicalTheme};
use schemars::JsonSchema;
use serde::Serialize;

use super::item::{Diagnostic, Place, Severity};

/// Rendered width of human diagnostics. Fixed, so output is the same on every terminal.
const WIDTH: usize = 100;

pub fn human(diagnostic: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // The code's reference URL prints as text after the code, never as an OSC 8
    // hyperlink: CI logs and terminals without OSC 8 show it as it is.
    // Lines break at spaces only: model ids, paths and sizes (`Qwen2.5-VL-3B`,
    // `GPU-5f3c…`) stay whole, and the Unicode line-break tables are not
    // walked for every word (a seventh of `validate`'s time over a large tree).
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace);
    let mut out = String::new();
    handler
        .render_report(&mut out, diagnostic)
        .expect("writing to a String cannot fail");
    out
}

/// One diagnostic in the JSON output of `validate` and `plan`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JsonDiagnostic {
    /// Stable code, e.g. `deployctl::manifest::unknown_key`.
    pub code: String,
    /// `error` or `warning`.
    pub severity: String,
    /// One-line description of the problem.
    pub message: String,
    /// File the problem is in, as given on the command line or in `extends`; absent for
    /// problems in an environment variable or a `--set` flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line of the start of the span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column (in characters) of the start of the span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<usize>,
    /// The environment variable that holds the bad value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The `--set` flag that holds the bad value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Text of the label under the span.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The code's section of the diagnostics reference (`docs/diagnostics.md`).
    pub url: String,
}

impl From<&Diagnostic> for JsonDiagnostic {
    fn from(d: &Diagnostic) -> Self {
        let at = d.location();
        JsonDiagnostic {
            code: d.code.as_str().to_owned(),
            severity: match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            }
            .to_owned(),
            message: d.message.clone(),
            file: at.as_ref().map(|a| a.file.clone()),
            line: at.as_ref().map(|a| a.line),
            column: at.as_ref().map(|a| a.column),
            end_line: at.as_ref().map(|a| a.end_line),
            end_column: at.as_ref().map(|a| a.end_column),
            env: match &d.place {
                Place::Env(name) => Some(name.clone()),
                _ => None,
            },
            flag: match &d.place {
                Place::Flag(flag) => Some(flag.clone()),
                _ => None,
            },
            label: d.label.clone(),
            help: d.help.clone(),
            url: d.code.url(),
        }
    }
}

/// A GitHub Actions workflow command (`::error file=…,line=…::message`), which
/// annotates the pull request at the offending line.
pub fn github(d: &Diagnostic) -> String {
    let kind = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = Vec::new();
    if let Some(at) = d.location() {
        props.push(format!("file={}", escape_property(&at.file)));
        props.push(format!("line={}", at.line));
        props.push(format!("col={}", at.column));
        props.push(format!("endLine={}", at.end_line));
        props.push(format!("endColumn={}", at.end_column));
    }
    props.push(format!("title={}", escape_property(d.code.as_str())));
    let mut message = d.to_string();
    if let Some(help) = &d.help {
        let _ = write!(message, "\nhelp: {help}");
    }
    format!("::{kind} {}::{}", props.join(","), escape_data(&message))
}

/// GitHub's escaping of a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, SourceText};

    #[test]
    fn github_annotations_escape_and_locate() {
        let source = SourceText::new("dir/a,b.toml", "version = 1\nport = 70000\n");
        let d = Diagnostic::error(
            Code::OutOfRange,
            Place::Span {
                source,
                span: 19..24,
            },
            "`port` must be at most 65535, found 70000",
        )
        .help("100% sure\nsecond line");
        assert_eq!(
            github(&d),
            "::error file=dir/a%2Cb.toml,line=2,col=8,endLine=2,endColumn=13,\
             title=deployctl%3A%3Amanifest%3A%3Aout_of_range::\
             `port` must be at most 65535, found 70000%0Ahelp: 100%25 sure%0Asecond line"
        );
    }
}
