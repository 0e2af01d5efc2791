//! `diff --format human`.

use std::fmt::Write as _;

use super::Report;
use super::cells::{self, before_after, field, gib, term};
use crate::review::{Change, Status};

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Compared with {} ({}):",
        report.base.name,
        short(&report.base.commit)
    );
    if report.changes.is_empty() {
        let _ = writeln!(out, "  no manifest changed");
    }
    for c in &report.changes {
        manifest(&mut out, c);
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} changed, {} added, {} removed, {} renamed, {} unchanged; {} stopped fitting",
        s.changed, s.added, s.removed, s.renamed, s.unchanged, s.stopped_fitting
    );
    out
}

pub(super) fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn manifest(out: &mut String, c: &Change) {
    let name = cells::name_suffix(c);
    let from = c
        .from
        .as_ref()
        .map(|f| format!(", from {f}"))
        .unwrap_or_default();
    let same = if c.plan_changed {
        ""
    } else {
        ": its files changed, but it plans exactly as before"
    };
    let _ = writeln!(
        out,
        "\n{:>9}  {}{name}{from}{same}",
        c.status.name(),
        c.path
    );
    let verdict = before_after(
        c.before.as_ref().map(|s| cells::verdict(s).to_owned()),
        c.after.as_ref().map(|s| cells::verdict(s).to_owned()),
    );
    let mark = if c.stopped_fitting {
        "  ← stops fitting"
    } else {
        ""
    };
    let _ = writeln!(out, "    {:<14} {verdict}{mark}", "plan");
    let _ = writeln!(
        out,
        "    {:<14} {}",
        "strategy",
        field(c, |s| s.strategy.clone())
    );
    for (label, get) in [
        (
            "max_seq_len",
            (|s: &crate::review::Side| s.max_seq_len.map(|v| v.to_string())) as fn(&_) -> _,
        ),
        ("max_batch_size", |s| {
            s.max_batch_size.map(|v| v.to_string())
        }),
        ("quantization", |s| s.quantization.clone()),
    ] {
        let _ = writeln!(out, "    {label:<14} {}", field(c, get));
    }
    for d in &c.devices {
        let _ = writeln!(
            out,
            "    GPU {:<10} layers {}; weights {}, KV cache {}, activations {}, overhead {}",
            d.gpu,
            term(d, |r| r.layers.clone()),
            term(d, |r| gib(r.weights)),
            term(d, |r| gib(r.kv_cache)),
            term(d, |r| gib(r.activations)),
            term(d, |r| gib(r.overhead)),
        );
        let _ = writeln!(
            out,
            "    {:<14} total {} ({}) of {}, headroom {}",
            "",
            term(d, |r| gib(r.total)),
            cells::change(d),
            term(d, |r| gib(r.limit)),
            term(d, |r| cells::signed_gib(r.headroom)),
        );
    }
    if c.status != Status::Added && c.status != Status::Removed {
        let capacity = |get: fn(&crate::plan::Capacity) -> Option<crate::plan::Bound>| {
            field(c, |s| {
                cells::capacity_of(s).map(|cap| cells::bound(get(cap)))
            })
        };
        let _ = writeln!(
            out,
            "    {:<14} max_seq_len {}; max_batch_size {}",
            "capacity",
            capacity(|c| c.max_seq_len),
            capacity(|c| c.max_batch_size)
        );
    }
    for f in &c.findings_added {
        let _ = writeln!(out, "    + {} {}: {}", f.severity, f.code, f.message);
    }
    for f in &c.findings_resolved {
        let _ = writeln!(out, "    − {} {}: {}", f.severity, f.code, f.message);
    }
    if c.launch_changed {
        if let Some(launch) = c.after.as_ref().and_then(|a| a.launch.as_ref()) {
            let _ = writeln!(out, "    {:<14} {launch}", "launch now");
        }
    }
}
