//! Where a bond's state lives in bpffs, and how concurrent commands take turns.
//!
//! Layout: `<bpffs>/bondxdp/ns<cookie>/<bond>/` (the first level root-owned, 0700, checked
//! before use and never removed: [`pin_root`]) holds the bond's maps (by map name), its
//! programs (`prog_*`) and its links (`link_*`). bpffs is shared by every network namespace
//! while interface names are not, so the directory is keyed by the namespace (its cookie, see
//! [`netns_pin_id`]): two namespaces may each have a `bond0`.
//!
//! `ip netns exec` mounts a fresh sysfs, which hides the host's /sys/fs/bpf. bondxdp then
//! looks at it through an ancestor process that still sees it (`/proc/<pid>/root/sys/fs/bpf`,
//! typically the shell that ran `ip netns exec`), so pins made inside and outside
//! `ip netns exec` are the same files.

use std::{
    fs::File,
    os::{
        fd::{AsRawFd, FromRawFd},
        unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    },
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// `statfs` magic of a BPF filesystem.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Environment variable overriding the bpffs mount point (tests, unusual hosts).
pub const BPFFS_ENV: &str = "BONDXDP_BPFFS";

/// Where bpffs is normally mounted.
pub const BPFFS_DEFAULT: &str = "/sys/fs/bpf";

/// Whether `path` is the root of a mounted BPF filesystem.
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and a properly sized out-parameter.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// The bpffs mount bondxdp uses: $BONDXDP_BPFFS, else /sys/fs/bpf, else /sys/fs/bpf as the
/// nearest ancestor process sees it. The last is found once and then held open (a long-lived
/// controller's parent, `ip netns exec` say, may exit; its view must stay reachable).
pub fn bpffs_root() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(BPFFS_ENV) {
        let path = PathBuf::from(path);
        return if is_bpffs(&path) {
            Ok(path)
        } else {
            Err(Error::BpffsMissing)
        };
    }
    let default = PathBuf::from(BPFFS_DEFAULT);
    if is_bpffs(&default) {
        return Ok(default);
    }
    static HELD: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(held) = HELD.get() {
        return Ok(held.clone());
    }
    let mut pid = std::process::id();
    for _ in 0..64 {
        let Some(parent) = parent_pid(pid).filter(|p| *p > 0) else {
            break;
        };
        let candidate = PathBuf::from(format!("/proc/{parent}/root{BPFFS_DEFAULT}"));
        if is_bpffs(&candidate) {
            // Hold the directory open and use it through our own fd table from now on.
            if let Ok(dir) = std::fs::File::open(&candidate) {
                use std::os::fd::IntoRawFd;
                let fd = dir.into_raw_fd();
                let held = PathBuf::from(format!("/proc/self/fd/{fd}"));
                if is_bpffs(&held) {
                    return Ok(HELD.get_or_init(|| held).clone());
                }
            }
            return Ok(candidate);
        }
        pid = parent;
    }
    Err(Error::BpffsMissing)
}

/// The parent of process `pid`.
fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Identifies the calling thread's network namespace (the inode of /proc/thread-self/ns/net).
pub fn netns_id() -> Result<u64> {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .map_err(|e| Error::io("reading /proc/thread-self/ns/net", e))
}

/// Names the calling thread's network namespace for the pin directory: its cookie
/// (`SO_NETNS_COOKIE`), which the kernel never hands out twice, where a namespace's inode
/// number is reused: a namespace deleted without `down` (a container torn down, a killed
/// test) leaves its pins behind, and a new namespace that got the same inode would otherwise
/// find them as bonds of its own. Falls back to the inode where the option is missing.
pub fn netns_pin_id() -> Result<u64> {
    // SAFETY: plain socket(2) call; the descriptor is owned (closed) below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return netns_id();
    }
    // SAFETY: a descriptor we own.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        )
    };
    if rc != 0 || len as usize != std::mem::size_of::<u64>() {
        return netns_id();
    }
    Ok(cookie)
}

/// Name of bondxdp's directory in bpffs.
const PIN_ROOT: &str = "bondxdp";

/// bondxdp's directory in bpffs (`<bpffs>/bondxdp`), created root-owned and 0700 if missing.
///
/// bpffs is usually mounted world-writable and sticky (1777), so anyone could create this
/// directory first and then rename or plant entries in it. It is therefore checked before
/// every use (a real directory, not a symlink, owned by root, writable by nobody else) and
/// never removed: once it exists, only root can change what is in it.
pub fn pin_root() -> Result<PathBuf> {
    let root = bpffs_root()?.join(PIN_ROOT);
    match std::fs::DirBuilder::new().mode(0o700).create(&root) {
        Ok(()) => {
            // The mode given to mkdir is filtered by the umask; set it exactly.
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(format!("securing {}", root.display()), e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(format!("creating {}", root.display()), e)),
    }
    check_owned_dir(&root)?;
    Ok(root)
}

/// Refuses `dir` unless it is a directory (not a symlink) owned by root that nobody else
/// may write to.
fn check_owned_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::io(format!("checking {}", dir.display()), e))?;
    let problem = if meta.file_type().is_symlink() {
        Some("it is a symbolic link".to_string())
    } else if !meta.is_dir() {
        Some("it is not a directory".to_string())
    } else if meta.uid() != 0 {
        Some(format!("it is owned by uid {}, not root", meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "others may write to it (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match problem {
        Some(why) => Err(Error::UnsafePinDir {
            path: dir.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

/// The directory holding every bond of network namespace `netns` under the pin root.
pub fn namespace_dir(root: &Path, netns: u64) -> PathBuf {
    root.join(format!("ns{netns}"))
}

/// Paths of one bond's pins.
#[derive(Clone, Debug)]
pub struct BondPaths {
    dir: PathBuf,
}

/// Pin name of the egress link on the bond.
const EGRESS_LINK: &str = "link_egress";
/// Prefix of the ingress links on members (followed by the member's ifindex).
const INGRESS_LINK_PREFIX: &str = "link_ingress_";

impl BondPaths {
    /// Paths for bond `name` under the namespace directory `ns_dir`.
    pub fn new(ns_dir: &Path, name: &str) -> BondPaths {
        BondPaths {
            dir: ns_dir.join(name),
        }
    }

    /// Paths for bond `name` in the calling thread's namespace.
    pub fn current(name: &str) -> Result<BondPaths> {
        Ok(BondPaths::new(
            &namespace_dir(&pin_root()?, netns_pin_id()?),
            name,
        ))
    }

    /// The bond's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bond's name (the directory name).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Whether the bond's directory exists.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Pin of map `name`.
    ///
    /// bpffs refuses names with dots, so the sections aya turns into maps (`.bss.cfg`) are
    /// pinned as `map_bss_cfg`.
    pub fn map(&self, name: &str) -> PathBuf {
        match name.strip_prefix('.') {
            Some(section) => self.dir.join(format!("map_{}", section.replace('.', "_"))),
            None => self.dir.join(name),
        }
    }

    /// Pin of program `name`.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(format!("prog_{name}"))
    }

    /// Pin of the bond's egress link.
    pub fn egress_link(&self) -> PathBuf {
        self.dir.join(EGRESS_LINK)
    }

    /// Pin of the ingress link on member `ifindex`.
    pub fn ingress_link(&self, ifindex: u32) -> PathBuf {
        self.dir.join(format!("{INGRESS_LINK_PREFIX}{ifindex}"))
    }

    /// Pin of the XDP link on `ifindex` (a member or a `--forward-from` interface).
    pub fn xdp_link(&self, ifindex: u32) -> PathBuf {
        self.dir.join(format!("link_xdp_{ifindex}"))
    }

    /// Every link pinned for this bond.
    pub fn links(&self) -> Vec<PathBuf> {
        self.entries()
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().starts_with("link_"))
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Everything in the bond's directory.
    pub fn entries(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }

    /// Creates the directory (and its parents).
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating {}", self.dir.display()), e))
    }

    /// Removes every pin and the directory itself (and the namespace directory if it is
    /// left empty).
    pub fn remove(&self) -> Result<()> {
        for entry in self.entries() {
            std::fs::remove_file(&entry)
                .map_err(|e| Error::io(format!("removing {}", entry.display()), e))?;
        }
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", self.dir.display()), e)),
        }
        // The namespace directory goes too once empty (remove_dir refuses else); bondxdp/
        // stays, see [`pin_root`].
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// The interface a pinned tcx or XDP link is attached to: `Some(0)` once that interface is
/// gone (deleted, or its network namespace with it), `None` if the pin cannot be read.
pub fn link_ifindex(pin: &Path) -> Option<u32> {
    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    let path = std::ffi::CString::new(pin.as_os_str().as_encoded_bytes()).ok()?;
    // union bpf_attr for BPF_OBJ_GET: pathname, bpf_fd, file_flags.
    let mut get = [0u64; 2];
    get[0] = path.as_ptr() as u64;
    // SAFETY: bpf(2) reads the attribute (16 bytes) and the NUL-terminated path it points at.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET, get.as_mut_ptr(), 16) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor bpf(2) just gave us.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_link_info: type, id, prog_id, then (8-byte aligned) the per-type union whose
    // tcx and xdp members start with the ifindex. Larger than the kernel's struct, zeroed.
    let mut info = [0u32; 32];
    let mut attr = [0u32; 4];
    attr[0] = fd.as_raw_fd() as u32;
    attr[1] = std::mem::size_of_val(&info) as u32;
    let ptr = info.as_mut_ptr() as u64;
    attr[2] = ptr as u32;
    attr[3] = (ptr >> 32) as u32;
    // SAFETY: bpf(2) writes at most info_len bytes into `info`.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, attr.as_mut_ptr(), 16) };
    (rc == 0).then_some(info[4])
}

/// A pinned bond none of whose links is attached any more: every interface it was attached
/// to is gone (its network namespace was deleted without `down`). Nothing is left to restore;
/// only its pins, holding programs and maps in kernel memory.
pub fn is_orphan(paths: &BondPaths) -> bool {
    let links = paths.links();
    !links.is_empty() && links.iter().all(|l| link_ifindex(l) == Some(0))
}

/// Frees the pins of every orphaned bond ([`is_orphan`]) of every network namespace; returns
/// their directories.
pub fn collect_orphans() -> Result<Vec<PathBuf>> {
    let root = pin_root()?;
    let mut freed = Vec::new();
    let dirs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let empty = |dir: &Path| std::fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_none());
    for ns in dirs(&root) {
        for bond in dirs(&ns) {
            if empty(&bond) {
                // Nothing pinned at all (an `up` interrupted before its first pin): under the
                // namespace's lock, which every `up` holds while it builds, it is no bond.
                let _ns_lock = lock_dir(&ns)?;
                if empty(&bond) && std::fs::remove_dir(&bond).is_ok() {
                    freed.push(bond);
                }
                continue;
            }
            let paths = BondPaths { dir: bond };
            if is_orphan(&paths) {
                let _lock = BondLock::acquire(&paths)?;
                // Checked again under the lock: a command may have been finishing it.
                if is_orphan(&paths) {
                    paths.remove()?;
                    freed.push(paths.dir);
                }
            }
        }
        // A namespace directory left with no bond goes too (its lock taken, as `up` would).
        if empty(&ns) {
            let _ns_lock = lock_dir(&ns)?;
            if empty(&ns) {
                let _ = std::fs::remove_dir(&ns);
            }
        }
    }
    Ok(freed)
}

/// Names of the bonds pinned for the calling thread's namespace.
pub fn list_bonds() -> Result<Vec<String>> {
    let dir = namespace_dir(&pin_root()?, netns_pin_id()?);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    Ok(names)
}

/// Takes an exclusive `flock` on a directory, blocking; released when dropped.
fn lock_dir(dir: &Path) -> Result<File> {
    let file = File::open(dir).map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    // SAFETY: valid open descriptor.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io(
            format!("locking {}", dir.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(file)
}

/// An exclusive lock serialising commands that create or remove bonds in one namespace
/// (released on drop). Taken on the namespace directory, which it creates if needed and
/// removes on release if no bond is left in it (a refused `up` leaves nothing behind).
pub struct NamespaceLock {
    _file: File,
    dir: PathBuf,
}

impl NamespaceLock {
    /// Blocks until the lock for the calling thread's namespace is ours.
    pub fn acquire() -> Result<NamespaceLock> {
        let dir = namespace_dir(&pin_root()?, netns_pin_id()?);
        loop {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            let file = lock_dir(&dir)?;
            // The holder before us may have removed the directory as it released it: then
            // the lock is on a directory nobody else will lock; start again.
            let locked = file
                .metadata()
                .map_err(|e| Error::io(format!("checking {}", dir.display()), e))?;
            match std::fs::symlink_metadata(&dir) {
                Ok(now) if now.ino() == locked.ino() && now.dev() == locked.dev() => {
                    return Ok(NamespaceLock { _file: file, dir });
                }
                _ => continue,
            }
        }
    }
}

impl Drop for NamespaceLock {
    fn drop(&mut self) {
        // Still locked here: nobody can be creating a bond in it.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// An exclusive lock on one bond, held by whoever rewrites its configuration or state
/// (`set`, `member`, the controller), so concurrent writers never interleave.
pub struct BondLock {
    _file: File,
}

impl BondLock {
    /// Blocks until the bond's lock is ours.
    pub fn acquire(paths: &BondPaths) -> Result<BondLock> {
        Ok(BondLock {
            _file: lock_dir(paths.dir())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_names_have_no_dots() {
        let paths = BondPaths::new(Path::new("/sys/fs/bpf/bondxdp/ns1"), "bond0");
        assert_eq!(
            paths.map(".bss.cfg"),
            Path::new("/sys/fs/bpf/bondxdp/ns1/bond0/map_bss_cfg")
        );
        assert_eq!(
            paths.map("MEMBER_STATS"),
            Path::new("/sys/fs/bpf/bondxdp/ns1/bond0/MEMBER_STATS")
        );
        assert_eq!(
            paths.program("egress_xor_l34"),
            Path::new("/sys/fs/bpf/bondxdp/ns1/bond0/prog_egress_xor_l34")
        );
    }
}
