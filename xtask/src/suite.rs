//! `cargo xtask test`: every check and suite, one summary line at the end.
//!
//! Every step runs even when an earlier one failed, so one run shows everything that
//! is wrong. Test counts come from cargo's `test result:` lines (native and
//! wasm-bindgen-test print the same line) and from node's TAP summary (`# pass N`).
//! A step that fails without reporting tests (fmt, clippy, a build, a compile error)
//! counts as one failure. The last line is `N passed, N failed`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::setup::geckodriver_path;
use crate::{root, tool_path};

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    /// (step, passed, failed, seconds, ok)
    steps: Vec<(String, u64, u64, f64, bool)>,
}

/// What one step reported.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    saw_result: bool,
}

impl Counts {
    fn scan(&mut self, line: &str) {
        // cargo / wasm-bindgen-test: "test result: ok. 3 passed; 0 failed; 0 ignored; ..."
        if let Some(rest) = line.trim().strip_prefix("test result: ") {
            self.saw_result = true;
            for part in rest.split(';') {
                let part = part
                    .trim()
                    .trim_start_matches("ok. ")
                    .trim_start_matches("FAILED. ");
                if let Some(n) = part.strip_suffix(" passed") {
                    self.passed += n.trim().parse::<u64>().unwrap_or(0);
                } else if let Some(n) = part.strip_suffix(" failed") {
                    self.failed += n.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        // node --test with the TAP reporter: "# pass 4" / "# fail 0"
        if let Some(n) = line.trim().strip_prefix("# pass ") {
            self.saw_result = true;
            self.passed += n.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(n) = line.trim().strip_prefix("# fail ") {
            self.saw_result = true;
            self.failed += n.trim().parse::<u64>().unwrap_or(0);
        }
    }
}

struct Step<'a> {
    name: &'a str,
    cmd: &'a str,
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    env_remove: Vec<&'a str>,
    /// Whether the step reports test counts (otherwise it counts as one check).
    reports_tests: bool,
}

impl<'a> Step<'a> {
    fn new(name: &'a str, cmd: &'a str, args: &[&str]) -> Self {
        Step {
            name,
            cmd,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            env_remove: Vec::new(),
            reports_tests: false,
        }
    }
    fn tests(mut self) -> Self {
        self.reports_tests = true;
        self
    }
    fn env(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.env.push((k, v.into()));
        self
    }
    fn env_remove(mut self, k: &'a str) -> Self {
        self.env_remove.push(k);
        self
    }
}

fn run_step(tally: &mut Tally, step: Step<'_>) {
    println!("\n==> {}: {} {}", step.name, step.cmd, step.args.join(" "));
    let t = Instant::now();
    let mut cmd = Command::new(step.cmd);
    cmd.args(&step.args)
        .current_dir(root())
        .env("PATH", tool_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for (k, v) in &step.env {
        cmd.env(k, v);
    }
    for k in &step.env_remove {
        cmd.env_remove(k);
    }
    let mut counts = Counts::default();
    let ok = match cmd.spawn() {
        Ok(mut child) => {
            if let Some(out) = child.stdout.take() {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    println!("{line}");
                    counts.scan(&line);
                }
            }
            child.wait().map(|s| s.success()).unwrap_or(false)
        }
        Err(e) => {
            println!("cannot run {}: {e}", step.cmd);
            false
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let (p, mut f) = if step.reports_tests {
        (counts.passed, counts.failed)
    } else {
        (u64::from(ok), u64::from(!ok))
    };
    // A suite that failed without reporting a failing test (a compile error, a crash,
    // a runner that could not start the browser) still counts as one failure.
    if !ok && f == 0 {
        f = 1;
    }
    if step.reports_tests && ok && !counts.saw_result {
        println!("{}: no test results were reported", step.name);
        f += 1;
    }
    tally.passed += p;
    tally.failed += f;
    tally
        .steps
        .push((step.name.to_string(), p, f, secs, ok && f == 0));
}

/// How long wasm-bindgen-test-runner lets a whole headless run take (its default is
/// 20 s). The panel's suite takes about 18 s in Firefox's debug wasm here, so the
/// default made the step fail now and then with "execute/sync timed out".
const WASM_TEST_TIMEOUT_S: &str = "180";

/// Runs the whole suite; `Err` when anything failed.
pub fn run(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let setup_time = crate::setup::run()?;
    let quick = args.iter().any(|a| a == "--no-e2e");
    let wasm = "wasm32-unknown-unknown";
    let mut tally = Tally::default();

    run_step(
        &mut tally,
        Step::new("fmt", "cargo", &["fmt", "--all", "--check"]),
    );
    run_step(
        &mut tally,
        Step::new(
            "clippy (native)",
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    );
    run_step(
        &mut tally,
        Step::new(
            "clippy (panel, wasm32)",
            "cargo",
            &[
                "clippy",
                "-p",
                "metrics-panel",
                "--target",
                wasm,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    );
    run_step(
        &mut tally,
        Step::new(
            "clippy (core-bench, wasm32)",
            "cargo",
            &[
                "clippy",
                "-p",
                "core-bench",
                "--lib",
                "--target",
                wasm,
                "--",
                "-D",
                "warnings",
            ],
        ),
    );
    run_step(
        &mut tally,
        Step::new("native tests", "cargo", &["test", "--workspace"]).tests(),
    );
    // The panel's components and the core's tests (numpy fixtures, properties), each
    // compiled to wasm32 and run in both browsers.
    let panel: &[&str] = &[
        "test",
        "-p",
        "metrics-panel",
        "--target",
        wasm,
        "--test",
        "web",
    ];
    let core: &[&str] = &[
        "test",
        "-p",
        "endpoint-core",
        "--target",
        wasm,
        "--test",
        "quantile_fixtures",
        "--test",
        "properties",
    ];
    for (name, args) in [
        ("wasm tests: panel (Chromium)", panel),
        ("wasm tests: core (Chromium)", core),
    ] {
        run_step(
            &mut tally,
            Step::new(name, "cargo", args)
                .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                .env("WASM_BINDGEN_TEST_TIMEOUT", WASM_TEST_TIMEOUT_S)
                .env_remove("GECKODRIVER")
                .env_remove("SAFARIDRIVER")
                .tests(),
        );
    }
    for (name, args) in [
        ("wasm tests: panel (Firefox)", panel),
        ("wasm tests: core (Firefox)", core),
    ] {
        run_step(
            &mut tally,
            Step::new(name, "cargo", args)
                .env("GECKODRIVER", geckodriver_path())
                .env("WASM_BINDGEN_TEST_TIMEOUT", WASM_TEST_TIMEOUT_S)
                .env_remove("CHROMEDRIVER")
                .env_remove("SAFARIDRIVER")
                .tests(),
        );
    }
    run_step(
        &mut tally,
        Step::new("release build (trunk)", "trunk", &["build", "--release"]),
    );
    if !quick {
        run_step(
            &mut tally,
            // `cargo test --workspace` (the native tests) built the binary already; the
            // same command with `--no-run` makes sure of it without a second build
            // (`cargo build -p` unifies other features and would rebuild, ~2 min).
            Step::new(
                "build endpoint-server",
                "cargo",
                &["test", "--workspace", "--no-run"],
            ),
        );
        let server = crate::target_dir().join("debug/endpoint-server");
        let files = e2e_files();
        let mut node_args = vec!["--test", "--test-reporter=tap", "--test-concurrency=1"];
        node_args.extend(files.iter().map(String::as_str));
        run_step(
            &mut tally,
            Step::new("browser end-to-end tests", "node", &node_args)
                .env("E2E_SERVER_BIN", server.to_string_lossy().into_owned())
                .env(
                    "E2E_DIST",
                    root().join("dist").to_string_lossy().into_owned(),
                )
                .tests(),
        );
    }

    println!("\n==> summary");
    println!(
        "  {:<34} {:>7} {:>7} {:>8}",
        "step", "passed", "failed", "seconds"
    );
    println!(
        "  {:<34} {:>7} {:>7} {:>8.1}",
        "setup",
        "-",
        "-",
        setup_time.as_secs_f64()
    );
    for (name, p, f, secs, ok) in &tally.steps {
        let mark = if *ok { "" } else { "  <-- FAILED" };
        println!("  {name:<34} {p:>7} {f:>7} {secs:>8.1}{mark}");
    }
    println!("  total wall time {:.1} s", started.elapsed().as_secs_f64());
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        // Exit here so the summary stays the last line of the output.
        std::process::exit(1);
    }
    Ok(())
}

/// The e2e test files, in a stable order (node 20 does not expand directories).
fn e2e_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("e2e"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".test.mjs"))
                .map(|n| format!("e2e/{n}"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
