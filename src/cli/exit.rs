//! Process exit codes, one per outcome. Documented in `--help` and the README.

/// Every manifest is valid.
pub const OK: u8 = 0;
/// A manifest is invalid, or has warnings under `--deny-warnings`.
pub const INVALID: u8 = 1;
/// Bad flags, or a path that does not exist or holds no manifest.
pub const USAGE: u8 = 2;
/// `apply` stopped with requests still running when the drain's grace
/// period ended: they were cut.
pub const CUT: u8 = 3;
