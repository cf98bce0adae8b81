//! A throwaway PostgreSQL for tests (issue 15): a new cluster in a temporary directory,
//! listening on 127.0.0.1 at a free port, run as an unprivileged user (PostgreSQL
//! refuses to run as root), stopped and removed on drop even when an assertion fails.
//!
//! The binaries come from Debian's packages (`cargo xtask setup` installs them under
//! /usr/lib/postgresql/<major>/bin; they are not on PATH there).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};

/// The newest installed PostgreSQL's bin directory.
pub fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is not installed: run `cargo xtask setup` (Debian's postgresql)")
}

/// A running PostgreSQL cluster; stopped (fast shutdown) and removed on drop.
pub struct Postgres {
    /// `postgres://` URL of its `postgres` database, as the superuser `endpoint`.
    pub url: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    child: Child,
    /// Who runs it: root's tests hand it to this user (uid, gid).
    owner: Option<(u32, u32)>,
}

impl Postgres {
    /// initdb + start; waits until it accepts connections (at most 30 s).
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "endpoint-pg-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // As root, the cluster belongs to the `postgres` user the Debian package made
        // (or `nobody`); otherwise to whoever runs the tests.
        let owner = Uid::effective().is_root().then(|| {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .or_else(|| User::from_name("nobody").ok().flatten())
                .expect("no unprivileged user (postgres or nobody) to run PostgreSQL as");
            (user.uid.as_raw(), user.gid.as_raw())
        });
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let data = dir.join("data");
        let out = as_owner(owner, &bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=endpoint",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data)
            .output()
            .expect("initdb runs");
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = as_owner(owner, &bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(&dir)
            // A test cluster: durability is SQLite's and the server's to prove, not
            // this scratch cluster's; fsync off keeps it fast on a shared disk.
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("postgres.log")).unwrap())
            .spawn()
            .expect("postgres starts");
        let pg = Postgres {
            url: format!("postgres://endpoint@127.0.0.1:{port}/postgres"),
            port,
            dir,
            child,
            owner,
        };
        pg.wait_ready(&bin);
        pg
    }

    fn wait_ready(&self, bin: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start in 30 s; its log:\n{}",
                std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `sql` with psql; its output (tuples only, unaligned) or psql's error.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(bin_dir().join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The user the server runs as (uid).
    pub fn server_uid(&self) -> u32 {
        self.owner
            .map_or_else(|| Uid::effective().as_raw(), |(u, _)| u)
    }

    /// Its directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: fast shutdown (disconnects clients, no checkpoint wait).
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `program` run as `owner` (setpriv drops root: uid, gid, no supplementary groups).
fn as_owner(owner: Option<(u32, u32)>, program: &Path) -> Command {
    match owner {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(program)
                // The postgres user's home may not exist; initdb only needs a cwd it can read.
                .current_dir("/");
            c
        }
        None => Command::new(program),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
