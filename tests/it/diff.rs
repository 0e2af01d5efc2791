//! `deployctl diff` end to end: temporary Git repositories with a base commit
//! and a change in the work tree, the real binary, and its markdown and JSON
//! snapshotted with its exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;

/// A scratch repository whose commits are the same bytes on every run, so
/// that the commit ids in the output are too.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .current_dir(self.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "deployctl tests")
            .env("GIT_AUTHOR_EMAIL", "tests@deployctl.invalid")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_NAME", "deployctl tests")
            .env("GIT_COMMITTER_EMAIL", "tests@deployctl.invalid")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Copies a file from `examples/`.
    fn copy(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(support::examples().join(from)).unwrap();
        self.write(to, &text);
    }

    fn edit(&self, path: &str, from: &str, to: &str) {
        let full = self.path().join(path);
        let text = std::fs::read_to_string(&full).unwrap();
        assert!(text.contains(from), "{path}: no `{from}`");
        std::fs::write(full, text.replacen(from, to, 1)).unwrap();
    }

    fn commit(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "base"]);
    }

    fn diff(&self, format: &str) -> (Option<i32>, String) {
        let out = support::deployctl()
            .current_dir(self.path())
            .args(["diff", "--base", "main", "--format", format])
            .env("NO_COLOR", "1")
            .env("HOME", "/nonexistent")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    }

    /// The markdown and the JSON, snapshotted; the JSON parsed; the exit code.
    fn review(&self, name: &str) -> (Option<i32>, Value) {
        let (code, markdown) = self.diff("markdown");
        let (json_code, json) = self.diff("json");
        assert_eq!(code, json_code);
        insta::assert_snapshot!(format!("{name}_markdown"), markdown);
        insta::assert_snapshot!(format!("{name}_json"), json);
        (code, serde_json::from_str(&json).unwrap())
    }
}

/// A 72B model on five A100s that `hosts/a100x5.toml` records.
fn tensor_repo() -> Repo {
    let repo = Repo::new();
    repo.copy(
        "qwen1.5-72b-tensor-5xa100/inventory.toml",
        "hosts/a100x5.toml",
    );
    repo.copy("qwen1.5-72b-tensor-5xa100/deploy.toml", "chat/deploy.toml");
    let text = std::fs::read_to_string(repo.path().join("chat/deploy.toml")).unwrap();
    repo.write(
        "chat/deploy.toml",
        &format!("{text}\n[devices.expect]\nhost = \"a100x5\"\n"),
    );
    repo.commit();
    repo
}

fn change<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("{path}: {report:#}"))
}

#[test]
fn a_batch_size_that_no_longer_fits_fails_the_review() {
    let repo = tensor_repo();
    repo.edit(
        "chat/deploy.toml",
        "max_batch_size = 4",
        "max_batch_size = 8",
    );
    let (code, report) = repo.review("batch_size");
    assert_eq!(code, Some(3));
    let c = change(&report, "chat/deploy.toml");
    assert_eq!(c["status"], "changed");
    assert_eq!(c["stopped_fitting"], true);
    assert_eq!(c["before"]["max_batch_size"], 4);
    assert_eq!(c["after"]["max_batch_size"], 8);
    assert_eq!(c["launch_changed"], true);
    let d = &c["devices"][0];
    assert!(d["total_change"].as_i64().unwrap() > 0);
    assert_eq!(
        c["findings_added"][0]["code"],
        "deployctl::plan::kv_cache_too_large"
    );
    // A growth within the limit passes, unless past --max-growth.
    repo.edit(
        "chat/deploy.toml",
        "max_batch_size = 8",
        "max_batch_size = 5",
    );
    let (code, _) = repo.diff("json");
    assert_eq!(code, Some(0));
    let out = support::deployctl()
        .current_dir(repo.path())
        .args(["diff", "--base", "main", "--max-growth", "5%"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn a_base_file_change_reaches_every_overlay_that_extends_it() {
    let repo = Repo::new();
    for file in [
        "gitops/base.toml",
        "gitops/staging/deploy.toml",
        "gitops/production/deploy.toml",
    ] {
        repo.copy(file, file.trim_start_matches("gitops/"));
    }
    repo.copy("gitops/staging/inventory.toml", "hosts/workstation.toml");
    repo.copy("gitops/production/inventory.toml", "hosts/h100x4.toml");
    for (overlay, host) in [("staging", "workstation"), ("production", "h100x4")] {
        let file = format!("{overlay}/deploy.toml");
        let text = std::fs::read_to_string(repo.path().join(&file)).unwrap();
        if text.contains("[devices.expect]") {
            repo.edit(
                &file,
                "[devices.expect]",
                &format!("[devices.expect]\nhost = \"{host}\""),
            );
        } else {
            repo.write(
                &file,
                &format!("{text}\n[devices.expect]\nhost = \"{host}\"\n"),
            );
        }
    }
    repo.commit();
    let base = std::fs::read_to_string(repo.path().join("base.toml")).unwrap();
    let line = base
        .lines()
        .find(|l| l.starts_with("max_seq_len"))
        .expect("the base sets max_seq_len")
        .to_owned();
    repo.edit("base.toml", &line, "max_seq_len = 4096");
    let (code, report) = repo.review("base_file");
    let paths: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    // Production sets its own context; staging takes the base's.
    assert_eq!(
        paths,
        ["production/deploy.toml", "staging/deploy.toml"],
        "{report:#}"
    );
    assert_eq!(
        change(&report, "staging/deploy.toml")["after"]["max_seq_len"],
        4096
    );
    assert_eq!(
        change(&report, "production/deploy.toml")["after"]["max_seq_len"],
        32768
    );
    assert_eq!(code, Some(0), "{report:#}");
}

#[test]
fn a_new_deployment_that_over_commits_a_shared_gpu_fails_all_on_it() {
    let repo = Repo::new();
    for file in [
        "gitops/hosts/gpu-box-3.toml",
        "gitops/shared/chat/deploy.toml",
        "gitops/shared/vision/deploy.toml",
    ] {
        repo.copy(file, file.trim_start_matches("gitops/"));
    }
    repo.commit();
    repo.copy(
        "gitops/shared/vision/deploy.toml",
        "shared/batch/deploy.toml",
    );
    repo.edit(
        "shared/batch/deploy.toml",
        "name = \"qwen2.5-vl-3b\"",
        "name = \"batch\"",
    );
    repo.edit(
        "shared/batch/deploy.toml",
        "max_memory = \"45GiB\"",
        "max_memory = \"50GiB\"",
    );
    repo.edit(
        "shared/batch/deploy.toml",
        "max_seq_len = 16384",
        "max_seq_len = \"auto\"",
    );
    let (code, report) = repo.review("over_commit");
    assert_eq!(code, Some(3));
    assert_eq!(report["summary"]["added"], 1);
    assert_eq!(report["summary"]["stopped_fitting"], 3);
    for path in [
        "shared/batch/deploy.toml",
        "shared/chat/deploy.toml",
        "shared/vision/deploy.toml",
    ] {
        let c = change(&report, path);
        let added = &c["findings_added"][0];
        assert_eq!(
            added["code"], "deployctl::plan::host_over_committed",
            "{path}"
        );
        let message = added["message"].as_str().unwrap();
        assert!(
            message.contains("`shared/batch/deploy.toml` plans 50.00 GiB"),
            "{message}"
        );
        assert_eq!(added["line"], Value::Null, "compared without the line");
    }
    // The annotation is on the line that places it on the host.
    let out = support::deployctl()
        .current_dir(repo.path())
        .args(["diff", "--base", "main", "--format", "github"])
        .env("GITHUB_STEP_SUMMARY", repo.path().join("summary.md"))
        .output()
        .unwrap();
    let annotations = String::from_utf8(out.stdout).unwrap();
    assert!(
        annotations.contains("::error file=shared/batch/deploy.toml,line=18,"),
        "{annotations}"
    );
    let summary = std::fs::read_to_string(repo.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("### deployctl diff"), "{summary}");
}

#[test]
fn a_rename_is_one_change_not_a_removal_and_an_addition() {
    let repo = tensor_repo();
    repo.git(&["mv", "chat", "assistant"]);
    let (code, report) = repo.review("rename");
    assert_eq!(code, Some(0));
    let c = change(&report, "assistant/deploy.toml");
    assert_eq!(c["status"], "renamed");
    assert_eq!(c["from"], "chat/deploy.toml");
    assert_eq!(c["launch_changed"], false);
    assert_eq!(report["summary"]["removed"], 0);
    assert_eq!(report["summary"]["added"], 0);
}

#[test]
fn a_deletion_is_listed_and_passes() {
    let repo = tensor_repo();
    std::fs::remove_file(repo.path().join("chat/deploy.toml")).unwrap();
    repo.write("README.md", "nothing deployed\n");
    let (code, report) = repo.review("deletion");
    assert_eq!(code, Some(0));
    let c = change(&report, "chat/deploy.toml");
    assert_eq!(c["status"], "removed");
    assert!(c.get("after").is_none());
}

#[test]
fn bad_revisions_and_places_are_usage_errors() {
    let repo = tensor_repo();
    let run = |dir: &Path, args: &[&str]| {
        let out = support::deployctl()
            .current_dir(dir)
            .arg("diff")
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(repo.path(), &["--base", "no-such-branch"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`no-such-branch` names no commit"),
        "{stderr}"
    );
    let outside = tempfile::tempdir().unwrap();
    let (code, stderr) = run(outside.path(), &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("error: "), "{stderr}");
    let (code, stderr) = run(repo.path(), &[outside.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is outside the repository"), "{stderr}");
    let _: PathBuf = repo.path().to_path_buf();
}
