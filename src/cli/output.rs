//! Printing: results to stdout, diagnostics to stderr with or without colour.

use std::io::{IsTerminal, Write as _};

use clap::ValueEnum;

use crate::diagnostic::{Diagnostic, render};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when stderr is a terminal and `NO_COLOR` is unset.
    Auto,
    Always,
    Never,
}

impl Color {
    pub fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Writes `text` to stdout, as `print!` does, but a reader that went away
/// (`deployctl plan … | head`) ends the process quietly with exit 0: it had
/// what it wanted. `print!` panics there, since Rust ignores SIGPIPE.
pub(super) fn print(text: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(super::exit::Exit::Ok.code().into());
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(super::exit::Exit::Invalid.code().into());
    }
}

/// `println!` through [`print`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// `print!` through [`print`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::print(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// Writes human diagnostics to stderr, in order. Each is laid out (wrapped,
/// its snippet cut) on every core: a tree of manifests can have thousands.
pub(super) fn eprint_human(diagnostics: &[Diagnostic], color: bool) {
    use rayon::prelude::*;
    let rendered: Vec<String> = diagnostics
        .par_iter()
        .map(|d| render::human(d, color))
        .collect();
    let mut stderr = std::io::stderr().lock();
    for text in rendered {
        let _ = stderr.write_all(text.as_bytes());
    }
}

/// `1 error`, `2 warnings`.
pub(super) fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
