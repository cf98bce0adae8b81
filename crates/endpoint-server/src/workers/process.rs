//! Worker processes as the operating system sees them: spawned in a process group of
//! their own (the `runpod` SDK forks a ping process that outlives a killed parent, so
//! only the whole group can be stopped reliably), signalled as a group through `nix`
//! (the workspace forbids `unsafe`), read from `/proc`, and recorded in a registry
//! directory so the next start of the server finds and stops what a `kill -9` of the
//! previous one left running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The environment variable every worker carries with its id: it is how the
/// registry recognises a left-over worker (its pid may have been reused since).
pub const WORKER_ENV: &str = "ENDPOINT_SERVER_WORKER";

/// Sends `signal` to the process group `pgid`. A group that is gone is not an error.
pub fn signal_group(pgid: u32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid as i32), signal);
}

/// Whether any process of group `pgid` is still alive: signal 0 probes the group,
/// then `/proc` tells a live member from a zombie (a killed orphan stays a zombie
/// until init reaps it, which can take a while in a container).
pub fn group_alive(pgid: u32) -> bool {
    if killpg(Pid::from_raw(pgid as i32), None).is_err() {
        return false;
    }
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return true;
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| proc_pgrp(pid) == Some(pgid) && proc_state(pid).is_some_and(|s| s != 'Z'))
}

/// The scheduler state letter of process `pid` (`R`, `S`, `T` for stopped, `Z`...),
/// from `/proc/<pid>/stat`; None when it is gone or there is no `/proc`.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// The whole environment (nothing is inherited).
    pub env: BTreeMap<String, String>,
}

/// Starts `spec` in a new process group with stdout and stderr piped.
pub fn spawn(spec: &SpawnSpec) -> std::io::Result<tokio::process::Child> {
    let (program, args) = spec
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the group id is its pid.
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    cmd.spawn()
}

/// The directory recording the live workers of one server (one file per worker:
/// `<worker id>` holding its process group id).
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry in `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Registry { dir: dir.into() }
    }

    /// The registry beside a database file: `<db>.workers/`.
    pub fn beside(db: &Path) -> Self {
        let mut name = db.as_os_str().to_owned();
        name.push(".workers");
        Registry::new(PathBuf::from(name))
    }

    /// Records a started worker.
    pub fn add(&self, worker_id: &str, pgid: u32) {
        if let Err(e) = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(self.dir.join(worker_id), pgid.to_string()))
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot record a worker in the registry");
        }
    }

    /// Forgets a worker that ended.
    pub fn remove(&self, worker_id: &str) {
        let _ = std::fs::remove_file(self.dir.join(worker_id));
    }

    /// Stops (SIGKILL, whole group) every recorded worker still running, as a server
    /// killed with `kill -9` leaves them. A group is only signalled when one of its
    /// processes carries the recorded worker id in its environment, so a reused pid
    /// is never hit. Returns the ids of the workers stopped.
    pub fn reap_leftovers(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut stopped = Vec::new();
        for entry in rd.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let pgid: Option<u32> = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if let Some(pgid) = pgid {
                let members = members_of(pgid, &id);
                if !members.is_empty() {
                    signal_group(pgid, Signal::SIGKILL);
                    stopped.push(id.clone());
                }
            }
            let _ = std::fs::remove_file(entry.path());
        }
        stopped
    }
}

/// The pids in process group `pgid` whose environment says they are worker `id`.
fn members_of(pgid: u32, id: &str) -> Vec<u32> {
    let marker = format!("{WORKER_ENV}={id}");
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_pgrp(pid) == Some(pgid))
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
        })
        .collect()
}

/// The process group of `pid` (field 5 of `/proc/<pid>/stat`).
fn proc_pgrp(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_is_stopped_whole_and_leftovers_are_found_by_their_marker() {
        let dir = std::env::temp_dir().join(format!("em-reg-{}", std::process::id()));
        let reg = Registry::new(&dir);
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.insert(WORKER_ENV.into(), "w-test".into());
        // A parent with a child in the background, like the SDK and its ping process.
        let spec = SpawnSpec {
            command: vec!["sh".into(), "-c".into(), "sleep 30 & sleep 30".into()],
            cwd: None,
            env,
        };
        let mut child = spawn(&spec).unwrap();
        let pgid = child.id().unwrap();
        reg.add("w-test", pgid);
        // A stale entry whose group does not exist is dropped without a signal.
        reg.add("w-gone", 999_999);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(proc_state(pgid).map(|c| c != 'Z'), Some(true));
        assert!(
            members_of(pgid, "w-test").len() >= 2,
            "parent and child carry the marker"
        );
        assert!(members_of(pgid, "w-other").is_empty());
        let stopped = reg.reap_leftovers();
        assert_eq!(stopped, ["w-test"]);
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        for _ in 0..250 {
            if !group_alive(pgid) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            !group_alive(pgid),
            "the background child went with the group"
        );
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
