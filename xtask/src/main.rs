//! Project automation, run as `cargo xtask <command>`.
//!
//! - `setup`: installs every tool the project needs, idempotently, printing each step.
//! - `serve`: setup, then the endpoint server with simulated traffic and `trunk serve`.
//! - `test`: setup, then every check and test suite; ends with `N passed, N failed`.
//! - `bench`: benchmarks (filled by later issues).

mod setup;
mod suite;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    let result = match cmd {
        "setup" => setup::run_with(
            setup::Purpose::All,
            args.iter().any(|a| a == "--embeddings"),
        )
        .map(|_| ()),
        "serve" => serve(&args[1..]),
        "test" => suite::run(&args[1..]),
        "bench" => bench(&args[1..]),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => Err(format!("unknown command `{other}`; try `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <command>\n\n\
         setup   install the toolchain (wasm32 target, trunk, wasm-bindgen-cli, npm packages,\n         \
                 Chromium + chromedriver, Firefox ESR + geckodriver, .venv); idempotent;\n         \
                 --embeddings adds the heavy embeddings example (PyTorch)\n\
         serve   setup, then endpoint-server on 127.0.0.1:8000 with simulated traffic and\n         \
                 trunk serve on http://127.0.0.1:8080/ (Ctrl-C stops both)\n\
         test    setup, then fmt, clippy, native tests, wasm tests in headless Chromium and\n         \
                 Firefox, a release trunk build and the browser end-to-end tests\n\
         bench   benchmarks (--soak [--minutes N] [--metrics-retention 10m]: the 30-minute soak, not part of the tests)"
    );
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` when set, else `target/`).
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { root().join(d) }
        }
        None => root().join("target"),
    }
}

/// PATH with the project's npm binaries (wasm-opt from binaryen) and cargo's bin dir first.
pub(crate) fn tool_path() -> String {
    let mut parts = vec![root().join("node_modules/.bin")];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        parts.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        parts.push(PathBuf::from(home).join(".cargo/bin"));
    }
    let old = std::env::var_os("PATH").unwrap_or_default();
    parts.extend(std::env::split_paths(&old));
    std::env::join_paths(parts)
        .expect("PATH entries are valid")
        .to_string_lossy()
        .into_owned()
}

fn serve(args: &[String]) -> Result<(), String> {
    // Only what serving needs: the browsers and their drivers are for the tests.
    setup::run_with(setup::Purpose::Serve, false)?;
    let root = root();
    let path = tool_path();
    sh("cargo", &["build", "--quiet", "-p", "endpoint-server"])?;
    let server_bin = target_dir().join("debug/endpoint-server");
    let spawn = |what: &str, cmd: &mut std::process::Command| {
        cmd.current_dir(&root)
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))
    };
    // Two endpoints: `local` (simulated workers) and `echo`, real worker processes
    // running examples/workers/echo through the runpod SDK from .venv.
    let config = target_dir().join("serve.toml");
    std::fs::create_dir_all(target_dir()).map_err(|e| e.to_string())?;
    std::fs::write(&config, serve_config())
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    // The server keeps its jobs in target/endpoint-server.db (history survives
    // restarts of `cargo xtask serve`).
    let server = spawn(
        "endpoint-server",
        std::process::Command::new(&server_bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:8000",
                "--db",
                "target/endpoint-server.db",
                "--config",
            ])
            .arg(&config)
            .args(args),
    )?;
    // Give the server a moment to bind before traffic starts.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let load = spawn(
        "the load generator",
        std::process::Command::new(&server_bin).args([
            "load",
            "--url",
            "http://127.0.0.1:8000",
            "--rate",
            "1.5",
            "--duration",
            "24h",
        ]),
    )?;
    let load_echo = spawn(
        "the load generator (echo)",
        std::process::Command::new(&server_bin).args([
            "load",
            "--url",
            "http://127.0.0.1:8000",
            "--endpoint",
            "echo",
            "--rate",
            "0.4",
            "--duration",
            "24h",
        ]),
    )?;
    println!("==> starting trunk serve (first build takes a minute or two)");
    let trunk = spawn(
        "trunk",
        std::process::Command::new("trunk")
            .args(["serve", "--address", "127.0.0.1", "--port", "8080"])
            .env("PATH", &path),
    )?;
    println!(
        "\n    Endpoint Metrics, the local server: http://127.0.0.1:8080/?endpoint=local\n    real workers (examples/workers/echo): http://127.0.0.1:8080/?endpoint=echo\n    the in-browser Demo endpoint:       http://127.0.0.1:8080/\n    (API on http://127.0.0.1:8000/v2/local/ and /v2/echo/)  Ctrl-C stops everything.\n"
    );
    // Ctrl-C reaches every child (same process group); when any of them ends, stop
    // the others so nothing is left behind.
    let mut children = [
        ("endpoint-server", server),
        ("load", load),
        ("load (echo)", load_echo),
        ("trunk", trunk),
    ];
    loop {
        for i in 0..children.len() {
            if let Ok(Some(st)) = children[i].1.try_wait() {
                for (_, c) in children.iter_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return if st.success() {
                    Ok(())
                } else {
                    Err(format!("{} exited: {st}", children[i].0))
                };
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The server configuration of `cargo xtask serve`: the simulated `local` endpoint
/// and `echo`, whose jobs run on real workers of examples/workers/echo.
fn serve_config() -> String {
    let python = root().join(".venv/bin/python");
    let echo = root().join("examples/workers/echo");
    format!(
        "[[endpoints]]\nid = \"local\"\n\n\
         [[endpoints]]\nid = \"echo\"\nruntime = \"process\"\nmin_workers = 0\nmax_workers = 3\nidle_timeout_ms = 20000\n\
         [endpoints.process]\ncommand = [{:?}, \"handler.py\"]\ncwd = {:?}\nscaler = \"queue_delay\"\nscaler_value = 2\n\
         env = {{ STARTUP_SLEEP = \"2\" }}\n",
        python.display().to_string(),
        echo.display().to_string()
    )
}

/// Runs `cmd` in the workspace root with the project's PATH; Err when it fails.
fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    println!("==> {cmd} {}", args.join(" "));
    let status = std::process::Command::new(cmd)
        .args(args)
        .env("PATH", tool_path())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{cmd} {}` failed: {status}", args.join(" ")))
    }
}

/// `cargo xtask bench --soak [--minutes N] [--metrics-retention 10m]`: the soak
/// (bench/soak.py), 30 minutes of mixed traffic with failing webhook receivers and
/// killed workers, then an account of every acknowledged job and every delivery. Not
/// part of the tests.
fn soak(args: &[String]) -> Result<(), String> {
    let minutes = flag_value(args, "--minutes", "30");
    let retention = flag_value(args, "--metrics-retention", "10m");
    bench_script(
        "soak.py",
        &["--minutes", &minutes, "--metrics-retention", &retention],
    )
}

/// The value after `flag` in `args`, or `default`.
fn flag_value(args: &[String], flag: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.into())
}

/// Builds the release server, then runs `crates/endpoint-server/bench/<script>` with
/// the project's Python: `<script> <server binary> <python> <extra...>`.
fn bench_script(script: &str, extra: &[&str]) -> Result<(), String> {
    sh(
        "cargo",
        &["build", "--quiet", "--release", "-p", "endpoint-server"],
    )?;
    let server_bin = target_dir().join("release/endpoint-server");
    let python = root().join(".venv/bin/python");
    let script = format!("crates/endpoint-server/bench/{script}");
    let (server_bin, python) = (server_bin.to_string_lossy(), python.to_string_lossy());
    let mut all: Vec<&str> = vec![&script, &server_bin, &python];
    all.extend_from_slice(extra);
    sh(&python, &all)
}

/// `cargo xtask bench [--wasm-only | --server-only | --panel-only | --workers-only |
/// --cluster-only] [--jobs N]`: real workers (jobs per second, the server's own time
/// per job), the server (start-up and RSS with N stored jobs, snapshot, wrk), two
/// instances over PostgreSQL beside SQLite and their failover, criterion natively, the
/// same aggregation in headless Chromium beside the d3-array baseline, then the panel
/// itself against the server (first render, refresh, long tasks, wasm size).
fn bench(args: &[String]) -> Result<(), String> {
    setup::run_with(setup::Purpose::Bench, false)?;
    let panel_only = args.iter().any(|a| a == "--panel-only");
    let wasm_only = args.iter().any(|a| a == "--wasm-only");
    let server_only = args.iter().any(|a| a == "--server-only");
    let workers_only = args.iter().any(|a| a == "--workers-only");
    let jobs = flag_value(args, "--jobs", "1000000");
    if panel_only {
        return bench_panel(&jobs);
    }
    let server_bin = target_dir().join("release/endpoint-server");
    let cluster = || {
        // Two instances over one PostgreSQL beside one on SQLite, then failover.
        sh(
            "crates/endpoint-server/bench/cluster-bench.sh",
            &[&server_bin.to_string_lossy(), "3", "32"],
        )
    };
    if args.iter().any(|a| a == "--cluster-only") {
        sh(
            "cargo",
            &["build", "--quiet", "--release", "-p", "endpoint-server"],
        )?;
        return cluster();
    }
    if args.iter().any(|a| a == "--soak") {
        return soak(args);
    }
    if !wasm_only {
        // Real workers: jobs per second end to end, and the server's own time per job.
        bench_script("workers-bench.py", &[])?;
        if workers_only {
            return Ok(());
        }
        sh(
            "crates/endpoint-server/bench/server-bench.sh",
            &[&server_bin.to_string_lossy(), &jobs],
        )?;
        cluster()?;
        if server_only {
            return Ok(());
        }
        sh(
            "cargo",
            &["bench", "-p", "core-bench", "--bench", "aggregate"],
        )?;
    }
    sh(
        "cargo",
        &[
            "build",
            "--quiet",
            "-p",
            "core-bench",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
        ],
    )?;
    let out = target_dir().join("core-bench-web");
    let out_s = out.to_string_lossy().into_owned();
    sh(
        "wasm-bindgen",
        &[
            "--target",
            "web",
            "--out-dir",
            &format!("{out_s}/pkg"),
            &target_dir()
                .join("wasm32-unknown-unknown/wasm-release/core_bench.wasm")
                .to_string_lossy(),
        ],
    )?;
    for (from, to) in [
        ("crates/core-bench/web/index.html", "index.html"),
        ("crates/core-bench/web/bench.mjs", "bench.mjs"),
        (
            "node_modules/d3-array/dist/d3-array.min.js",
            "d3-array.min.js",
        ),
    ] {
        std::fs::copy(root().join(from), out.join(to)).map_err(|e| format!("copy {from}: {e}"))?;
    }
    sh("node", &["crates/core-bench/run.mjs", &out_s, &jobs, "7"])?;
    if !wasm_only {
        bench_panel(&jobs)?;
    }
    Ok(())
}

/// The Metrics tab in headless Chromium against a release endpoint-server holding
/// `jobs` jobs: first render, refresh cost, long tasks, wasm size (e2e/panel-bench.mjs);
/// the Demo's start with and without its Web Worker (e2e/demo-bench.mjs).
fn bench_panel(jobs: &str) -> Result<(), String> {
    sh(
        "cargo",
        &["build", "--quiet", "--release", "-p", "endpoint-server"],
    )?;
    sh("trunk", &["build", "--release"])?;
    let bin = target_dir().join("release/endpoint-server");
    // Each against the release server: the Metrics tab; the Demo's start with its
    // Web Worker and on the page, side by side; the job list (filter + sort and
    // scrolling with 100,000 jobs in the window).
    for (args, what) in [
        (&["e2e/panel-bench.mjs", jobs, "5"][..], "panel"),
        (&["e2e/demo-bench.mjs", "5"][..], "Demo"),
        (&["e2e/jobs-bench.mjs", "100000"][..], "job list"),
    ] {
        let status = std::process::Command::new("node")
            .args(args)
            .current_dir(root())
            .env("E2E_SERVER_BIN", &bin)
            .status()
            .map_err(|e| format!("node: {e}"))?;
        if !status.success() {
            return Err(format!("{what} bench failed: {status}"));
        }
    }
    Ok(())
}
