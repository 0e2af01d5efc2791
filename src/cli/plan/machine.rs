//! `deployctl plan --machine FILE MANIFEST...`: several deployments planned
//! on one recorded machine, each on its own and then together: per GPU, what
//! each plans and whether the sum fits.

use std::collections::BTreeMap;
use std::path::Path;

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, Table};

use super::Args;
use crate::app::{App, LiveGpus, Named, discover, tree};
use crate::cli::exit::Exit;
use crate::cli::plan_table::gib;
use crate::diagnostic::display_path;
use crate::manifest::Overrides;
use crate::plan::Settings;
use crate::units::ByteSize;

pub(super) fn run(args: &Args, machine: &Path, color: bool) -> Exit {
    let candidates = match discover::manifests(&args.manifests) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {}", e.0);
            return Exit::Usage;
        }
    };
    let hardware = crate::app::HardwareSource::new(
        Some(Named::Recorded(machine.to_path_buf())),
        LiveGpus::Skip,
    );
    let settings = Settings {
        overhead: args.overhead,
        flash_attention: args.flash_attention,
        ..Settings::default()
    };
    let app = App::on_one_machine(hardware, settings);
    let overrides = Overrides::from_process(args.sets.clone());
    let checked = tree::check(&app, &candidates, &overrides, |manifest, planned| {
        let plan = planned.and_then(|p| p.outcome.plan.as_ref());
        let gpus: Vec<(u32, String, ByteSize)> = planned
            .map(|p| {
                p.inventory
                    .gpus
                    .iter()
                    .map(|g| (g.index, g.name.clone(), g.memory_total))
                    .collect()
            })
            .unwrap_or_default();
        let per_gpu: BTreeMap<u32, ByteSize> = plan
            .map(|p| p.devices.iter().map(|d| (d.index, d.total)).collect())
            .unwrap_or_default();
        (manifest.name.clone(), gpus, per_gpu)
    });
    let diagnostics = tree::distinct_diagnostics(&checked);
    crate::cli::output::eprint_human(&diagnostics, color);

    let Some(gpus) = checked
        .iter()
        .filter_map(|c| c.kept.as_ref())
        .map(|k| &k.1)
        .find(|g| !g.is_empty())
    else {
        return crate::cli::exit::of(&diagnostics, false).worst(Exit::Invalid);
    };
    let mut table = Table::new();
    table.load_style(NOTHING);
    let mut header = vec!["GPU".to_owned(), "name".to_owned(), "memory".to_owned()];
    header.extend(checked.iter().map(|c| {
        c.kept
            .as_ref()
            .map_or_else(|| display_path(&c.path), |k| k.0.clone())
    }));
    header.push("together".to_owned());
    table.set_header(header);
    for (index, name, memory) in gpus {
        let mut row = vec![index.to_string(), name.clone(), gib(*memory)];
        let mut sum = 0u64;
        for c in &checked {
            let planned = c.kept.as_ref().and_then(|k| k.2.get(index)).copied();
            sum = sum.saturating_add(planned.map_or(0, |b| b.0));
            row.push(planned.map_or_else(|| "—".to_owned(), gib));
        }
        let mark = if sum > memory.0 { "  over" } else { "" };
        row.push(format!("{}{mark}", gib(ByteSize(sum))));
        table.add_row(row);
    }
    for i in 2..table.column_count() {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    crate::cli::output::print(format!(
        "machine {} ({} deployments)\n{table}\n",
        display_path(machine),
        checked.len()
    ));
    crate::cli::exit::of(&diagnostics, false)
}
