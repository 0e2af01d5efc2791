//! The worked examples under `examples/`, run as a user would: each manifest
//! validates, plans against the inventory recorded beside it, and
//! `apply --dry-run` prints the launch it compiles to (snapshotted). A manifest
//! added under `examples/` without an entry in `EXAMPLES` fails
//! `every_example_is_covered`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use insta_cmd::assert_cmd_snapshot;
use serde_json::Value;

use crate::support;

/// One manifest of an example, and the hardware it is written for.
struct Example {
    /// The folder of its `deploy.toml`, relative to `examples/`. Commands run there.
    dir: &'static str,
    /// The recorded inventory in `dir`; `None` for an example that runs on the CPU.
    inventory: Option<&'static str>,
    /// Warnings its plan shows on purpose, as its README explains. No other
    /// diagnostic is allowed.
    warnings: &'static [&'static str],
}

const EXAMPLES: &[Example] = &[
    Example {
        dir: "quickstart",
        inventory: None,
        warnings: &[],
    },
    Example {
        dir: "qwen2.5-vl-3b-4x15gb",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    Example {
        dir: "qwen2-vl-7b-2x24gb-long",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    Example {
        dir: "qwen1.5-72b-tensor-5xa100",
        inventory: Some("inventory.toml"),
        // 64 heads split 4 ways, not 5: the plan names the GPU it leaves out.
        warnings: &["deployctl::plan::gpus_left_out"],
    },
    Example {
        dir: "pinned-second-gpu",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    Example {
        dir: "nvlink-pair",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    Example {
        dir: "gemma3-27b-manual-map",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    Example {
        dir: "gitops/staging",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    Example {
        dir: "gitops/production",
        inventory: Some("inventory.toml"),
        warnings: &[],
    },
    // Planned against `gitops/hosts/gpu-box-3.toml`, which both name.
    Example {
        dir: "gitops/shared/chat",
        inventory: None,
        warnings: &[],
    },
    Example {
        dir: "gitops/shared/vision",
        inventory: None,
        warnings: &[],
    },
];

impl Example {
    fn path(&self) -> PathBuf {
        support::examples().join(self.dir)
    }

    fn hardware(&self) -> Vec<&'static str> {
        match self.inventory {
            Some(file) => vec!["--inventory", file],
            None => Vec::new(),
        }
    }

    /// The snapshot suffix: the folder, with `/` as `-`.
    fn suffix(&self) -> String {
        self.dir.replace('/', "-")
    }
}

/// `deployctl` run in `dir`, with no inherited overrides, colours or caches.
fn deployctl(dir: &Path) -> Command {
    let mut cmd = support::deployctl();
    support::without_model_caches(&mut cmd)
        .current_dir(dir)
        .env("NO_COLOR", "1");
    cmd
}

/// Runs a command with `--format json`: its exit code and its report.
fn json(example: &Example, cmd: &mut Command) -> (Option<i32>, Value) {
    let out = cmd.args(["--format", "json"]).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\n{}",
            example.dir,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn codes(report: &Value) -> Vec<String> {
    let mut codes: Vec<String> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    codes
}

fn expected_warnings(example: &Example) -> Vec<String> {
    let mut w: Vec<String> = example.warnings.iter().map(|w| w.to_string()).collect();
    w.sort();
    w
}

#[test]
fn every_example_validates() {
    for example in EXAMPLES {
        let mut cmd = deployctl(&example.path());
        cmd.args(["validate", "deploy.toml"])
            .args(example.hardware());
        let (code, report) = json(example, &mut cmd);
        assert_eq!(code, Some(0), "{}: {report:#}", example.dir);
        assert_eq!(
            codes(&report),
            expected_warnings(example),
            "{}: {report:#}",
            example.dir
        );
    }
}

#[test]
fn every_example_plans_within_its_limits_on_its_inventory() {
    for example in EXAMPLES.iter().filter(|e| e.inventory.is_some()) {
        let mut cmd = deployctl(&example.path());
        cmd.args(["plan", "deploy.toml"]).args(example.hardware());
        let (code, report) = json(example, &mut cmd);
        assert_eq!(code, Some(0), "{}: {report:#}", example.dir);
        assert_eq!(report["fits"], true, "{}: {report:#}", example.dir);
        assert_eq!(
            codes(&report),
            expected_warnings(example),
            "{}: {report:#}",
            example.dir
        );
        for d in report["plan"]["devices"].as_array().unwrap() {
            assert!(
                d["total"].as_u64() <= d["limit"].as_u64(),
                "{}: {d}",
                example.dir
            );
        }
    }
}

/// `apply --dry-run` prints the `mistralrs serve` launch of each example
/// without loading anything: single GPU, pipeline, tensor-parallel and manual
/// plans of catalog models on recorded hardware.
#[test]
fn apply_dry_run_prints_each_examples_launch() {
    for example in EXAMPLES.iter().filter(|e| e.inventory.is_some()) {
        let mut cmd = deployctl(&example.path());
        cmd.args(["apply", "--dry-run", "deploy.toml"])
            .args(example.hardware());
        insta::with_settings!({ snapshot_suffix => example.suffix() }, {
            assert_cmd_snapshot!(cmd);
        });
    }
}

/// The two deployments that share gpu-box-3 are planned against its recorded
/// inventory, together: GPU 1 holds both plans.
#[test]
fn the_deployments_sharing_a_host_fit_it_together() {
    let mut cmd = deployctl(&support::examples().join("gitops"));
    cmd.args(["validate", "shared", "--format", "json"]);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for dir in ["shared/chat", "shared/vision"] {
        let mut cmd = deployctl(&support::examples().join("gitops").join(dir));
        cmd.args(["plan", "deploy.toml", "--format", "json"]);
        let report: Value = serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap();
        assert_eq!(
            report["hardware"], "host gpu-box-3 (../../hosts/gpu-box-3.toml)",
            "{dir}"
        );
        assert_eq!(report["fits"], true, "{dir}");
    }
}

/// `plan --machine` plans the deployments on one recorded machine together:
/// each GPU's column of plans, and their sum against its memory.
#[test]
fn plan_on_a_machine_sums_what_each_deployment_plans_per_gpu() {
    let gitops = support::examples().join("gitops");
    let machine = |extra: &[&str]| {
        let out = deployctl(&gitops)
            .args(["plan", "--machine", "hosts/gpu-box-3.toml", "shared"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, table, stderr) = machine(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    let gpu1 = table
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(
        gpu1.contains("23.67 GiB") && gpu1.contains("16.33 GiB") && gpu1.contains("40.00 GiB"),
        "{table}"
    );
    // Each plan fits its own limit; together they do not.
    let (code, table, stderr) = machine(&[
        "--set",
        "devices.max_memory=60GiB",
        "--set",
        "workload.max_seq_len=auto",
    ]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(table.contains(" over"), "{table}");
    assert!(
        stderr.contains("deployctl::plan::host_over_committed"),
        "{stderr}"
    );
}

/// On the box, `apply` checks the live GPUs against the other deployments the
/// repository places on its host: memory in use beyond their plans is
/// named, and a plan that over-commits a GPU with theirs does not start.
#[test]
fn apply_on_a_shared_host_checks_the_others_plans() {
    let copy = tempfile::tempdir().unwrap();
    let gitops = support::examples().join("gitops");
    for file in [
        "hosts/gpu-box-3.toml",
        "shared/chat/deploy.toml",
        "shared/vision/deploy.toml",
    ] {
        let to = copy.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(gitops.join(file), to).unwrap();
    }
    let host = std::fs::read_to_string(copy.path().join("hosts/gpu-box-3.toml")).unwrap();
    let (first, second) = host.split_at(host.rfind("[[gpu]]").unwrap());
    let busy = copy.path().join("busy.toml");
    std::fs::write(
        &busy,
        format!(
            "{first}{}",
            second.replace("memory_used = \"0MiB\"", "memory_used = \"40960MiB\"")
        ),
    )
    .unwrap();
    let apply = |live: &Path| {
        let out = deployctl(copy.path())
            .args(["apply", "shared/chat/deploy.toml", "--dry-run"])
            .env("DEPLOYCTL_LIVE_INVENTORY", live)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = apply(&copy.path().join("hosts/gpu-box-3.toml"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("unplanned_use"), "{stderr}");
    let (code, stderr) = apply(&busy);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("deployctl::preflight::unplanned_use"),
        "{stderr}"
    );
    assert!(stderr.contains("GPU 1 has 40 GiB in use, but the other deployments on host gpu-box-3 plan 16.33 GiB there"), "{stderr}");
    let vision = copy.path().join("shared/vision/deploy.toml");
    let text = std::fs::read_to_string(&vision).unwrap();
    std::fs::write(
        &vision,
        text.replace("max_memory = \"45GiB\"", "max_memory = \"60GiB\"")
            .replace("max_seq_len = 16384", "max_seq_len = \"auto\""),
    )
    .unwrap();
    let (code, stderr) = apply(&copy.path().join("hosts/gpu-box-3.toml"));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("deployctl::plan::host_over_committed"),
        "{stderr}"
    );
    // The message as one line: human output wraps it at a fixed width.
    let message = stderr.replace("\n  │ ", " ");
    assert!(
        message.contains("this deployment plans 23.67 GiB"),
        "{stderr}"
    );
}

/// Each overlay of the config repository is its base with its own keys on top.
#[test]
fn gitops_overlays_resolve_on_top_of_the_base() {
    for overlay in ["staging", "production"] {
        let mut cmd = deployctl(&support::examples().join("gitops"));
        cmd.args(["config", "--show-origin"])
            .arg(format!("{overlay}/deploy.toml"));
        insta::with_settings!({ snapshot_suffix => overlay }, {
            assert_cmd_snapshot!(cmd);
        });
    }
}

/// Every `deploy.toml` under `dir`, as folders relative to `root`; hidden
/// entries skipped.
fn manifests(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            manifests(root, &path, found);
        } else if path.file_name().unwrap() == "deploy.toml" {
            let folder = path.parent().unwrap().strip_prefix(root).unwrap();
            found.insert(folder.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_example_is_covered() {
    let root = support::examples();
    let mut found = BTreeSet::new();
    manifests(&root, &root, &mut found);
    let listed: BTreeSet<String> = EXAMPLES.iter().map(|e| e.dir.to_owned()).collect();
    let untested: Vec<_> = found.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&found).collect();
    assert!(
        untested.is_empty() && missing.is_empty(),
        "examples/ and EXAMPLES in tests/it/examples.rs differ: manifests not tested {untested:?}, \
         listed but missing {missing:?}"
    );

    // Each example's folder under examples/ has a README that gives the command
    // to plan each of its manifests.
    for example in EXAMPLES {
        let top = example.dir.split('/').next().unwrap();
        let readme = std::fs::read_to_string(root.join(top).join("README.md"))
            .unwrap_or_else(|e| panic!("examples/{top}/README.md: {e}"));
        let Some(inventory) = example.inventory else {
            continue;
        };
        assert!(
            example.path().join(inventory).is_file(),
            "{}: no {inventory}",
            example.dir
        );
        let within = example
            .dir
            .strip_prefix(top)
            .unwrap()
            .trim_start_matches('/');
        let prefix = if within.is_empty() {
            String::new()
        } else {
            format!("{within}/")
        };
        let command = format!("deployctl plan {prefix}deploy.toml --inventory {prefix}{inventory}");
        assert!(
            readme.contains(&command),
            "examples/{top}/README.md does not give `{command}`"
        );
    }
}

/// Every manifest under `examples/`, base files included, starts with a
/// `#:schema` comment that reaches the repository's schema, so editors complete
/// its keys.
#[test]
fn every_example_manifest_names_the_schema() {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/deploy.schema.json")
        .canonicalize()
        .unwrap();
    let mut stack = vec![support::examples()];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.lines().any(|l| l.starts_with("version =")) {
                continue; // an inventory, not a manifest
            }
            let first = text.lines().next().unwrap_or_default();
            let target = first
                .strip_prefix("#:schema ")
                .unwrap_or_else(|| panic!("{}: first line is not `#:schema`", path.display()));
            let resolved = path.parent().unwrap().join(target.trim()).canonicalize();
            assert_eq!(
                resolved.ok().as_ref(),
                Some(&schema),
                "{}: `{first}` does not reach schemas/deploy.schema.json",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= EXAMPLES.len(), "only {checked} manifests found");
}
