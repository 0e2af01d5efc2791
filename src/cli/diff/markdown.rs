//! `diff --format markdown`: a pull-request comment. One summary table, then
//! a collapsible section per manifest.

use std::fmt::Write as _;

use super::Report;
use super::cells::{self, before_after, field, gib, term};
use super::text::short;
use crate::review::Change;

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "### deployctl diff\n\nCompared with `{}` ({}): {} changed, {} added, {} removed, {} renamed, {} unchanged.{}\n",
        report.base.name,
        short(&report.base.commit),
        s.changed,
        s.added,
        s.removed,
        s.renamed,
        s.unchanged,
        if s.stopped_fitting > 0 {
            format!(
                " **{} {} fitting.**",
                s.stopped_fitting,
                if s.stopped_fitting == 1 {
                    "stops"
                } else {
                    "stop"
                }
            )
        } else {
            String::new()
        }
    );
    if report.changes.is_empty() {
        return out;
    }
    out.push_str("| manifest | change | plan | strategy | tightest GPU |\n|---|---|---|---|---|\n");
    for c in &report.changes {
        let verdict = before_after(
            c.before.as_ref().map(|s| cells::verdict(s).to_owned()),
            c.after.as_ref().map(|s| cells::verdict(s).to_owned()),
        );
        let _ = writeln!(
            out,
            "| `{}` | {}{} | {}{verdict} | {} | {} |",
            c.path,
            c.status.name(),
            if c.plan_changed {
                ""
            } else {
                ", plan the same"
            },
            if c.stopped_fitting { "❌ " } else { "" },
            cell(&field(c, |s| s.strategy.clone())),
            cell(&cells::tightest(c)),
        );
    }
    for c in &report.changes {
        details(&mut out, c);
    }
    out
}

/// A table cell: pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn details(out: &mut String, c: &Change) {
    let name = cells::name_suffix(c);
    let _ = writeln!(
        out,
        "\n<details><summary><code>{}</code>{name}: {}</summary>\n",
        c.path,
        c.status.name()
    );
    if let Some(from) = &c.from {
        let _ = writeln!(out, "Renamed from `{from}`.\n");
    }
    if !c.plan_changed {
        out.push_str("Its files changed, but it plans exactly as before.\n\n");
    }
    let _ = writeln!(
        out,
        "Strategy {}; `max_seq_len` {}; `max_batch_size` {}; quantization {}.\n",
        field(c, |s| s.strategy.clone()),
        field(c, |s| s.max_seq_len.map(|v| v.to_string())),
        field(c, |s| s.max_batch_size.map(|v| v.to_string())),
        field(c, |s| s.quantization.clone()),
    );
    if !c.devices.is_empty() {
        out.push_str(
            "| GPU | layers | weights | KV cache | activations | overhead | total | change | limit | headroom |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        for d in &c.devices {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                d.gpu,
                cell(&term(d, |r| r.layers.clone())),
                term(d, |r| gib(r.weights)),
                term(d, |r| gib(r.kv_cache)),
                term(d, |r| gib(r.activations)),
                term(d, |r| gib(r.overhead)),
                term(d, |r| gib(r.total)),
                cells::change(d),
                term(d, |r| gib(r.limit)),
                term(d, |r| cells::signed_gib(r.headroom)),
            );
        }
        out.push('\n');
    }
    let capacity = |get: fn(&crate::plan::Capacity) -> Option<crate::plan::Bound>| {
        field(c, |s| {
            cells::capacity_of(s).map(|cap| cells::bound(get(cap)))
        })
    };
    let _ = writeln!(
        out,
        "Capacity: the longest `max_seq_len` {}; the most sequences {}.\n",
        capacity(|c| c.max_seq_len),
        capacity(|c| c.max_batch_size)
    );
    for (mark, list) in [
        ("Added", &c.findings_added),
        ("Resolved", &c.findings_resolved),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{mark}:\n");
        for f in list {
            let _ = writeln!(out, "- {} `{}`: {}", f.severity, f.code, f.message);
        }
        out.push('\n');
    }
    if c.launch_changed {
        out.push_str("Launch:\n\n```diff\n");
        for (sign, side) in [('-', &c.before), ('+', &c.after)] {
            if let Some(launch) = side.as_ref().and_then(|s| s.launch.as_ref()) {
                let _ = writeln!(out, "{sign} {launch}");
            }
        }
        out.push_str("```\n\n");
    }
    out.push_str("</details>\n");
}
