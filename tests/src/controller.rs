//! A `bondxdp run` process inside a test namespace: started, signalled, killed, and always
//! stopped on drop. Its log is kept for assertions and for failure messages.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{Netns, bondxdp_bin};

/// A running controller.
pub struct Controller {
    child: Option<Child>,
    log: PathBuf,
}

impl Controller {
    /// Starts `bondxdp -v run ARGS` in `ns` and waits until it manages `bonds` bonds.
    pub fn start(ns: &Netns, args: &[&str], bonds: usize) -> Controller {
        let log = std::env::temp_dir().join(format!(
            "bondxdp-controller-{}-{}.log",
            ns.name(),
            Instant::now().elapsed().as_nanos() ^ std::process::id() as u128
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), &bondxdp_bin(), "-v", "run"])
            .args(args)
            .env("RUST_LOG_STYLE", "never")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn bondxdp run");
        let c = Controller {
            child: Some(child),
            log,
        };
        c.wait_for_log(
            |l| l.matches("managing").count() >= bonds,
            Duration::from_secs(10),
        );
        c
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `pred(log)` holds; panics with the log after `timeout`.
    pub fn wait_for_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.log()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("controller log never matched; log:\n{}", self.log());
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Exit status, waiting up to `timeout` for it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn signal(&self, sig: i32) {
        if let Some(child) = &self.child {
            // `ip netns exec` execs bondxdp, so the child's pid is bondxdp's.
            // SAFETY: sending a signal to our own child.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
    }

    /// Sends SIGHUP (reload the config).
    pub fn hangup(&self) {
        self.signal(libc::SIGHUP);
    }

    /// Sends SIGTERM (orderly exit).
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Kills the process outright (kill -9), as a crash would.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.alive() {
            self.terminate();
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                self.kill9();
            }
        }
        if std::thread::panicking() {
            eprintln!("--- controller log ---\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
