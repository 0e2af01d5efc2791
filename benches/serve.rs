//! Load benchmark: concurrent streaming clients against `deployctl apply`
//! and against a bare mistral.rs server (`mistralrs-server-core`'s router
//! with its defaults, served by axum: this bench's own binary, started again
//! as a child), both on the quickstart model on the CPU and both running 4
//! sequences at once. Every request has a prompt of its own, as real traffic
//! does. Prints requests per second, latency (p50, p99), time to first token
//! and peak resident memory for both, and their ratios; not a pass/fail test.
//!
//! Run: `cargo bench --bench serve --profile dev` (fetches the model once).
//! `DEPLOYCTL_BENCH_REQUESTS` sets the requests per server (default 24). A
//! third run serves the bare router with apply's engine settings (no prefix
//! cache on the CPU), so that the difference left is deployctl's HTTP layer.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
const MAX_TOKENS: u32 = 24;

/// Set in the bench's own child process, which runs the bare server.
const BARE: &str = "DEPLOYCTL_BENCH_BARE_SERVER";

fn model() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-demo-model");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The bare server: the model as mistral.rs's builder loads it, with the
/// same sequence limit, behind mistral.rs's own router.
fn bare_server(model: &Path, port: u16, prefix_cache: bool) {
    use mistralrs::core::MistralRsBuilder;
    use mistralrs::{AnyModelBuilder, GgufModelBuilder, TokenSource};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let builder = GgufModelBuilder::new(
            model.parent().unwrap().display(),
            vec![model.file_name().unwrap().to_string_lossy()],
        )
        .with_token_source(TokenSource::None)
        .with_force_cpu()
        .with_max_num_seqs(CLIENTS);
        let (pipeline, scheduler, config) = AnyModelBuilder::from(builder)
            .build_pipeline()
            .await
            .unwrap();
        // mistral.rs's engine defaults, as its own server takes them.
        let engine = config.engine_config;
        let mistralrs = MistralRsBuilder::new(pipeline, scheduler, false, None)
            .with_no_kv_cache(engine.no_kv_cache)
            .with_no_prefix_cache(engine.no_prefix_cache || !prefix_cache)
            .with_prefix_cache_n(engine.prefix_cache_n)
            .build()
            .await;
        let routes = mistralrs_server_core::mistralrs_server_router_builder::MistralRsServerRouterBuilder::new()
            .with_mistralrs(mistralrs)
            .build()
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("ready");
        axum::serve(listener, routes).await.unwrap();
    });
}

struct Server {
    child: Child,
    port: u16,
    model_name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bare(model: &Path, prefix_cache: bool) -> Server {
    let port = free_port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(BARE, format!("{}\n{port}\n{prefix_cache}", model.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    Server {
        child,
        port,
        model_name: "default",
        _dir: None,
    }
}

fn start_apply(model: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            "version = 1\nname = \"bench\"\n[model]\nsource = {:?}\n[workload]\nmax_batch_size = {CLIENTS}\n\
             max_seq_len = 512\n[devices]\ngpus = []\n[server]\nport = {port}\n",
            model.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deployctl"))
        .current_dir(dir.path())
        .args(["apply", "deploy.toml", "--drain", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.starts_with("ready: "))
        .expect("apply exited before it was ready");
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        port,
        model_name: "bench",
        _dir: Some(dir),
    }
}

/// One streamed request's figures.
struct Sample {
    latency: f64,
    first_token: f64,
    ok: bool,
}

fn stream(port: u16, model: &str, prompt: &str) -> Sample {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let body = serde_json::json!({
        "model": model, "max_tokens": MAX_TOKENS, "temperature": 0.0, "stream": true,
        "messages": [{"role": "user", "content": prompt}],
    });
    let start = Instant::now();
    let mut first_token = None;
    let mut seen = Vec::new();
    let ok = match agent
        .post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .content_type("application/json")
        .send(body.to_string())
    {
        Ok(mut response) if response.status() == 200 => {
            let mut reader = response.body_mut().as_reader();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
                if first_token.is_none() && seen.windows(11).any(|w| w == b"\"content\":\"") {
                    first_token = Some(start.elapsed().as_secs_f64());
                }
            }
            seen.windows(6).any(|w| w == b"[DONE]")
        }
        _ => false,
    };
    let latency = start.elapsed().as_secs_f64();
    Sample {
        latency,
        first_token: first_token.unwrap_or(latency),
        ok,
    }
}

/// Peak resident memory of a process (`VmHWM`), in MiB.
fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Figures {
    requests_per_second: f64,
    p50: f64,
    p99: f64,
    first_token_p50: f64,
    failed: usize,
    peak_mib: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `requests` distinct prompts from `CLIENTS` clients at once.
fn load(server: &Server, requests: usize, tag: &str) -> Figures {
    // One request first, unmeasured: both servers' first request warms up.
    let _ = stream(server.port, server.model_name, "Hello.");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let samples: Vec<Sample> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let next = next.clone();
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= requests {
                            return mine;
                        }
                        let prompt =
                            format!("Request {i} ({tag}): name a fact about the number {i}.");
                        mine.push(stream(server.port, server.model_name, &prompt));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let mut latency: Vec<f64> = samples.iter().map(|s| s.latency).collect();
    latency.sort_by(f64::total_cmp);
    let mut first: Vec<f64> = samples.iter().map(|s| s.first_token).collect();
    first.sort_by(f64::total_cmp);
    Figures {
        requests_per_second: samples.iter().filter(|s| s.ok).count() as f64 / wall,
        p50: percentile(&latency, 0.5),
        p99: percentile(&latency, 0.99),
        first_token_p50: percentile(&first, 0.5),
        failed: samples.iter().filter(|s| !s.ok).count(),
        peak_mib: peak_mib(server.child.id()),
    }
}

fn main() {
    if let Ok(spec) = std::env::var(BARE) {
        let parts: Vec<&str> = spec.split('\n').collect();
        bare_server(
            Path::new(parts[0]),
            parts[1].parse().unwrap(),
            parts[2] == "true",
        );
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is taken.
    let requests: usize = std::env::var("DEPLOYCTL_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let model = model();
    println!(
        "{requests} streamed chat requests of {MAX_TOKENS} tokens, {CLIENTS} clients at once, each prompt distinct; \
         {} on {} cores",
        model.file_name().unwrap().to_string_lossy(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let apply = {
        let server = start_apply(&model);
        load(&server, requests, "apply")
    };
    let bare = {
        let server = start_bare(&model, true);
        load(&server, requests, "bare")
    };
    // The same engine settings as apply's (no prefix cache on the CPU, where
    // mistral.rs never evicts it): what is left is the HTTP layer.
    let same = {
        let server = start_bare(&model, false);
        load(&server, requests, "same")
    };
    println!(
        "{:<44} {:>7} {:>7} {:>7} {:>9} {:>7} {:>9}",
        "", "req/s", "p50 s", "p99 s", "TTFT p50", "failed", "peak MiB"
    );
    for (name, f) in [
        ("deployctl apply", &apply),
        ("bare mistralrs-server-core, defaults", &bare),
        ("bare mistralrs-server-core, no prefix cache", &same),
    ] {
        println!(
            "{name:<44} {:>7.3} {:>7.2} {:>7.2} {:>9.2} {:>7} {:>9.0}",
            f.requests_per_second, f.p50, f.p99, f.first_token_p50, f.failed, f.peak_mib
        );
    }
    for (name, base) in [("bare, defaults", &bare), ("bare, no prefix cache", &same)] {
        println!(
            "apply / {name}: requests per second {:.3}, p50 latency {:.3}, p99 latency {:.3}, time to first token {:.3}, peak memory {:.3}",
            apply.requests_per_second / base.requests_per_second,
            apply.p50 / base.p50,
            apply.p99 / base.p99,
            apply.first_token_p50 / base.first_token_p50,
            apply.peak_mib / base.peak_mib
        );
    }
}
