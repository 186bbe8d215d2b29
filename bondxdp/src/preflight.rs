//! Checks run before a command changes anything: privileges, a usable bpf() syscall, bpffs.

use crate::error::{Error, Result};

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The calling thread's effective capability set.
fn effective_caps() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status")
        .map_err(|e| Error::io("reading /proc/thread-self/status", e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| Error::io("parsing CapEff", std::io::ErrorKind::InvalidData.into()))
}

/// Fails with [`Error::NotRoot`] without CAP_NET_ADMIN, and with [`Error::BpfUnavailable`]
/// when the bpf() syscall cannot create a map (no CAP_BPF/CAP_SYS_ADMIN, or no BPF at all).
pub fn check_privileges() -> Result<()> {
    let caps = effective_caps()?;
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        return Err(Error::NotRoot);
    }
    if caps & ((1 << CAP_BPF) | (1 << CAP_SYS_ADMIN)) == 0 {
        return Err(Error::BpfUnavailable(
            "the process has neither CAP_BPF nor CAP_SYS_ADMIN".into(),
        ));
    }
    probe_bpf()
}

/// Creates (and closes) a one-entry array map: the cheapest proof that bpf() works here.
fn probe_bpf() -> Result<()> {
    #[repr(C)]
    struct MapCreate {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
    }
    const BPF_MAP_CREATE: libc::c_long = 0;
    const BPF_MAP_TYPE_ARRAY: u32 = 2;
    let attr = MapCreate {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        map_flags: 0,
    };
    let fd = crate::maps::bpf_syscall(BPF_MAP_CREATE, &attr)
        .map_err(|err| Error::BpfUnavailable(format!("bpf(BPF_MAP_CREATE) failed: {err}")))?;
    // SAFETY: closing the descriptor we just got.
    unsafe { libc::close(fd as i32) };
    Ok(())
}
