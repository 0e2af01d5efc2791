//! `deployctl render` and `apply --dry-run --on-cpu`: the launch for the stock
//! `mistralrs` binary, snapshotted for the examples it is shown with.

use std::path::Path;
use std::process::Command;

use insta_cmd::{assert_cmd_snapshot, get_cargo_bin};

fn deployctl(example: &str) -> Command {
    let mut cmd = Command::new(get_cargo_bin("deployctl"));
    cmd.current_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example),
    );
    for (name, _) in std::env::vars() {
        if name.starts_with("DEPLOYCTL_") || name.starts_with("HF_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("NO_COLOR", "1").env("HOME", "/nonexistent");
    cmd
}

#[test]
fn a_pipeline_plan_as_a_mistralrs_config_file() {
    assert_cmd_snapshot!(deployctl("qwen2-vl-7b-2x24gb-long").args([
        "render",
        "deploy.toml",
        "--target",
        "mistralrs-toml",
        "--inventory",
        "inventory.toml",
    ]));
}

#[test]
fn a_manual_map_as_a_mistralrs_config_file_and_its_topology() {
    assert_cmd_snapshot!(deployctl("gemma3-27b-manual-map").args([
        "render",
        "deploy.toml",
        "--target",
        "mistralrs-toml",
        "--inventory",
        "inventory.toml",
    ]));
    assert_cmd_snapshot!(deployctl("gemma3-27b-manual-map").args([
        "render",
        "deploy.toml",
        "--target",
        "topology",
        "--inventory",
        "inventory.toml",
    ]));
}

#[test]
fn a_manual_map_rehearsed_on_the_cpu() {
    assert_cmd_snapshot!(deployctl("gemma3-27b-manual-map").args([
        "apply",
        "deploy.toml",
        "--dry-run",
        "--on-cpu",
        "--inventory",
        "inventory.toml",
    ]));
}

#[test]
fn a_plan_without_per_range_quantization_has_no_topology() {
    let out = deployctl("qwen2-vl-7b-2x24gb-long")
        .args([
            "render",
            "deploy.toml",
            "--target",
            "topology",
            "--inventory",
            "inventory.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs no topology"));
}
