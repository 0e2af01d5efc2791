//! What changed for one manifest between two revisions.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use super::side::{DeviceRow, FindingRow, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Added,
    Removed,
    /// Moved (by Git's rename detection), perhaps changed too.
    Renamed,
    /// Its file, a file it extends or its model config changed.
    Changed,
    Unchanged,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Renamed => "renamed",
            Status::Changed => "changed",
            Status::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Change {
    /// The manifest's path, relative to the repository root (the new one, when renamed).
    pub path: String,
    /// Its path at the base, when renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub status: Status,
    /// At the base; absent when added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Side>,
    /// In the work tree; absent when removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Side>,
    /// Per GPU, before and after.
    pub devices: Vec<DeviceChange>,
    pub findings_added: Vec<FindingRow>,
    pub findings_resolved: Vec<FindingRow>,
    /// Anything the plan says differs: figures, findings, launch. False for a
    /// manifest whose files changed (a comment, a key moved to a base) but
    /// which plans exactly as before.
    pub plan_changed: bool,
    /// The launch command differs.
    pub launch_changed: bool,
    /// It fitted (or did not exist), and does not fit now.
    pub stopped_fitting: bool,
    /// The largest growth of any GPU's planned total, in percent of before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_growth_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DeviceChange {
    pub gpu: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<DeviceRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<DeviceRow>,
    /// After's total less before's, in bytes (a GPU no longer used counts as 0).
    pub total_change: i64,
    /// `total_change` in percent of before's total; absent for a GPU newly used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_change_percent: Option<f64>,
}

/// Compares one manifest's two sides; `from` is its base path when renamed.
pub fn compare(
    path: String,
    from: Option<String>,
    before: Option<Side>,
    after: Option<Side>,
) -> Change {
    let status = match (&before, &after, &from) {
        (None, _, _) => Status::Added,
        (_, None, _) => Status::Removed,
        (Some(_), Some(_), Some(_)) => Status::Renamed,
        (Some(b), Some(a), None) if b == a => Status::Unchanged,
        _ => Status::Changed,
    };
    let rows = |s: &Option<Side>| s.as_ref().map_or_else(Vec::new, |s| s.devices.clone());
    let (old, new) = (rows(&before), rows(&after));
    let gpus: BTreeSet<u32> = old.iter().chain(&new).map(|d| d.gpu).collect();
    let devices: Vec<DeviceChange> = gpus
        .into_iter()
        .map(|gpu| {
            let b = old.iter().find(|d| d.gpu == gpu).cloned();
            let a = new.iter().find(|d| d.gpu == gpu).cloned();
            let total = |d: &Option<DeviceRow>| d.as_ref().map_or(0, |d| d.total);
            let change = i128::from(total(&a)) - i128::from(total(&b));
            DeviceChange {
                gpu,
                total_change: change.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
                total_change_percent: b
                    .as_ref()
                    .filter(|b| b.total > 0)
                    .map(|b| change as f64 * 100.0 / b.total as f64),
                before: b,
                after: a,
            }
        })
        .collect();
    let findings = |s: &Option<Side>| -> BTreeSet<FindingRow> {
        s.as_ref()
            .map(|s| s.findings.iter().map(without_place).collect())
            .unwrap_or_default()
    };
    let (was, is) = (findings(&before), findings(&after));
    let fitted = before.as_ref().is_none_or(|b| b.fits);
    let fits = after.as_ref().is_none_or(|a| a.fits);
    Change {
        path,
        from,
        status,
        findings_added: is.difference(&was).cloned().collect(),
        findings_resolved: was.difference(&is).cloned().collect(),
        launch_changed: before.as_ref().and_then(|b| b.launch.as_ref())
            != after.as_ref().and_then(|a| a.launch.as_ref())
            && before.is_some()
            && after.is_some(),
        stopped_fitting: fitted && !fits,
        plan_changed: match (&before, &after) {
            (Some(b), Some(a)) => {
                Side {
                    inputs: 0,
                    ..b.clone()
                } != Side {
                    inputs: 0,
                    ..a.clone()
                }
            }
            _ => true,
        },
        largest_growth_percent: devices
            .iter()
            .filter_map(|d| d.total_change_percent)
            .reduce(f64::max),
        devices,
        before,
        after,
    }
}

/// A finding as compared: what it says, not where (a line that moved is not
/// a new finding).
fn without_place(f: &FindingRow) -> FindingRow {
    FindingRow {
        line: None,
        ..f.clone()
    }
}

/// Counts over a review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Totals {
    pub added: usize,
    pub removed: usize,
    pub renamed: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Manifests that fitted (or are new) and do not fit now.
    pub stopped_fitting: usize,
}

pub fn totals(changes: &[Change]) -> Totals {
    let mut t = Totals::default();
    for c in changes {
        match c.status {
            Status::Added => t.added += 1,
            Status::Removed => t.removed += 1,
            Status::Renamed => t.renamed += 1,
            Status::Changed => t.changed += 1,
            Status::Unchanged => t.unchanged += 1,
        }
        t.stopped_fitting += usize::from(c.stopped_fitting);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(total: u64, limit: u64, fits: bool) -> Side {
        Side {
            name: Some("chat".into()),
            valid: true,
            fits,
            strategy: Some("single GPU".into()),
            max_seq_len: Some(4096),
            max_batch_size: Some(1),
            quantization: Some("none".into()),
            devices: vec![DeviceRow {
                gpu: 0,
                name: "GPU".into(),
                layers: "0-3".into(),
                weights: total,
                kv_cache: 0,
                activations: 0,
                overhead: 0,
                total,
                limit,
                headroom: limit as i64 - total as i64,
            }],
            capacity: None,
            launch: Some(format!("mistralrs serve --n {total}")),
            findings: Vec::new(),
            inputs: 1,
        }
    }

    #[test]
    fn growth_past_the_limit_stops_fitting() {
        let c = compare(
            "a.toml".into(),
            None,
            Some(side(100, 150, true)),
            Some(side(200, 150, false)),
        );
        assert_eq!(c.status, Status::Changed);
        assert!(c.stopped_fitting);
        assert!(c.launch_changed);
        assert_eq!(c.devices[0].total_change, 100);
        assert_eq!(c.largest_growth_percent, Some(100.0));
    }

    #[test]
    fn the_same_plan_from_the_same_files_is_unchanged() {
        let c = compare(
            "a.toml".into(),
            None,
            Some(side(100, 150, true)),
            Some(side(100, 150, true)),
        );
        assert_eq!(c.status, Status::Unchanged);
        assert!(!c.stopped_fitting && !c.launch_changed);
        let mut edited = side(100, 150, true);
        edited.inputs = 2;
        let c = compare(
            "a.toml".into(),
            None,
            Some(side(100, 150, true)),
            Some(edited),
        );
        assert_eq!(
            c.status,
            Status::Changed,
            "a comment changed: listed, nothing else"
        );
    }

    #[test]
    fn a_new_manifest_that_does_not_fit_stopped_fitting() {
        let c = compare("b.toml".into(), None, None, Some(side(200, 150, false)));
        assert_eq!(c.status, Status::Added);
        assert!(c.stopped_fitting);
        assert!(!c.launch_changed);
        assert_eq!(c.devices[0].total_change_percent, None);
    }
}
