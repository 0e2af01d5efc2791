//! `deployctl gpus`: recorded inventories rendered as on a live box, the
//! no-driver path of this machine, and `--record`.

use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

use crate::support;

fn deployctl() -> Command {
    let mut cmd = support::deployctl();
    cmd.current_dir(support::fixtures().join("inventories"))
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn every_recorded_inventory_renders() {
    for name in [
        "8xh100-nvlink",
        "4x4090-two-sockets",
        "mixed-24-12",
        "busy-first-gpu",
        "mig-a100",
        "5xa100-80gb",
    ] {
        let file = format!("{name}.toml");
        insta::with_settings!({ snapshot_suffix => name }, {
            assert_cmd_snapshot!(deployctl().args(["gpus", "--inventory", &file]));
        });
    }
}

#[test]
fn cuda_visible_devices_renumbers_and_hides() {
    assert_cmd_snapshot!(
        deployctl()
            .args(["gpus", "--inventory", "4x4090-two-sockets.toml"])
            .env("CUDA_VISIBLE_DEVICES", "3,GPU-40900000,9,1")
    );
    let out = deployctl()
        .args([
            "gpus",
            "--inventory",
            "4x4090-two-sockets.toml",
            "--format",
            "json",
        ])
        .env("CUDA_VISIBLE_DEVICES", "2,0")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ordinals: Vec<_> = report["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["cuda_ordinal"].clone())
        .collect();
    assert_eq!(
        ordinals,
        vec![
            serde_json::json!(1),
            serde_json::Value::Null,
            serde_json::json!(0),
            serde_json::Value::Null
        ]
    );
}

#[test]
fn this_machine_without_a_driver_is_not_an_error() {
    let out = deployctl().arg("gpus").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Where a driver exists the table shows instead; either way it is real output.
    assert!(
        stdout.starts_with("No NVIDIA driver found")
            || stdout.starts_with("GPUs from this machine"),
        "{stdout}"
    );
}

#[test]
fn recording_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("box.toml");
    std::fs::write(&target, "keep me").unwrap();
    let out = deployctl()
        .args(["gpus", "--record"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --force"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
}

#[test]
fn a_recorded_inventory_reads_back_the_same() {
    // What `--record` writes is what `--inventory` reads.
    let inventory = deployctl::inventory::file::read(
        &support::fixtures().join("inventories/busy-first-gpu.toml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.toml");
    std::fs::write(&copy, deployctl::cli::record_inventory(&inventory)).unwrap();
    let again = deployctl::inventory::file::read(&copy).unwrap();
    assert_eq!(inventory.gpus, again.gpus);
    assert_eq!(inventory.links, again.links);
}

#[test]
fn flash_attention_on_old_gpus_is_refused_before_loading() {
    let out = support::deployctl()
        .current_dir(support::examples().join("pinned-second-gpu"))
        .args([
            "plan",
            "deploy.toml",
            "--gpus",
            "2xT4",
            "--flash-attention",
            "--set",
            "devices.gpus=[0]",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    // 3: the manifest is valid, and its plan cannot run on these GPUs.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"deployctl::preflight::flash_attention_unsupported"),
        "{codes:?}"
    );
}
