//! How a command ended, as its process exit code: one per outcome, the same
//! for every command. Documented in `--help`, the README and `docs/ci.md`.

use std::process::ExitCode;

use crate::diagnostic::Diagnostic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success: every manifest is valid and fits (warnings allowed).
    Ok,
    /// A manifest is invalid, or has warnings under `--deny-warnings`.
    Invalid,
    /// Bad flags, or a path that does not exist or holds no manifest.
    Usage,
    /// The manifests are valid, but a plan does not fit its hardware, or the
    /// hardware is not as expected (busy, hidden, MIG).
    DoesNotFit,
    /// `apply` failed at run time: the port, the load, a feature this build
    /// lacks, or a file missing on this machine.
    Runtime,
    /// `apply` stopped with requests still running when the drain's grace
    /// period ended, and cut them.
    Cut,
    /// `diff --max-growth`: a GPU's planned total grew by more than allowed.
    Grew,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Invalid => 1,
            Exit::Usage => 2,
            Exit::DoesNotFit => 3,
            Exit::Runtime => 4,
            Exit::Cut => 5,
            Exit::Grew => 6,
        }
    }

    /// The worse of two outcomes of one run: what a run over several
    /// manifests exits with.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::Grew => 1,
            Exit::DoesNotFit => 2,
            Exit::Invalid => 3,
            Exit::Cut => 4,
            Exit::Runtime => 5,
            Exit::Usage => 6,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// What a run whose findings are `diagnostics` exits with: any error in the
/// input (a manifest, the model it names, a layer map that does not match
/// it) makes it invalid; errors only of fit (budgets, the preflight) mean it
/// does not fit.
pub fn of(diagnostics: &[Diagnostic], deny_warnings: bool) -> Exit {
    let errors = || diagnostics.iter().filter(|d| d.is_error());
    if errors().any(|d| !d.code.is_misfit()) {
        Exit::Invalid
    } else if errors().next().is_some() {
        Exit::DoesNotFit
    } else if deny_warnings && !diagnostics.is_empty() {
        Exit::Invalid
    } else {
        Exit::Ok
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The table `--help` ends with.
pub const HELP: &str = "\
Exit codes, the same for every command:
  0  success: every manifest is valid and its plan fits (warnings allowed)
  1  a manifest is invalid (or has warnings, with --deny-warnings)
  2  usage error: bad flags, or a path that does not exist or holds no manifest
  3  the manifests are valid, but a plan does not fit its hardware
  4  apply failed at run time: the port, the load, a missing feature or file
  5  apply stopped with requests still running at the end of the grace period
  6  diff --max-growth: a GPU's planned total grew by more than allowed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_code() {
        let all = [
            Exit::Ok,
            Exit::Invalid,
            Exit::Usage,
            Exit::DoesNotFit,
            Exit::Runtime,
            Exit::Cut,
            Exit::Grew,
        ];
        let codes: std::collections::BTreeSet<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        for e in all {
            assert!(HELP.contains(&format!("  {}  ", e.code())), "{e:?}");
        }
        assert_eq!(Exit::Ok.worst(Exit::DoesNotFit), Exit::DoesNotFit);
        assert_eq!(Exit::DoesNotFit.worst(Exit::Invalid), Exit::Invalid);
    }
}
