//! What the tests that run the real server binary share: starting it on port 0 and
//! stopping it (SIGTERM, so it stops its workers) even when an assertion fails.

#![allow(dead_code)] // each test file uses its own part of this

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod postgres;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's Python (`.venv`, made by `cargo xtask setup`).
pub fn venv_bin(program: &str) -> PathBuf {
    let p = root().join(".venv/bin").join(program);
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask setup` (it installs the requirements into .venv)",
        p.display()
    );
    p
}

/// The server process; dropping it stops it (SIGTERM, then SIGKILL after 8 s).
pub struct Server(pub Child);

impl Server {
    /// SIGKILL (`kill -9`), and waits for it.
    pub fn kill_9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// SIGTERM, then waits; true when it exited successfully.
    pub fn stop(&mut self) -> bool {
        if let Ok(Some(st)) = self.0.try_wait() {
            return st.success();
        }
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end {
            if let Ok(Some(st)) = self.0.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `endpoint-server serve --listen 127.0.0.1:0 <args>` with its log in `log`
/// (or nowhere), and returns it with the address it printed.
pub fn start<I, S>(args: I, log: Option<&std::path::Path>) -> (Server, SocketAddr)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_endpoint-server"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
    spawn(cmd, log)
}

/// Starts `cmd` (the server binary with its arguments and environment) with its log in
/// `log` (or nowhere), and returns it with the address it printed.
pub fn spawn(mut cmd: Command, log: Option<&std::path::Path>) -> (Server, SocketAddr) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(log.map_or_else(Stdio::null, |l| std::fs::File::create(l).unwrap().into()))
        .spawn()
        .expect("the server binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server(child);
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| {
            let said = log.and_then(|l| std::fs::read_to_string(l).ok());
            panic!(
                "the server did not start (first line {line:?}); its log: {}",
                said.as_deref().unwrap_or("(not kept)")
            )
        })
        .parse()
        .unwrap();
    (server, addr)
}

/// Writes a config file at `path` with one endpoint `w` whose jobs run on one real
/// worker of examples/workers/echo (under the runpod SDK in .venv), with pings every
/// second and `hold_ms` / `stop_grace_ms` of `grace_ms`.
pub fn write_echo_config(path: &std::path::Path, grace_ms: u32) {
    std::fs::write(
        path,
        format!(
            "[[endpoints]]\nid = \"w\"\nruntime = \"process\"\nmin_workers = 1\nmax_workers = 1\n\
             [endpoints.process]\ncommand = [{:?}, \"handler.py\"]\ncwd = {:?}\nping_interval_ms = 1000\n\
             hold_ms = {grace_ms}\nstop_grace_ms = {grace_ms}\n",
            venv_bin("python").display().to_string(),
            root().join("examples/workers/echo").display().to_string()
        ),
    )
    .unwrap();
}

/// Removes the workers' home folders of the server process `pid`
/// (`/tmp/endpoint-server-<pid>-*`), which a server killed with `kill -9` leaves.
pub fn remove_worker_homes(pid: u32) {
    let prefix = format!("endpoint-server-{pid}-");
    for e in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("endpoint-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A blocking HTTP/1.1 request (`connection: close`): the status and the body.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    try_request(addr, method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

/// [`request`], or why there was no answer (refused, cut off).
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    request_with_key(addr, method, path, body, None)
}

/// [`try_request`] with `Authorization: Bearer <key>` when a key is given.
pub fn request_with_key(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let auth = key.map_or_else(String::new, |k| format!("authorization: Bearer {k}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let code = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {out:?}"))?;
    let text = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((code, text.to_string()))
}
