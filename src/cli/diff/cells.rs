//! The figures both renderings show: sizes, changes, before → after.

use crate::plan::{Bound, Capacity};
use crate::review::{Change, DeviceChange, DeviceRow, Side};
use crate::units::ByteSize;

pub(super) fn gib(bytes: u64) -> String {
    super::super::plan_table::gib(ByteSize(bytes))
}

pub(super) fn signed_gib(bytes: i64) -> String {
    let sign = if bytes < 0 { "−" } else { "+" };
    format!("{sign}{}", gib(bytes.unsigned_abs()))
}

/// `+1.20 GiB, +14.6 %`, or `±0` when nothing moved.
pub(super) fn change(d: &DeviceChange) -> String {
    if d.total_change == 0 {
        return "±0".into();
    }
    match d.total_change_percent {
        Some(p) => format!(
            "{}, {}{:.1} %",
            signed_gib(d.total_change),
            if p < 0.0 { "−" } else { "+" },
            p.abs()
        ),
        None => signed_gib(d.total_change),
    }
}

/// `a → b`; `a` when both are the same, or only one side has it.
pub(super) fn before_after(before: Option<String>, after: Option<String>) -> String {
    let dash = || "—".to_owned();
    match (before, after) {
        (Some(b), Some(a)) if a == b => a,
        // Added or removed: the one side there is.
        (None, Some(only)) | (Some(only), None) => only,
        (b, a) => format!("{} → {}", b.unwrap_or_else(dash), a.unwrap_or_else(dash)),
    }
}

/// One field of a GPU's row, before → after.
pub(super) fn term(d: &DeviceChange, field: impl Fn(&DeviceRow) -> String) -> String {
    before_after(d.before.as_ref().map(&field), d.after.as_ref().map(&field))
}

/// One field of a side, before → after.
pub(super) fn field(c: &Change, get: impl Fn(&Side) -> Option<String>) -> String {
    before_after(
        c.before.as_ref().and_then(&get),
        c.after.as_ref().and_then(&get),
    )
}

/// `fits`, `does not fit`, `invalid`.
pub(super) fn verdict(side: &Side) -> &'static str {
    if !side.valid {
        "invalid"
    } else if side.fits {
        "fits"
    } else if side.devices.is_empty() {
        "not planned"
    } else {
        "does not fit"
    }
}

/// `53235 (GPU 0's KV cache)`.
pub(super) fn bound(b: Option<Bound>) -> String {
    match b {
        None => "none fits".into(),
        Some(b) => format!(
            "{} ({})",
            b.value,
            super::super::plan_table::limit_text(b.limit)
        ),
    }
}

pub(super) fn capacity_of(side: &Side) -> Option<&Capacity> {
    side.capacity.as_ref()
}

/// The tightest GPU's total, before → after, with the change.
pub(super) fn tightest(c: &Change) -> String {
    let pick = |s: &Option<Side>| s.as_ref().and_then(|s| s.tightest().map(|d| d.gpu));
    let gpu = pick(&c.after).or_else(|| pick(&c.before));
    let Some(d) = c.devices.iter().find(|d| Some(d.gpu) == gpu) else {
        return "—".into();
    };
    let totals = term(d, |r| gib(r.total));
    if d.before.is_some() && d.after.is_some() {
        format!("GPU {}: {totals} ({})", d.gpu, change(d))
    } else {
        format!("GPU {}: {totals}", d.gpu)
    }
}

/// ` (chat-prod)`: the deployment's name, after its path; empty when invalid.
pub(super) fn name_suffix(c: &Change) -> String {
    c.after
        .as_ref()
        .or(c.before.as_ref())
        .and_then(|s| s.name.clone())
        .map(|n| format!(" ({n})"))
        .unwrap_or_default()
}
