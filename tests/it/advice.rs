//! `plan::advise`, the planner's what-if search as a library call: it gives
//! the answers a misfit's help is written from, and nothing for a plan that
//! cannot be laid out.

use std::path::Path;

use deployctl::inventory;
use deployctl::manifest::{Loader, Manifest, Overrides};
use deployctl::model;
use deployctl::plan::{self, Settings};

fn manifest(text: &str) -> Manifest {
    Loader::new()
        .load_str(Path::new("deploy.toml"), text, &Overrides::default())
        .manifest
        .expect("the manifest is valid")
}

#[test]
fn advice_is_what_the_misfit_help_says() {
    let m = manifest(
        "version = 1\n[model]\nsource = \"Qwen/Qwen2.5-72B-Instruct\"\n\
         [workload]\nmax_seq_len = 32768\n[devices]\ngpus = [0, 1]\n\
         [parallelism]\nstrategy = \"pipeline\"\n",
    );
    let shape = model::resolve(&m.model, &|_| None).unwrap().shape;
    let gpus = inventory::spec::parse("2x24GiB").unwrap();
    let input = plan::Input {
        manifest: &m,
        shape: &shape,
        inventory: &gpus,
        settings: &Settings::default(),
        visible: None,
        weights: None,
    };
    let advice = plan::advise(&input).expect("a pipeline over two GPUs can be laid out");
    // 72B parameters in bf16 are some 145 GB: no context fits on 48 GB.
    assert_eq!(advice.largest_context, None, "{advice:?}");
    let (n, _) = advice.gpus.clone().expect("enough 24 GiB GPUs fit it");
    // The fewest: the same manifest over n such GPUs fits, over n - 1 not.
    let fits_on = |count: usize| {
        let m = manifest(&format!(
            "version = 1\n[model]\nsource = \"Qwen/Qwen2.5-72B-Instruct\"\n\
             [workload]\nmax_seq_len = 32768\n[devices]\ngpus = [{}]\n\
             [parallelism]\nstrategy = \"pipeline\"\n",
            (0..count)
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let gpus = inventory::spec::parse(&format!("{count}x24GiB")).unwrap();
        let outcome = plan::plan(&plan::Input {
            manifest: &m,
            shape: &shape,
            inventory: &gpus,
            settings: &Settings::default(),
            visible: None,
            weights: None,
        });
        outcome
            .plan
            .as_ref()
            .is_some_and(|p| p.cpu.is_none() && p.devices.iter().all(|d| d.headroom >= 0))
    };
    assert!(fits_on(n), "{n} GPUs");
    assert!(!fits_on(n - 1), "{} GPUs", n - 1);

    let outcome = plan::plan(&input);
    let help = outcome
        .findings
        .iter()
        .find(|f| {
            use deployctl::diagnostic::Code::*;
            matches!(
                f.code,
                DoesNotFit | KvCacheTooLarge | FirstGpuOverloaded | CpuSpillDisabled
            )
        })
        .and_then(|f| f.help.clone())
        .expect("the misfit is explained");
    let clauses = advice.clauses();
    assert!(!clauses.is_empty());
    for clause in &clauses {
        assert!(help.contains(clause.as_str()), "{clause:?} not in {help:?}");
    }
}

#[test]
fn a_plan_that_cannot_be_laid_out_gets_no_advice() {
    // GPU 5 of a two-GPU machine: no devices can be selected.
    let m = manifest(
        "version = 1\n[model]\nsource = \"Qwen/Qwen2.5-7B-Instruct\"\n\
         [devices]\ngpus = [5]\n",
    );
    let shape = model::resolve(&m.model, &|_| None).unwrap().shape;
    let gpus = inventory::spec::parse("2x24GiB").unwrap();
    let input = plan::Input {
        manifest: &m,
        shape: &shape,
        inventory: &gpus,
        settings: &Settings::default(),
        visible: None,
        weights: None,
    };
    assert_eq!(plan::advise(&input), None);
    assert!(plan::plan(&input).plan.is_none());
}
