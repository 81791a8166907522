//! The control plane's processes: locating the pinned binaries, spawning them tied to this
//! process, waiting for them, and stopping them.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{ControlPlane, Error, io};

/// Paths of the pinned binaries.
#[derive(Clone, Debug)]
pub struct Tools {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
}

impl Tools {
    /// The binaries in `$HIPAA_TOOLS_BIN`, or in the directory `scripts/tools.sh` prints (which
    /// builds them first if they are not cached yet).
    pub fn locate() -> Result<Tools, Error> {
        let dir = match std::env::var_os("HIPAA_TOOLS_BIN") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/tools.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .stderr(Stdio::inherit())
                    .output()
                    .map_err(|e| Error::Tools(format!("running {}: {e}", script.display())))?;
                if !out.status.success() {
                    return Err(Error::Tools(format!(
                        "{} failed ({})",
                        script.display(),
                        out.status
                    )));
                }
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        let tool = |name: &str| -> Result<PathBuf, Error> {
            let path = dir.join(name);
            if path.exists() {
                Ok(path)
            } else {
                Err(Error::Tools(format!(
                    "{} is missing; run scripts/tools.sh to build the pinned versions",
                    path.display()
                )))
            }
        };
        Ok(Tools {
            etcd: tool("etcd")?,
            kube_apiserver: tool("kube-apiserver")?,
            kube_controller_manager: tool("kube-controller-manager")?,
            kubectl: tool("kubectl")?,
            helm: tool("helm")?,
        })
    }
}

/// Makes a child started from `command` die with the thread that starts it (for a test, its
/// process when started from a long-lived thread), so nothing outlives a crashed test binary.
pub fn tie_to_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Processes started together and stopped together, newest first.
#[derive(Default)]
pub struct Group {
    children: Vec<(&'static str, Child, PathBuf)>,
}

impl Group {
    /// Starts `program` with its output in `{dir}/{name}.log`, set to die with this process.
    pub fn spawn(
        &mut self,
        name: &'static str,
        program: &Path,
        args: &[&str],
        dir: &Path,
    ) -> Result<(), Error> {
        let log_path = dir.join(format!("{name}.log"));
        let log =
            File::create(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(io("duplicating a log file handle"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        tie_to_parent(&mut command);
        let child = command
            .spawn()
            .map_err(io(format!("starting {}", program.display())))?;
        self.children.push((name, child, log_path));
        Ok(())
    }

    /// Waits until something listens on `127.0.0.1:{port}`.
    pub fn wait_for_port(
        &mut self,
        component: &'static str,
        port: u16,
        timeout: Duration,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            self.check_running()?;
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    component,
                    seconds: timeout.as_secs(),
                    log: self.log_tail(component),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Fails if any process has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        let mut exited = None;
        for (name, child, _) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some((*name, status.to_string()));
                break;
            }
        }
        match exited {
            Some((component, status)) => Err(Error::Exited {
                component,
                status,
                log: self.log_tail(component),
            }),
            None => Ok(()),
        }
    }

    /// The last lines of a component's log, for error messages.
    pub fn log_tail(&self, component: &str) -> String {
        self.children
            .iter()
            .find(|(name, _, _)| *name == component)
            .and_then(|(_, _, path)| std::fs::read_to_string(path).ok())
            .map(|log| {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            })
            .unwrap_or_default()
    }

    /// Process ids, oldest first.
    pub fn pids(&self) -> Vec<u32> {
        self.children
            .iter()
            .map(|(_, child, _)| child.id())
            .collect()
    }

    /// SIGTERM to every process, newest first; SIGKILL to any still running after 10 s.
    pub fn stop_all(&mut self) {
        while let Some((_, mut child, _)) = self.children.pop() {
            // A child already reaped (a start that failed reads its exit) no longer owns its
            // pid, which the system may have given to another process: signal only the living.
            if !matches!(child.try_wait(), Ok(None)) {
                continue;
            }
            // SAFETY: kill on our own child's pid, which it still holds (not reaped).
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

/// A group dropped with processes still in it (a start that failed half-way, before a
/// [`ControlPlane`] took the group) stops them at once rather than at the test binary's exit.
impl Drop for Group {
    fn drop(&mut self) {
        self.stop_all();
    }
}

static AT_EXIT: Mutex<Option<ControlPlane>> = Mutex::new(None);

extern "C" fn stop_registered() {
    if let Ok(mut guard) = AT_EXIT.lock()
        && let Some(mut plane) = guard.take()
    {
        plane.stop();
        drop(plane);
    }
}

/// Keeps `plane` running until the process exits normally, then stops it and removes its
/// directory (statics are never dropped, so an `atexit` hook does it).
pub fn stop_at_exit(plane: ControlPlane) {
    if let Ok(mut guard) = AT_EXIT.lock() {
        *guard = Some(plane);
    }
    // SAFETY: registers a plain extern "C" function with no arguments.
    unsafe {
        libc::atexit(stop_registered);
    }
}
