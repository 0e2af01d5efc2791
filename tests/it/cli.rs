//! The real binary, run as a user would, with its output snapshotted.

use std::process::{Command, Stdio};

use insta_cmd::assert_cmd_snapshot;

use crate::support;

/// `deployctl` run from `tests/fixtures/cli`, with no inherited overrides.
fn deployctl() -> Command {
    let mut cmd = support::deployctl();
    cmd.current_dir(support::fixtures().join("cli"))
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn help() {
    assert_cmd_snapshot!("help", deployctl().arg("--help"));
    assert_cmd_snapshot!("help_validate", deployctl().args(["validate", "--help"]));
    assert_cmd_snapshot!("help_config", deployctl().args(["config", "--help"]));
    assert_cmd_snapshot!("help_schema", deployctl().args(["schema", "--help"]));
    assert_cmd_snapshot!("help_init", deployctl().args(["init", "--help"]));
    for command in [
        "plan",
        "render",
        "apply",
        "gpus",
        "completions",
        "man",
        "diff",
    ] {
        assert_cmd_snapshot!(
            format!("help_{command}"),
            deployctl().args([command, "--help"])
        );
    }
}

/// clap's own checks of the command definitions (conflicting flags, bad
/// defaults), which otherwise run only when a flag is used.
#[test]
fn the_command_line_is_consistent() {
    use clap::CommandFactory as _;
    deployctl::cli::Cli::command().debug_assert();
}

#[test]
fn validate_a_valid_tree() {
    assert_cmd_snapshot!(deployctl().args(["validate", "gitops"]));
}

#[test]
fn validate_reports_every_problem_and_exits_1() {
    assert_cmd_snapshot!(deployctl().args(["validate", "broken/deploy.toml"]));
}

#[test]
fn validate_json() {
    assert_cmd_snapshot!(deployctl().args(["validate", "--format", "json", "."]));
}

#[test]
fn validate_github_annotations() {
    assert_cmd_snapshot!(deployctl().args(["validate", "--format", "github", "."]));
}

#[test]
fn warnings_pass_unless_denied() {
    let status = deployctl()
        .args(["validate", "broken/public.toml"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_cmd_snapshot!(deployctl().args(["validate", "--deny-warnings", "broken/public.toml"]));
}

#[test]
fn environment_and_set_override_the_files() {
    assert_cmd_snapshot!(
        deployctl()
            .args(["config", "--show-origin", "gitops/staging/deploy.toml"])
            .args(["--set", "precision.quantization=q4k"])
            .env("DEPLOYCTL_SERVER__PORT", "9100")
            .env("DEPLOYCTL_API_KEY", "not an override: no table")
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    assert_cmd_snapshot!(
        deployctl()
            .args(["validate", "gitops/staging/deploy.toml"])
            .env("DEPLOYCTL_DEVICES__MAX_MEMORY", "15GB 15GB")
            .env("DEPLOYCTL_SERVR__PORT", "80")
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_cmd_snapshot!(
        "missing_path",
        deployctl().args(["validate", "no/such/dir"])
    );
    assert_cmd_snapshot!(
        "no_manifests",
        deployctl().args(["validate", "gitops/configs"])
    );
    assert_cmd_snapshot!(
        "unknown_flag",
        deployctl().args(["validate", "--frmat", "json"])
    );
}

#[test]
fn schema_prints_the_committed_schema() {
    let printed = support::stdout_of(deployctl().arg("schema"));
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/deploy.schema.json"),
    )
    .unwrap();
    assert_eq!(printed, committed);
}

/// `deployctl` run in `dir`, with a Hugging Face cache that holds nothing, so
/// hub ids resolve from the built-in catalog on every machine.
fn deployctl_in(dir: &std::path::Path) -> Command {
    let mut cmd = deployctl();
    cmd.current_dir(dir);
    cmd.env("HF_HUB_CACHE", "/nonexistent/hf-cache");
    cmd
}

/// The names in `dir`, to show that a failed `init` leaves nothing behind.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn init_writes_a_manifest_that_validates_and_plans_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let init = [
        "init",
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--gpus",
        "4x24GiB",
    ];
    assert_cmd_snapshot!("init_catalog_model", deployctl_in(dir.path()).args(init));
    let written = std::fs::read_to_string(dir.path().join("deploy.toml")).unwrap();
    insta::assert_snapshot!("init_catalog_model_manifest", written);
    assert_eq!(
        names_in(dir.path()),
        ["deploy.toml"],
        "no scratch file left"
    );

    for args in [
        vec!["validate", "deploy.toml"],
        vec!["validate", "--deny-warnings", "deploy.toml"],
        vec!["plan", "deploy.toml"],
        vec!["plan", "deploy.toml", "--gpus", "4x24GiB"],
    ] {
        assert_succeeds(dir.path(), &args);
    }

    // `-o -` prints the same manifest.
    let printed = support::stdout_of(deployctl_in(dir.path()).args(init).args(["-o", "-"]));
    assert_eq!(printed, written);
}

/// `deployctl ARGS…` in `dir` exits 0.
fn assert_succeeds(dir: &std::path::Path, args: &[&str]) {
    support::stdout_of(deployctl_in(dir).args(args));
}

/// `deployctl init --model MODEL --gpus GPUS` in `dir`.
fn init_in(dir: &std::path::Path, model: &str, gpus: &str) -> Command {
    let mut cmd = deployctl_in(dir);
    cmd.args(["init", "--model", model, "--gpus", gpus]);
    cmd
}

#[test]
fn init_shortens_a_context_that_cannot_fit_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = init_in(dir.path(), "Qwen/Qwen2.5-VL-3B-Instruct", "4x16GB")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("whole context (128000 tokens) does not fit"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(dir.path().join("deploy.toml")).unwrap();
    let line = written
        .lines()
        .find(|l| l.starts_with("max_seq_len = "))
        .unwrap();
    assert!(line.contains("the model's context is 128000"), "{line}");
    let tokens: u64 = line["max_seq_len = ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(tokens.is_power_of_two() && tokens < 128_000, "{line}");
    // `16GB` is written as the user wrote it, not in bytes.
    assert!(written.contains("memory = \"16GB\""), "{written}");
    for args in [["validate", "deploy.toml"], ["plan", "deploy.toml"]] {
        assert_succeeds(dir.path(), &args);
    }
}

#[test]
fn init_quantizes_a_model_that_does_not_fit_and_plans_a_vision_model() {
    let dir = tempfile::tempdir().unwrap();
    for (model, gpus, file) in [
        (
            "meta-llama/Llama-3.1-70B-Instruct",
            "A100-80GB",
            "llama.toml",
        ),
        ("Qwen/Qwen2.5-VL-7B-Instruct", "24GiB", "vl.toml"),
    ] {
        support::stdout_of(init_in(dir.path(), model, gpus).args([
            "-o",
            file,
            "--max-seq-len",
            "8192",
        ]));
        for args in [vec!["validate", file], vec!["plan", file]] {
            assert_succeeds(dir.path(), &args);
        }
    }
    let llama = std::fs::read_to_string(dir.path().join("llama.toml")).unwrap();
    assert!(llama.contains("\nquantization = \"q"), "{llama}");
    let vl = std::fs::read_to_string(dir.path().join("vl.toml")).unwrap();
    assert!(vl.contains("\nmax_images = 1"), "{vl}");
}

#[test]
fn init_writes_local_paths_relative_to_the_manifest_and_mixed_gpus_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("models/my-qwen");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("catalog/Qwen/Qwen2.5-7B-Instruct/config.json"),
        model.join("config.json"),
    )
    .unwrap();
    let mixed = "A100-80GB,RTX4090";
    support::stdout_of(
        init_in(dir.path(), "models/my-qwen", mixed).args(["-o", "conf/deploy.toml"]),
    );
    let written = std::fs::read_to_string(dir.path().join("conf/deploy.toml")).unwrap();
    assert!(
        written.contains("\nsource = \"../models/my-qwen\""),
        "{written}"
    );
    // One `memory` cannot describe mixed GPUs: it is left out, and plans name the GPUs.
    assert!(written.contains("\n# memory = "), "{written}");
    for args in [
        vec!["validate", "conf/deploy.toml"],
        vec!["plan", "conf/deploy.toml", "--gpus", mixed],
    ] {
        assert_succeeds(dir.path(), &args);
    }
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.toml");
    std::fs::write(&path, "keep me\n").unwrap();
    let init = [
        "init",
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--gpus",
        "4x24GiB",
    ];
    assert_cmd_snapshot!(
        "init_refuses_to_overwrite",
        deployctl_in(dir.path()).args(init)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n");

    support::stdout_of(deployctl_in(dir.path()).args(init).arg("--force"));
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("# Qwen/")
    );
    assert_eq!(names_in(dir.path()), ["deploy.toml"]);
}

#[test]
fn init_rejects_bad_input_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = deployctl_in(dir.path());
        cmd.arg("init").args(args);
        cmd
    };
    assert_cmd_snapshot!(
        "init_bad_gpus",
        run(&["--model", "Qwen/Qwen2.5-7B-Instruct", "--gpus", "4xB9000"])
    );
    assert_cmd_snapshot!(
        "init_unknown_model",
        run(&["--model", "nobody/nothing", "--gpus", "4x24GiB"])
    );
    assert_cmd_snapshot!(
        "init_model_without_owner",
        run(&["--model", "qwen2.5-7b-instruct", "--gpus", "4x24GiB"])
    );
    assert_cmd_snapshot!(
        "init_unsupported_model",
        run(&["--model", "THUDM/cogvlm-chat-hf", "--gpus", "4x24GiB"])
    );
    assert_cmd_snapshot!("init_without_model", run(&["--gpus", "4x24GiB"]));
    assert_cmd_snapshot!(
        "init_into_a_missing_directory",
        run(&[
            "--model",
            "Qwen/Qwen2.5-7B-Instruct",
            "-o",
            "no/such/deploy.toml"
        ])
    );
    assert_cmd_snapshot!(
        "init_too_big_to_fit",
        run(&["--model", "Qwen/Qwen2.5-72B-Instruct", "--gpus", "16GiB"])
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

/// `/proc` refuses new files even to root, so this holds wherever CI runs.
#[cfg(target_os = "linux")]
#[test]
fn init_into_an_unwritable_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = init_in(dir.path(), "Qwen/Qwen2.5-7B-Instruct", "24GiB")
        .args(["-o", "/proc/deploy.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot write in `/proc`"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = support::stdout_of(deployctl().args(["completions", shell]));
        assert!(script.contains("deployctl"), "{shell}");
        assert!(script.contains("init"), "{shell}: no `init` subcommand");
    }
    let out = deployctl().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_prints_one_roff_page() {
    let page = support::stdout_of(deployctl().arg("man"));
    assert!(page.starts_with(".TH deployctl 1"), "{}", &page[..60]);
    assert!(page.contains(".SS \"deployctl init\""));
}

/// A reader that stops early (`deployctl plan … | head`) ends the command
/// quietly, exit 0, where `print!` would panic on the closed pipe.
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let example = support::examples().join("qwen2.5-vl-3b-4x15gb");
    let plan = ["plan", "deploy.toml", "--inventory", "inventory.toml"];
    let runs: [(&std::path::Path, &[&str]); 5] = [
        (&example, &plan),
        (
            &example,
            &[
                "plan",
                "deploy.toml",
                "--inventory",
                "inventory.toml",
                "--format",
                "json",
            ],
        ),
        (&example, &["config", "--show-origin", "deploy.toml"]),
        (&example, &["schema"]),
        (&example, &["man"]),
    ];
    for (dir, args) in runs {
        let mut child = deployctl_in(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Whatever shape a key takes under `server.api_key`, in a file or an
/// override, no output format shows it: not in a message, a label, a help or
/// a source snippet.
#[test]
fn an_api_key_in_any_shape_is_never_printed() {
    let secret = "sk-live-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let head = "version = 1\n[model]\nsource = \"Qwen/Qwen2.5-7B-Instruct\"\n";
    let files = [
        format!("{head}[server]\napi_key = \"{secret}\"\n"),
        format!("{head}[server]\napi_key = {{ literal = \"{secret}\" }}\n"),
        format!("{head}[server]\napi_key = [\"{secret}\"]\n"),
        format!("{head}[server]\napi_key = {{ env = \"{secret}\" }}\n"),
        format!("{head}[server.api_key]\nvalue = \"{secret}\"\n"),
        format!("{head}[server]\nport = 8080\napi_key = \"{secret}\"\nhost = 7\n"),
    ];
    let wrapped = format!("server.api_key={secret}\nsecond line");
    let set = format!("server.api_key={secret}");
    let mut runs: Vec<(String, Vec<String>)> = files.iter().map(|f| (f.clone(), vec![])).collect();
    runs.push((head.to_owned(), vec!["--set".into(), set]));
    runs.push((head.to_owned(), vec!["--set".into(), wrapped]));
    for (i, (text, args)) in runs.iter().enumerate() {
        let path = dir.path().join(format!("d{i}.toml"));
        std::fs::write(&path, text).unwrap();
        for format in ["human", "json", "github"] {
            let out = deployctl()
                .arg("validate")
                .arg(&path)
                .args(["--format", format])
                .args(args)
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "{text} {args:?}: {all}");
            assert!(
                !all.contains("sk-live"),
                "{text} {args:?} --format {format}:\n{all}"
            );
        }
    }
}

/// Hostile files named by a manifest: a FIFO (which would block a read, and
/// even an open, for ever), a device like /dev/zero (read until memory runs
/// out) and a directory. Each is a diagnostic that says what the path is,
/// within seconds.
#[cfg(unix)]
#[test]
fn fifos_devices_and_directories_named_as_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let head = "version = 1\n[model]\nsource = \"Qwen/Qwen2.5-7B-Instruct\"\n";
    let cases = [
        (format!("extends = [\"pipe\"]\n{head}"), "is a FIFO"),
        (format!("{head}config = \"pipe\"\n"), "is a FIFO"),
        (format!("{head}config = \"/dev/zero\"\n"), "is a device"),
        (format!("{head}tokenizer = \"/dev/zero\"\n"), "is a device"),
        (
            format!("{head}[parallelism]\nstrategy = \"manual\"\nmap_file = \"/dev/zero\"\n"),
            "is a device",
        ),
        (format!("{head}config = \".\"\n"), "a folder"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("d{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let mut child = deployctl()
            .args(["plan", "--gpus", "1x80GiB"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{text}: still running after 10 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{text}: expected `{expected}` in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `validate` in CI plans against `[devices.expect]`, not against the
/// runner's own GPUs: a busy GPU on the machine (here a recorded one standing
/// in for NVML) fails `plan` and `validate --live`, but not `validate`.
#[test]
fn validate_ignores_the_runner_s_gpus_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deploy.toml"),
        "version = 1\nname = \"qwen\"\n[model]\nsource = \"Qwen/Qwen2.5-7B-Instruct\"\n\
         [workload]\nmax_seq_len = 4096\n[devices]\ngpus = [0]\n[devices.expect]\ncount = 2\nmemory = \"24GiB\"\n",
    )
    .unwrap();
    let busy = support::fixtures().join("inventories/busy-first-gpu.toml");
    let run = |args: &[&str]| {
        let out = deployctl()
            .current_dir(dir.path())
            .args(args)
            .env("DEPLOYCTL_LIVE_INVENTORY", &busy)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["validate", "deploy.toml"]);
    assert_eq!(code, Some(0), "{stderr}");
    for args in [
        &["validate", "--live", "deploy.toml"][..],
        &["plan", "deploy.toml"],
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("GPU 0 (NVIDIA GeForce RTX 4090) has 7.20 GiB free"),
            "{args:?}: {stderr}"
        );
    }
}

/// Each outcome has its own exit code, the same for every command: 0 valid,
/// 1 invalid, 2 usage, 3 valid but does not fit. `apply`'s own, 4 (a failure
/// at run time) and 5 (requests cut at the end of the drain), are tested in
/// `tests/it/apply.rs`.
#[test]
fn each_outcome_has_its_exit_code() {
    let mixtral = support::fixtures().join("scenarios/mixtral-8x7b-one-24gb/deploy.toml");
    let mixtral = mixtral.to_str().unwrap();
    for (args, code) in [
        (vec!["validate", "gitops"], 0),
        (vec!["validate", "broken/deploy.toml"], 1),
        (vec!["validate", "no/such/path"], 2),
        (vec!["plan", "--bogus-flag", "x.toml"], 2),
        (vec!["plan", "--gpus", "1x24GiB", mixtral], 3),
        (vec!["validate", "--gpus", "1x24GiB", mixtral], 3),
        (vec!["plan", "--gpus", "4x24GiB", mixtral], 0),
    ] {
        let out = deployctl().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
