//! `deployctl gpus`: the GPUs of this machine (through NVML) or of a recorded
//! inventory, their memory, processes and links; `--record` saves the live
//! inventory so plans can be made elsewhere.

use std::fmt::Write as _;
use std::path::PathBuf;

use comfy_table::Table;
use comfy_table::presets::NOTHING;
use serde::Serialize;

use super::Format;
use super::exit::Exit;
use super::output::{out, outln};
use crate::inventory::visible::{self, VisibleDevices};
use crate::inventory::{self, Inventory, nvml};
use crate::units::ByteSize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show a recorded inventory instead of this machine's GPUs.
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    pub inventory: Option<PathBuf>,

    /// Write this machine's inventory to FILE, for `plan --inventory FILE` elsewhere.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Overwrite the `--record` file if it exists.
    #[arg(long, requires = "record")]
    pub force: bool,

    /// Output format (`github` is not meaningful here and prints JSON).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

const NO_DRIVER: &str = "\
No NVIDIA driver found on this machine (NVML could not be loaded). That is normal on CI runners
and laptops: plan against a recorded inventory (`--inventory FILE`, written on the serving box by
`deployctl gpus --record FILE`), the `--gpus` shorthand (`--gpus 4xA100-80GB`), or the manifest's
`[devices.expect]`.";

pub(super) fn run(args: Args) -> Exit {
    if let Some(path) = args.record.as_ref().filter(|p| p.exists() && !args.force) {
        eprintln!(
            "error: `{}` exists; pass --force to overwrite it",
            path.display()
        );
        return Exit::Usage;
    }
    let inventory = match &args.inventory {
        Some(path) => match inventory::file::read(path) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Invalid;
            }
        },
        None => match nvml::read() {
            Ok(i) => i,
            Err(nvml::Unavailable::NoDriver(detail)) => {
                if args.record.is_some() {
                    eprintln!(
                        "error: nothing to record: no NVIDIA driver on this machine ({detail})"
                    );
                    return Exit::Invalid;
                }
                outln!("{NO_DRIVER}");
                return Exit::Ok;
            }
            Err(nvml::Unavailable::Failed(e)) => {
                eprintln!("error: NVML failed: {e}");
                return Exit::Invalid;
            }
        },
    };
    let env = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    let devices = visible::parse(env.as_deref(), &inventory.gpus);
    if let Some(path) = &args.record {
        if let Err(e) = std::fs::write(path, record(&inventory)) {
            eprintln!(
                "error: cannot write `{}`: {}",
                path.display(),
                crate::diagnostic::io_reason(&e)
            );
            return Exit::Invalid;
        }
        eprintln!(
            "recorded {} GPUs to {}",
            inventory.gpus.len(),
            path.display()
        );
    }
    match args.format {
        Format::Human => out!("{}", human(&inventory, &devices, env.as_deref())),
        Format::Json | Format::Github => {
            let report = Report {
                source: inventory.source.to_string(),
                cuda_visible_devices: env.clone(),
                visible: &devices,
                gpus: inventory
                    .gpus
                    .iter()
                    .map(|g| (g, devices.ordinal_of(g.index)))
                    .map(|(gpu, cuda_ordinal)| GpuReport { gpu, cuda_ordinal })
                    .collect(),
                links: &inventory.links,
            };
            outln!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serializable")
            );
        }
    }
    Exit::Ok
}

#[derive(Serialize)]
struct Report<'a> {
    source: String,
    cuda_visible_devices: Option<String>,
    visible: &'a VisibleDevices,
    gpus: Vec<GpuReport<'a>>,
    links: &'a [inventory::Link],
}

#[derive(Serialize)]
struct GpuReport<'a> {
    #[serde(flatten)]
    gpu: &'a inventory::Gpu,
    /// The ordinal mistral.rs sees under the current `CUDA_VISIBLE_DEVICES`.
    cuda_ordinal: Option<usize>,
}

fn mib(b: ByteSize) -> String {
    format!("{} MiB", b.0 / (1 << 20))
}

fn bar(used: ByteSize, total: ByteSize) -> String {
    let filled = if total.0 == 0 {
        0
    } else {
        ((used.0 as f64 / total.0 as f64) * 10.0).round() as usize
    };
    format!(
        "{}{}",
        "█".repeat(filled.min(10)),
        "░".repeat(10 - filled.min(10))
    )
}

/// The table, the link matrix and what `CUDA_VISIBLE_DEVICES` does.
pub(super) fn human(inventory: &Inventory, devices: &VisibleDevices, env: Option<&str>) -> String {
    let mut out = format!("GPUs from {}\n\n", inventory.source);
    let mut table = Table::new();
    table.load_style(NOTHING).set_header([
        "GPU",
        "CUDA",
        "UUID",
        "name",
        "memory used / total",
        "",
        "CC",
        "MIG",
        "processes",
    ]);
    for g in &inventory.gpus {
        let mut procs: Vec<_> = g.processes.iter().collect();
        procs.sort_by(|a, b| b.memory.cmp(&a.memory).then(a.pid.cmp(&b.pid)));
        let shown: Vec<String> = procs
            .iter()
            .take(2)
            .map(|p| format!("{} {} ({})", p.pid, p.name, mib(p.memory)))
            .collect();
        let more = procs.len().saturating_sub(2);
        let processes = match (shown.is_empty(), more) {
            (true, _) => "-".to_owned(),
            (false, 0) => shown.join("; "),
            (false, n) => format!("{}; and {n} more", shown.join("; ")),
        };
        table.add_row([
            g.index.to_string(),
            devices
                .ordinal_of(g.index)
                .map_or("hidden".into(), |o| o.to_string()),
            g.uuid.clone().unwrap_or_else(|| "-".into()),
            g.name.clone(),
            format!("{} / {}", mib(g.memory_used), mib(g.memory_total)),
            bar(g.memory_used, g.memory_total),
            g.compute_capability.map_or("-".into(), |c| c.to_string()),
            if g.mig { "on" } else { "off" }.into(),
            processes,
        ]);
    }
    let text = table.to_string();
    for line in text.lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !inventory.links.is_empty() {
        out.push_str("\nLinks (NV#: NVLink lanes, PIX: PCIe switch, PHB: host bridge, NODE: same socket, SYS: across sockets):\n");
        let mut matrix = Table::new();
        let mut header = vec![String::new()];
        header.extend(inventory.gpus.iter().map(|g| format!("GPU {}", g.index)));
        matrix.load_style(NOTHING).set_header(header);
        for a in &inventory.gpus {
            let mut row = vec![format!("GPU {}", a.index)];
            for b in &inventory.gpus {
                row.push(if a.index == b.index {
                    "X".into()
                } else {
                    match inventory.link(a.index, b.index) {
                        Some(l) if l.kind == inventory::LinkKind::Nvlink => {
                            format!("NV{}", l.lanes)
                        }
                        Some(l) => l.kind.short().into(),
                        None => "?".into(),
                    }
                });
            }
            matrix.add_row(row);
        }
        for line in matrix.to_string().lines() {
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    match (env, &devices.stopped) {
        (None, _) => out.push_str(
            "\nCUDA_VISIBLE_DEVICES is unset: CUDA shows every GPU, numbered as above.\n",
        ),
        (Some(value), None) => {
            let _ = writeln!(
                out,
                "\nCUDA_VISIBLE_DEVICES={value}: CUDA shows {} device(s); the CUDA column gives each one's ordinal.",
                devices.visible.len()
            );
        }
        (Some(value), Some(stop)) => {
            let _ = writeln!(
                out,
                "\nCUDA_VISIBLE_DEVICES={value}: entry `{}` {}, so CUDA hides it and every entry after it.",
                stop.entry, stop.reason
            );
        }
    }
    out
}

/// The inventory as the TOML that `--inventory` reads.
pub fn record(inventory: &Inventory) -> String {
    let mut out = String::from(
        "# Recorded by `deployctl gpus --record`. Plan against it with `deployctl plan --inventory FILE`.\n",
    );
    for g in &inventory.gpus {
        let _ = writeln!(out, "\n[[gpu]]\nindex = {}", g.index);
        if let Some(uuid) = &g.uuid {
            let _ = writeln!(out, "uuid = {}", toml::Value::String(uuid.clone()));
        }
        let _ = writeln!(out, "name = {}", toml::Value::String(g.name.clone()));
        let _ = writeln!(out, "memory_total = {}", g.memory_total.0);
        let _ = writeln!(out, "memory_used = {}", g.memory_used.0);
        if let Some(c) = g.compute_capability {
            let _ = writeln!(out, "compute_capability = \"{c}\"");
        }
        if g.mig {
            out.push_str("mig = true\n");
        }
        for p in &g.processes {
            let _ = writeln!(
                out,
                "[[gpu.process]]\npid = {}\nname = {}\nmemory = {}",
                p.pid,
                toml::Value::String(p.name.clone()),
                p.memory.0
            );
        }
    }
    for l in &inventory.links {
        let kind = l.kind.name();
        let _ = writeln!(
            out,
            "\n[[link]]\na = {}\nb = {}\nkind = \"{kind}\"",
            l.a, l.b
        );
        if l.lanes > 0 {
            let _ = writeln!(out, "lanes = {}", l.lanes);
        }
    }
    out
}
