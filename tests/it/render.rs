//! `deployctl render` and `apply --dry-run --on-cpu`: the launch for the stock
//! `mistralrs` binary, snapshotted for the examples it is shown with.

use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

use crate::support;

fn deployctl(example: &str) -> Command {
    let mut cmd = support::deployctl();
    support::without_model_caches(&mut cmd)
        .current_dir(support::examples().join(example))
        .env("NO_COLOR", "1");
    cmd
}

/// `render deploy.toml --target TARGET` against the example's inventory.
fn render(example: &str, target: &str) -> Command {
    let mut cmd = deployctl(example);
    cmd.args(["render", "deploy.toml", "--target", target])
        .args(["--inventory", "inventory.toml"]);
    cmd
}

#[test]
fn a_pipeline_plan_as_a_mistralrs_config_file() {
    assert_cmd_snapshot!(render("qwen2-vl-7b-2x24gb-long", "mistralrs-toml"));
}

#[test]
fn a_manual_map_as_a_mistralrs_config_file_and_its_topology() {
    assert_cmd_snapshot!(render("gemma3-27b-manual-map", "mistralrs-toml"));
    assert_cmd_snapshot!(render("gemma3-27b-manual-map", "topology"));
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
    let out = render("qwen2-vl-7b-2x24gb-long", "topology")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs no topology"));
}

/// A manifest with an API key renders a stock launch that cannot carry it:
/// `render` and `apply --dry-run` say so on stderr, and keep stdout the launch.
#[test]
fn a_stock_launch_without_the_manifest_s_api_key_says_it_serves_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deploy.toml");
    std::fs::write(
        &manifest,
        "version = 1\n[model]\nsource = \"Qwen/Qwen2.5-7B-Instruct\"\n\
         [server]\napi_key = { env = \"DEPLOYCTL_API_KEY\" }\n",
    )
    .unwrap();
    for args in [
        vec!["render", "--target", "mistralrs-cli"],
        vec!["render", "--target", "mistralrs-toml"],
        vec!["apply", "--dry-run"],
    ] {
        let out = support::deployctl()
            .args(&args[..1])
            .arg(&manifest)
            .args(&args[1..])
            .args(["--gpus", "2x80GiB"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stderr.contains("serves without authentication"),
            "{args:?}: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("without authentication"));
    }
}
