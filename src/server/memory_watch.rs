//! Memory while serving: each re-measure recorded in the metrics, and a
//! warning when a device passes its plan.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use super::log::{LogFormat, say};
use super::metrics::Metrics;
use crate::inventory::measure::Row;

pub(super) fn record_memory(metrics: &Metrics, rows: &[Row]) {
    for r in rows {
        metrics.memory(&r.device, r.planned.0, r.measured.0);
    }
}

/// Re-measures memory while serving, and warns once per device when it
/// passes the plan by more than the margin.
pub(super) async fn watch_memory(
    shared: Arc<Shared>,
    log: LogFormat,
    mut warned: std::collections::BTreeSet<String>,
) {
    const MARGIN: f64 = 1.10;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        for r in &shared.remeasure().await {
            if r.measured.0 as f64 > r.planned.0 as f64 * MARGIN && warned.insert(r.device.clone())
            {
                say(
                    log,
                    "warn",
                    &format!(
                        "warning: {} holds {} MiB, more than 10 % past the {} MiB planned",
                        r.device,
                        r.measured.0 >> 20,
                        r.planned.0 >> 20
                    ),
                );
            }
        }
    }
}
