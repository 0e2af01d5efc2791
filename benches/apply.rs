//! Benchmark: the quickstart model (SmolLM2-135M-Instruct, Q4_1 GGUF, CPU)
//! through `deployctl apply`, beside a bare mistral.rs builder program loading
//! the same file (this bench's own binary, started again as a child, so both
//! pay for starting a process). Prints time to ready and generation speed for
//! both; it is not a pass/fail test. Run: `cargo bench --bench apply --profile dev` (fetches the
//! model once; the dev profile optimises every dependency, mistral.rs included,
//! and skips the release build's link-time optimisation of all of mistral.rs).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mistralrs::{GgufModelBuilder, RequestBuilder, TextMessageRole, TextMessages, TokenSource};

const PROMPT: &str = "Write three sentences about the sea.";
const MAX_TOKENS: usize = 96;
const RUNS: usize = 9;

fn model() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-demo-model");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Set in the bench's own child process, which runs the bare builder program.
const BARE: &str = "DEPLOYCTL_BENCH_BARE_MODEL";

/// The bare builder program, run in a process of its own as a user's program
/// would be: prints its load time once the model is built, then the reply's
/// figures (see `Generation`), a line each.
fn bare_program(model: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let start = Instant::now();
        let m = GgufModelBuilder::new(
            model.parent().unwrap().display(),
            vec![model.file_name().unwrap().to_string_lossy()],
        )
        .with_token_source(TokenSource::None)
        .with_force_cpu()
        .build()
        .await
        .unwrap();
        println!("{}", start.elapsed().as_secs_f64());
        println!("{}", cpu_seconds("self"));
        let request =
            RequestBuilder::from(TextMessages::new().add_message(TextMessageRole::User, PROMPT))
                .set_sampler_max_len(MAX_TOKENS)
                .set_sampler_temperature(0.0);
        let start = Instant::now();
        let usage = m.send_chat_request(request).await.unwrap().usage;
        let tokens = usage.completion_tokens as f64;
        println!("{tokens}");
        println!("{}", tokens / start.elapsed().as_secs_f64());
        println!("{}", usage.avg_compl_tok_per_sec);
    });
}

/// Ready (from starting the process to the model built), load time inside the
/// process, and generation of the bare builder program.
fn bare(model: &Path) -> Run {
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(BARE, model)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap().parse::<f64>().unwrap();
    let load = next();
    let ready = start.elapsed().as_secs_f64();
    let cpu = next();
    let generation = Generation {
        tokens: next(),
        speed: next(),
        decode: next(),
    };
    assert!(child.wait().unwrap().success());
    Run {
        ready,
        load,
        cpu,
        generation,
    }
}

/// Ready (from starting `deployctl apply` to its ready line), the load time it
/// reports in `/deployctl/status`, and generation over HTTP.
fn through_deployctl(model: &Path) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            "version = 1\nname = \"bench\"\n[model]\nsource = {:?}\n[devices]\ngpus = []\n[server]\nport = {port}\n",
            model.display().to_string()
        ),
    )
    .unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_deployctl"));
    let start = Instant::now();
    let mut child = Command::new(binary)
        .current_dir(dir.path())
        .args(["apply", "deploy.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the ready line rather than poll `/health`: polling every few
    // milliseconds would take CPU from the load on a 2-core machine, and the
    // bare program is not polled either. The line is printed once the routes
    // serve, so `/health` is checked once after it.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.starts_with("ready: "))
        .expect("apply exited before it was ready");
    let ready = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&child.id().to_string());
    std::thread::spawn(move || lines.for_each(drop));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let health = agent
        .get(&format!("http://127.0.0.1:{port}/health"))
        .call()
        .unwrap();
    assert_eq!(health.status(), 200);
    let status: serde_json::Value = serde_json::from_str(
        &agent
            .get(&format!("http://127.0.0.1:{port}/deployctl/status"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let load = status["load_seconds"].as_f64().unwrap();
    let body = serde_json::json!({
        "model": "bench",
        "messages": [{ "role": "user", "content": PROMPT }],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0
    });
    let start = Instant::now();
    let mut response = agent
        .post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .content_type("application/json")
        .send(body.to_string())
        .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let usage = |key: &str| reply["usage"][key].as_f64().unwrap();
    let generation = Generation {
        tokens: usage("completion_tokens"),
        speed: usage("completion_tokens") / start.elapsed().as_secs_f64(),
        decode: usage("avg_compl_tok_per_sec"),
    };
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    Run {
        ready,
        load,
        cpu,
        generation,
    }
}

/// One reply of at most `MAX_TOKENS` tokens.
struct Generation {
    tokens: f64,
    /// Tokens over the request's wall time, prompt included.
    speed: f64,
    /// Decoding alone, as mistral.rs measures it (`usage.avg_compl_tok_per_sec`).
    decode: f64,
}

struct Run {
    ready: f64,
    load: f64,
    /// CPU time the process had used when ready: its work, which the
    /// machine's other tenants slow down less than they slow the clock.
    cpu: f64,
    generation: Generation,
}

/// User and system CPU seconds of a process so far, from `/proc/PID/stat`
/// (in clock ticks, 100 a second on Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(f64::NAN))
        .collect();
    // Fields 14 and 15 of the line; the first after the name is field 3.
    match fields.get(11..13) {
        Some([user, system]) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// Medians of each figure.
fn medians(runs: &[Run]) -> Run {
    let of = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    Run {
        ready: of(|r| r.ready),
        load: of(|r| r.load),
        cpu: of(|r| r.cpu),
        generation: Generation {
            tokens: of(|r| r.generation.tokens),
            speed: of(|r| r.generation.speed),
            decode: of(|r| r.generation.decode),
        },
    }
}

fn main() {
    if let Some(model) = std::env::var_os(BARE) {
        return bare_program(Path::new(&model));
    }
    let model = model();
    let (mut bare_runs, mut ours) = (vec![], vec![]);
    // Alternate, so a change in the machine's load falls on both alike.
    for run in 1..=RUNS {
        let (b, o) = (bare(&model), through_deployctl(&model));
        println!(
            "run {run}/{RUNS}: ready in {:.2} s bare, {:.2} s through deployctl; \
             decode {:.1} and {:.1} tokens/s",
            b.ready, o.ready, b.generation.decode, o.generation.decode
        );
        bare_runs.push(b);
        ours.push(o);
    }
    let spread = |runs: &[Run]| {
        let ready = runs.iter().map(|r| r.ready);
        let (min, max) = (
            ready.clone().fold(f64::MAX, f64::min),
            ready.fold(0.0, f64::max),
        );
        format!("{min:.2}-{max:.2} s")
    };
    let (b, o) = (medians(&bare_runs), medians(&ours));
    let outside = |runs: &[Run]| median(runs.iter().map(|r| r.ready - r.load).collect());
    // Runs i of each way ran back to back, so their difference cancels most of
    // the machine's drift.
    let paired = median(
        bare_runs
            .iter()
            .zip(&ours)
            .map(|(b, o)| o.ready - b.ready)
            .collect(),
    );
    println!(
        "quickstart model on {} cores, {RUNS} runs each way, alternating, {MAX_TOKENS} tokens max; medians:",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let row = |name: &str, r: &Run, runs: &[Run]| {
        let g = &r.generation;
        println!(
            "  {name:<26}{:>5.2} s {:>12} {:>6.2} s {:>6.2} s {:>6.2} s {:>7.0} {:>9.1} {:>7.1}",
            r.ready,
            spread(runs),
            r.load,
            outside(runs),
            r.cpu,
            g.tokens,
            g.speed,
            g.decode
        );
    };
    println!(
        "                             ready  ready range     load  outside      CPU  tokens  tokens/s  decode"
    );
    row("bare mistral.rs program", &b, &bare_runs);
    row("deployctl apply (HTTP)", &o, &ours);
    let change = |ours: f64, bare: f64| (ours / bare - 1.0) * 100.0;
    println!(
        "  deployctl's overhead: {:+.1} % time to ready ({:+.2} s, median of paired runs), \
         {:+.1} % CPU to ready, {:+.1} % tokens/s, {:+.1} % decode",
        change(o.ready, b.ready),
        paired,
        change(o.cpu, b.cpu),
        change(o.generation.speed, b.generation.speed),
        change(o.generation.decode, b.generation.decode)
    );
    println!("  ready: from starting the process to the model built (bare) or serving (deployctl)");
    println!(
        "  load: the model build inside the process; outside: ready less load, the work around it"
    );
    println!("  CPU: user and system time of the process when ready, all threads");
    println!("  tokens/s: over the request's wall time, prompt included; decode: mistral.rs's own");
}
