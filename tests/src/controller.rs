//! A `bondxdp run` process inside a test namespace: started, signalled, killed, and always
//! stopped on drop. Its log is kept for assertions and for failure messages. Its metrics
//! endpoint is read with [`scrape`] and [`metric`].

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

    /// The controller's process id (`ip netns exec` execs it in place).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
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

/// The time of a controller log line (its leading RFC 3339 UTC timestamp,
/// `2026-11-26T15:15:02.663465Z`).
pub fn log_time(line: &str) -> Option<std::time::SystemTime> {
    let ts = line.split_whitespace().next()?;
    let (date, time) = ts.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let secs: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let whole = days * 86_400 + hh * 3600 + mm * 60;
    Some(std::time::UNIX_EPOCH + Duration::from_secs_f64(whole as f64 + secs))
}

impl Controller {
    /// The time of the first log line at or after `since` containing every one of `needles`,
    /// waiting up to `timeout` for it.
    pub fn when_logged_after(
        &self,
        needles: &[&str],
        since: std::time::SystemTime,
        timeout: Duration,
    ) -> std::time::SystemTime {
        let find = |log: &str| {
            log.lines()
                .filter(|l| needles.iter().all(|n| l.contains(n)))
                .filter_map(log_time)
                .find(|t| *t >= since)
        };
        self.wait_for_log(|log| find(log).is_some(), timeout);
        find(&self.log()).expect("matched")
    }

    /// The time of the first log line containing every one of `needles`, waiting up to
    /// `timeout` for it.
    pub fn when_logged(&self, needles: &[&str], timeout: Duration) -> std::time::SystemTime {
        let find = |log: &str| {
            log.lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .and_then(log_time)
        };
        self.wait_for_log(|log| find(log).is_some(), timeout);
        find(&self.log()).expect("matched")
    }
}

/// GET /metrics from the controller's endpoint on 127.0.0.1:`port` inside `ns`.
pub fn scrape(ns: &Netns, port: u16) -> String {
    use std::io::{Read, Write};
    ns.enter(|| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))
            .expect("connect to the metrics endpoint");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        body
    })
}

/// The value of the sample whose name and labels start with `prefix` in scraped `metrics`.
pub fn metric(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{metrics}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_times_parse() {
        let t = super::log_time("2026-11-26T15:15:02.500000Z  INFO x").unwrap();
        let secs = t
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((secs - 1_795_706_102.5).abs() < 1e-3, "{secs}");
    }
}
