//! Runs the real `hipaa-operator` binary against the test control plane.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running operator process, killed when dropped.
pub struct Operator {
    child: Child,
    /// The health and metrics ports the operator bound, known once [`Operator::wait_ready`]
    /// returned (0 before).
    pub health: u16,
    pub metrics: u16,
    pub log: std::path::PathBuf,
}

/// The line the operator logs once its health and metrics listeners are bound.
const SERVING: &str = "serving health and metrics";

/// The bound `(health, metrics)` ports in the operator's log, if it printed them yet.
///
/// The operator binds port 0 and reports what the kernel gave it: a port chosen here and
/// released before the operator binds it could be taken in between (by any outgoing
/// connection's ephemeral port), which made a start fail with "Address already in use".
fn bound_ports(log: &str) -> Option<(u16, u16)> {
    let line = strip_ansi(log.lines().find(|l| l.contains(SERVING))?);
    let port = |key: &str| -> Option<u16> {
        let value = line
            .split_whitespace()
            .find_map(|token| token.strip_prefix(key))?;
        value.rsplit_once(':')?.1.parse().ok()
    };
    Some((port("health=")?, port("metrics=")?))
}

/// `text` without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Operator {
    /// Starts the operator with `args` (after the common ones) and `env`.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Operator {
        let plane = control_plane::shared();
        // One file per start: an operator started again under the same name must not share the
        // file its predecessor removes when it is dropped.
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "hipaa-operator-{name}-{}-{start}.log",
            std::process::id()
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let binary = env!("CARGO_BIN_EXE_hipaa-operator");
        // A profiler to start it through (`HIPAA_OPERATOR_WRAPPER=/path/to/script`): the
        // script gets the binary and its arguments.
        let mut command = match std::env::var_os("HIPAA_OPERATOR_WRAPPER") {
            Some(wrapper) => {
                let mut c = Command::new(wrapper);
                c.arg(binary);
                c
            }
            None => Command::new(binary),
        };
        command
            .args([
                "--log-format",
                "text",
                "--health-bind-address",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--pod-name",
                name,
            ])
            .args(args)
            .env("KUBECONFIG", plane.kubeconfig_path())
            .env("HIPAA_LOG", "info,hipaa_operator=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file);
        control_plane::tie_to_parent(&mut command);
        let child = command.spawn().expect("start hipaa-operator");
        Operator {
            child,
            health: 0,
            metrics: 0,
            log,
        }
    }

    /// GET `path` on the health or metrics port; `(status, body)`.
    pub fn get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((status, body))
    }

    /// Waits (at most `timeout`) until `/readyz` answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.health == 0
                && let Some((health, metrics)) = bound_ports(&self.log_text())
            {
                (self.health, self.metrics) = (health, metrics);
            }
            if self.health != 0 && matches!(self.get(self.health, "/readyz"), Some((200, _))) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hipaa-operator exited ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "hipaa-operator not ready in {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, for resource measurements.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, unless the process has already exited (and its pid may belong to another).
    fn signal_terminate(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return false;
        }
        // SAFETY-free: `kill` through the standard command keeps this file free of unsafe code.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        true
    }

    /// SIGTERM, then waits (at most 20 s) for the process to exit; returns whether it exited.
    /// It blocks the thread: an async test whose azure-sim runs on the same runtime uses
    /// [`Self::stop`], or the operator's in-flight Azure calls could never be answered.
    pub fn terminate(&mut self) -> bool {
        self.signal_terminate();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// [`Self::terminate`] for async tests: it waits without blocking the runtime, so an
    /// in-process azure-sim keeps answering the calls the operator finishes before it exits.
    pub async fn stop(&mut self) -> bool {
        self.signal_terminate();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
