//! Diagnostics as data: a stable code, a place, a label and help that leads to the fix.

mod code;
mod item;
pub mod render;
mod source;
pub mod suggest;

pub use code::{Code, REPOSITORY};
pub use item::{Diagnostic, Location, Note, Place, Severity};
pub use source::{SourceText, display_path};

/// Sorts diagnostics into a stable reading order: by file, then position, then code.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_cached_key(Diagnostic::sort_key);
}

/// A short reason for an I/O failure, without the OS error number.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}
