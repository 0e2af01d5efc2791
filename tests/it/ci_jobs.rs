//! The pull-request review jobs of docs/ci.md, run as written: the GitHub
//! Actions step `Review the plans` and the GitLab job's `script`, in a scratch
//! repository whose change stops a plan fitting, with `gh` and `curl`
//! replaced by recorders (no network here).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t.invalid")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A clone whose `origin/main` has a 72B model that fits five A100s, and
/// whose checked-out branch doubles its batch, which does not.
fn pull_request(root: &Path) -> PathBuf {
    let upstream = root.join("upstream");
    std::fs::create_dir_all(upstream.join("hosts")).unwrap();
    std::fs::create_dir_all(upstream.join("chat")).unwrap();
    let example = support::examples().join("qwen1.5-72b-tensor-5xa100");
    std::fs::copy(
        example.join("inventory.toml"),
        upstream.join("hosts/a100x5.toml"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(example.join("deploy.toml")).unwrap();
    std::fs::write(
        upstream.join("chat/deploy.toml"),
        format!("{manifest}\n[devices.expect]\nhost = \"a100x5\"\n"),
    )
    .unwrap();
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(&upstream, &["add", "-A"]);
    git(&upstream, &["commit", "-q", "-m", "base"]);
    let work = root.join("work");
    git(root, &["clone", "-q", "upstream", "work"]);
    git(&work, &["checkout", "-q", "-b", "bigger-batch"]);
    let file = work.join("chat/deploy.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("max_batch_size = 4", "max_batch_size = 8"),
    )
    .unwrap();
    git(&work, &["commit", "-q", "-am", "bigger batch"]);
    work
}

/// Recorders for `gh` and `curl`: each appends its arguments, and the file
/// it was given to post, to `$RECORD`.
fn fake_tools(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tools = [
        (
            "gh",
            "#!/bin/sh\necho \"gh $*\" >> \"$RECORD\"\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --body-file ]; then cat \"$2\" >> \"$RECORD\"; fi\n  shift\ndone\n",
        ),
        (
            "curl",
            "#!/bin/sh\necho \"curl $*\" >> \"$RECORD\"\nfor a in \"$@\"; do\n  case \"$a\" in body@*) cat \"${a#body@}\" >> \"$RECORD\";; esac\ndone\n",
        ),
    ];
    for (name, script) in tools {
        let path = bin.join(name);
        std::fs::write(&path, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    bin
}

fn ci_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).unwrap()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The `run: |` block of the step named `step`, dedented.
fn github_step(doc: &str, step: &str) -> String {
    let lines: Vec<&str> = doc.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == format!("- name: {step}"))
        .unwrap_or_else(|| panic!("docs/ci.md has no step `{step}`"));
    let run = (at..lines.len())
        .find(|&i| lines[i].trim() == "run: |")
        .expect("a `run: |` block");
    let body: Vec<&str> = lines[run + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > indent(lines[run]))
        .copied()
        .collect();
    let depth = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap();
    body.iter()
        .map(|l| l.get(depth..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `script:` items of the GitLab job `job`, as one shell script.
fn gitlab_script(doc: &str, job: &str) -> String {
    let lines: Vec<&str> = doc.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == format!("{job}:"))
        .unwrap_or_else(|| panic!("docs/ci.md has no job `{job}`"));
    let script = (at..lines.len())
        .find(|&i| lines[i] == "  script:")
        .expect("a `script:` list");
    lines[script + 1..]
        .iter()
        .take_while(|l| l.starts_with("    - "))
        .map(|l| {
            let item = &l["    - ".len()..];
            // A single-quoted YAML scalar: '' is one quote.
            match item.strip_prefix('\'').and_then(|i| i.strip_suffix('\'')) {
                Some(quoted) => quoted.replace("''", "'"),
                None => item.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(work: &Path, bin: &Path, script: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let record = work.join("../record.txt");
    let _ = std::fs::remove_file(&record);
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        support::deployctl_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The scripts run `deployctl`: the same scrubbed environment as a test's.
    let out = support::scrub(&mut Command::new("bash"))
        .args(["-eo", "pipefail", "-c", script])
        .current_dir(work)
        .env("PATH", path)
        .env("RECORD", &record)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let recorded = std::fs::read_to_string(&record).unwrap_or_default();
    (out.status.code(), recorded)
}

#[test]
fn the_github_review_step_comments_and_fails_a_change_that_stops_fitting() {
    let root = tempfile::tempdir().unwrap();
    let work = pull_request(root.path());
    let bin = fake_tools(root.path());
    let summary = root.path().join("summary.md");
    let script = github_step(&ci_md(), "Review the plans");
    let (code, recorded) = run(
        &work,
        &bin,
        &script,
        &[
            ("GITHUB_BASE_REF", "main"),
            ("PR", "7"),
            ("GH_TOKEN", "token"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(3), "{recorded}");
    assert!(
        recorded.starts_with("gh pr comment 7 --body-file deployctl-diff.md --edit-last\n"),
        "{recorded}"
    );
    assert!(recorded.contains("### deployctl diff"), "{recorded}");
    assert!(
        recorded.contains("| `chat/deploy.toml` | changed | ❌ fits → does not fit |"),
        "{recorded}"
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("`max_batch_size` 4 → 8"), "{summary}");
}

#[test]
fn the_gitlab_review_job_posts_a_note_and_fails_a_change_that_stops_fitting() {
    let root = tempfile::tempdir().unwrap();
    let work = pull_request(root.path());
    let bin = fake_tools(root.path());
    let script = gitlab_script(&ci_md(), "deployctl-diff");
    let (code, recorded) = run(
        &work,
        &bin,
        &script,
        &[
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_API_V4_URL", "https://gitlab.invalid/api/v4"),
            ("CI_PROJECT_ID", "12"),
            ("CI_MERGE_REQUEST_IID", "34"),
            ("DEPLOYCTL_BOT_TOKEN", "secret"),
        ],
    );
    assert_eq!(code, Some(3), "{recorded}");
    assert!(
        recorded.contains("https://gitlab.invalid/api/v4/projects/12/merge_requests/34/notes"),
        "{recorded}"
    );
    assert!(recorded.contains("PRIVATE-TOKEN: secret"), "{recorded}");
    assert!(recorded.contains("### deployctl diff"), "{recorded}");
}
