//! Event hooks, as mwan3's hotplug scripts: on every change of a multi-wan uplink's state
//! (`up`, `degraded`, `down`), the executables of the hook directory (`bondxdp run
//! --hook-dir`, default `/etc/bondxdp/hooks.d`) run one after another in name order, with
//! `BONDXDP_BOND`, `BONDXDP_UPLINK`, `BONDXDP_OLD` and `BONDXDP_NEW` in their environment
//! (`BONDXDP_OLD` is `none` for the state a controller finds at start). Each gets
//! [`HOOK_TIMEOUT`]; what it prints goes to the controller's log. Events queue, so hooks see
//! them in order and never hold up the monitor.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The longest a hook may run before it is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The default hook directory.
pub const DEFAULT_HOOK_DIR: &str = "/etc/bondxdp/hooks.d";

/// One uplink state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UplinkEvent {
    /// The bond.
    pub bond: String,
    /// The uplink (member) name.
    pub uplink: String,
    /// The state before (`none` at start).
    pub old: &'static str,
    /// The state now.
    pub new: &'static str,
}

static QUEUE: OnceLock<Option<mpsc::UnboundedSender<UplinkEvent>>> = OnceLock::new();

/// Starts the hook runner for `dir` (`None`: no hooks). Called once, by `bondxdp run`.
pub fn start(dir: Option<PathBuf>) {
    let queue = dir.map(|dir| {
        let (tx, mut rx) = mpsc::unbounded_channel::<UplinkEvent>();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                run_all(&dir, &event).await;
            }
        });
        tx
    });
    let _ = QUEUE.set(queue);
}

/// Queues `event` for the hooks (nothing if no runner was started).
pub fn uplink_changed(event: UplinkEvent) {
    if let Some(Some(tx)) = QUEUE.get() {
        let _ = tx.send(event);
    }
}

/// The executable files of `dir`, in name order.
fn hooks(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

async fn run_all(dir: &Path, e: &UplinkEvent) {
    for hook in hooks(dir) {
        let child = tokio::process::Command::new(&hook)
            .env("BONDXDP_BOND", &e.bond)
            .env("BONDXDP_UPLINK", &e.uplink)
            .env("BONDXDP_OLD", e.old)
            .env("BONDXDP_NEW", e.new)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(HOOK_TIMEOUT, child).await {
            Err(_) => warn!(hook = %hook.display(), "hook killed after {HOOK_TIMEOUT:?}"),
            Ok(Err(e)) => warn!(hook = %hook.display(), "hook did not run: {e}"),
            Ok(Ok(out)) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let errors = String::from_utf8_lossy(&out.stderr);
                if out.status.success() {
                    debug!(hook = %hook.display(), output = %text.trim(), "hook ran");
                } else {
                    warn!(hook = %hook.display(), status = %out.status, output = %errors.trim(), "hook failed");
                }
            }
        }
    }
    info!(bond = %e.bond, uplink = %e.uplink, old = e.old, new = e.new, "hooks run");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_executable_files_in_name_order() {
        let dir = std::env::temp_dir().join(format!("bondxdp-hooks-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for (name, mode) in [("20-b", 0o755), ("10-a", 0o700), ("30-c.txt", 0o644)] {
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let names: Vec<String> = hooks(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-a", "20-b"]);
        assert!(hooks(&dir.join("missing")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
