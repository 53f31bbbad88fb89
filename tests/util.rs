//! Helpers shared by the integration tests: running the real binary, temporary files, and
//! locating the reference data in `../shared/data`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The result of one run of the `evonas` binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout, printing everything on failure.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts a clean failure (exit 1 or 2, a message, no panic) and returns stderr.
    #[track_caller]
    pub fn fails(self) -> String {
        assert!(
            self.code == 1 || self.code == 2,
            "expected exit 1 or 2, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            self.stderr
        );
        assert!(!self.stderr.trim().is_empty(), "failure without a message");
        self.stderr
    }
}

/// Runs `evonas` with arguments and optional stdin.
pub fn evonas(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the evonas binary starts");
    {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        if let Some(text) = stdin {
            // The binary may exit before reading (e.g. on a bad flag); ignore broken pipes.
            let _ = pipe.write_all(text.as_bytes());
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the evonas binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `evonas rank --json -q` of the evaluator files `reference` and `candidate` through the
/// store `store`; `more` selects the architectures (`["--sample", "6", "--seed", "2"]` or
/// `["--archs", FILE]`) and adds any other flags. Asserts success, returns the parsed report.
pub fn rank_json(
    reference: &Path,
    candidate: &Path,
    store: &Path,
    more: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        "rank",
        "--json",
        "-q",
        "--reference",
        reference.to_str().expect("a UTF-8 temp path"),
        "--candidate",
        candidate.to_str().expect("a UTF-8 temp path"),
        "--store",
        store.to_str().expect("a UTF-8 temp path"),
    ];
    args.extend_from_slice(more);
    let out = evonas(&args, None).ok();
    serde_json::from_str(&out).expect("rank --json prints one JSON object")
}

/// A temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A file in `dir` with the given contents.
pub fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write a temp file");
    p
}

/// Path of a file under the shared reference data (`../shared/data`, or `EVONAS_SHARED_DATA`).
///
/// Missing data fails the test when `CI=true`; elsewhere the test is reported as skipped on
/// stderr (so a checkout without the data still builds and tests everything else).
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("EVONAS_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let p = root.join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "reference data {} is missing, and CI=true requires it",
            p.display()
        );
    }
    eprintln!(
        "SKIPPED: reference data {} is missing (set EVONAS_SHARED_DATA)",
        p.display()
    );
    None
}

/// Runs `evonas` with arguments (no stdin) and returns the run with the child's own peak
/// resident memory in MB, from `wait4` (exact for this child, whatever else the tests run).
pub fn evonas_measured(args: &[&str]) -> (Run, u64) {
    let dir = tempdir();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let file = |p: &PathBuf| std::fs::File::create(p).expect("an output file");
    // Reaped by `wait4` below, not by std, so that its resource usage comes back with it.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(file(&out))
        .stderr(file(&err))
        .spawn()
        .expect("the evonas binary starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `wait4` fills `status` and `usage` for our own child, which std has not reaped
    // (the `Child` handle is never waited on).
    let rc = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(rc, pid, "wait4 failed");
    // SAFETY: initialised by the successful call.
    let usage = unsafe { usage.assume_init() };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let run = Run {
        code,
        stdout: read(&out),
        stderr: read(&err),
    };
    (run, (usage.ru_maxrss as u64).div_ceil(1024))
}

/// A throw-away `redis-server` on 127.0.0.1 and a free port, without persistence, killed when
/// dropped.
pub struct Redis {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
    tls: Vec<String>,
}

impl Redis {
    /// Starts one. `redis-server` missing fails the test when `CI=true` (CI installs it);
    /// elsewhere the test is reported as skipped on stderr and this returns None.
    pub fn start() -> Option<Redis> {
        Self::start_with(&[])
    }

    fn start_with(tls: &[String]) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server is not installed, and CI=true requires it (apt-get install redis-server)");
            }
            eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        for _ in 0..20 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let dir = tempdir();
            let child = Self::spawn(port, &dir, tls);
            let mut redis = Redis {
                child,
                port,
                dir,
                tls: tls.to_vec(),
            };
            if redis.wait_ready() {
                return Some(redis);
            }
            // Another process took the port first (dropping kills this one): try another.
        }
        panic!("could not start redis-server on any port");
    }

    /// Starts one that speaks only TLS, with the certificate `certs/server.crt` (key
    /// `server.key`), not asking clients for certificates. None as for [`Redis::start`].
    pub fn start_tls(certs: &std::path::Path) -> Option<Redis> {
        Self::start_with(&[
            "--tls-cert-file".into(),
            certs.join("server.crt").display().to_string(),
            "--tls-key-file".into(),
            certs.join("server.key").display().to_string(),
            "--tls-ca-cert-file".into(),
            certs.join("ca.crt").display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ])
    }

    fn spawn(port: u16, dir: &tempfile::TempDir, tls: &[String]) -> std::process::Child {
        let mut cmd = Command::new("redis-server");
        if tls.is_empty() {
            cmd.args(["--port", &port.to_string()]);
        } else {
            cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                .args(tls);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts")
    }

    fn wait_ready(&mut self) -> bool {
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    /// The queue URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server and starts an empty one on the same port (a restart that lost data).
    pub fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, &self.dir, &self.tls);
        assert!(self.wait_ready(), "redis-server did not come back");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
