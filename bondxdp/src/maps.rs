//! Typed access to one bond's maps: the only userspace code that touches them.
//!
//! * [`ConfigMap`]: the double-buffered [`BondConfig`]; [`ConfigMap::publish`] writes the
//!   spare slot and flips the index, so the data plane switches configurations atomically.
//! * [`BondMaps::member_stats`]/[`BondMaps::counters`]: per-CPU counters summed over CPUs.
//! * [`BondMaps::state`]: userspace's own pinned record of the bond ([`BondState`]).
//! * [`NatMaps`]: the multi-wan flow tables.

use std::time::Duration;

use aya::{
    Ebpf,
    maps::{Array, HashMap, Map, MapData, PerCpuArray},
};
use bondxdp_common::{
    BondConfig, Counter, MAX_MEMBERS, MemberStats,
    config::ConfigSlots,
    counters::UplinkSignals,
    multi_wan::{Addr, FlowEntry, FlowKey, HostEntry, NatEntry},
    records::{BOND_STATE_MAGIC, BOND_STATE_VERSION, BondState, LacpRecord, UplinkHealth},
};

use crate::{
    error::{Error, Result},
    pins::BondPaths,
};

/// Map names as declared in the eBPF object (also their pin names).
pub mod names {
    /// Double-buffered configuration (a global of the programs, in its own section).
    pub const BOND_CONFIG: &str = ".bss.cfg";
    /// Index of the live configuration slot (likewise).
    pub const CONFIG_INDEX: &str = ".data.cfgidx";
    /// Per-member per-CPU traffic counters.
    pub const MEMBER_STATS: &str = "MEMBER_STATS";
    /// Per-CPU drop/event counters.
    pub const COUNTERS: &str = "COUNTERS";
    /// balance-rr's per-CPU place in the round.
    pub const RR_COUNTER: &str = "RR_COUNTER";
    /// Userspace's record of the bond.
    pub const BOND_STATE: &str = "BOND_STATE";
    /// multi-wan flow table.
    pub const NAT_FLOWS: &str = "NAT_FLOWS";
    /// multi-wan NAT (reply) table.
    pub const NAT_TABLE: &str = "NAT_TABLE";
    /// multi-wan sticky hosts.
    pub const NAT_HOSTS: &str = "NAT_HOSTS";
    /// multi-wan per-uplink passive signals.
    pub const UPLINK_SIGNALS: &str = "UPLINK_SIGNALS";
    /// multi-wan: the controller's verdict per uplink.
    pub const UPLINK_HEALTH: &str = "UPLINK_HEALTH";
    /// custom mode: the selection context (shared with the user's program).
    pub const SELECT_CTX: &str = bondxdp_common::modes::custom::SELECT_CTX;
    /// custom mode: the user's program and `custom_finish` (shared likewise).
    pub const SELECT_PROGS: &str = bondxdp_common::modes::custom::SELECT_PROGS;
    /// The maps of [`super::BondMaps`].
    pub const ALL: [&str; 11] = [
        BOND_CONFIG,
        CONFIG_INDEX,
        MEMBER_STATS,
        COUNTERS,
        RR_COUNTER,
        BOND_STATE,
        NAT_FLOWS,
        NAT_TABLE,
        NAT_HOSTS,
        UPLINK_SIGNALS,
        UPLINK_HEALTH,
    ];
    /// The custom mode's maps, shared with the user's selection program.
    pub const CUSTOM: [&str; 2] = [SELECT_CTX, SELECT_PROGS];
    /// balance-alb's client table.
    pub const ALB_CLIENTS: &str = bondxdp_common::modes::alb::CLIENTS_MAP;
}

/// How long a just-retired configuration slot stays untouched before it may be rewritten.
/// Programs hold a pointer to a slot only while they process one packet (microseconds, under
/// RCU, not preemptible); this is orders of magnitude more.
const SLOT_QUIESCE_NS: u64 = 1_000_000;

/// CLOCK_MONOTONIC now, in nanoseconds (the clock eBPF's `bpf_ktime_get_ns` reads).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The double-buffered configuration: two slots and the index of the live one, globals of
/// the eBPF programs (one-entry array maps).
pub struct ConfigMap {
    slots: Array<MapData, ConfigSlots>,
    index: Array<MapData, u32>,
}

impl ConfigMap {
    /// The live configuration, or `None` if none was published yet.
    pub fn current(&self) -> Result<Option<BondConfig>> {
        let index = self.index.get(&0, 0)?;
        let cfg = self.slots.get(&0, 0)?.slots[(index & 1) as usize];
        Ok((cfg.generation != 0).then_some(cfg))
    }

    /// Makes `cfg` the live configuration in one atomic step: writes it to the spare slot
    /// with the next generation number (rewriting the live slot with the bytes it already
    /// has), then points the index at it. Returns the generation. Callers that may race with
    /// other writers hold the bond's [`crate::pins::BondLock`].
    pub fn publish(&mut self, mut cfg: BondConfig) -> Result<u64> {
        let live = (self.index.get(&0, 0)? & 1) as usize;
        let mut slots = self.slots.get(&0, 0)?;
        let previous = slots.slots[live];
        cfg.generation = previous.generation + 1;
        // Derived from the mode alone: right whoever built `cfg`.
        cfg.derive_fast_path();
        // The spare slot was live until `previous` was published; let its readers drain.
        let since = monotonic_ns().saturating_sub(previous.published_ns);
        if since < SLOT_QUIESCE_NS {
            std::thread::sleep(Duration::from_nanos(SLOT_QUIESCE_NS - since));
        }
        cfg.published_ns = monotonic_ns();
        let spare = live ^ 1;
        slots.slots[spare] = cfg;
        self.slots.set(0, slots, 0)?;
        self.index.set(0, spare as u32, 0)?;
        Ok(cfg.generation)
    }
}

/// The multi-wan tables (present, with a token size, in every bond).
pub struct NatMaps {
    /// Inside flow -> uplink and translated port.
    pub flows: HashMap<MapData, FlowKey, FlowEntry>,
    /// Reply tuple -> inside address and port.
    pub table: HashMap<MapData, FlowKey, NatEntry>,
    /// Sticky hosts.
    pub hosts: HashMap<MapData, Addr, HostEntry>,
    signals: PerCpuArray<MapData, UplinkSignals>,
    health: Array<MapData, UplinkHealth>,
}

impl NatMaps {
    /// The controller's last verdict on the uplink in `slot`.
    pub fn health(&self, slot: usize) -> Result<UplinkHealth> {
        Ok(self.health.get(&(slot as u32), 0)?)
    }

    /// Records the controller's verdict on the uplink in `slot`.
    pub fn set_health(&mut self, slot: usize, health: UplinkHealth) -> Result<()> {
        self.health.set(slot as u32, health, 0)?;
        Ok(())
    }

    /// Passive signals of the uplink in `slot`, summed over CPUs.
    pub fn signals(&self, slot: usize) -> Result<UplinkSignals> {
        let mut total = UplinkSignals::default();
        for v in self.signals.get(&(slot as u32), 0)?.iter() {
            total.add(v);
        }
        Ok(total)
    }
}

/// All maps of one bond.
pub struct BondMaps {
    /// The configuration the data plane acts on.
    pub config: ConfigMap,
    member_stats: PerCpuArray<MapData, MemberStats>,
    counters: PerCpuArray<MapData, u64>,
    state: Array<MapData, BondState>,
    /// The multi-wan tables.
    pub nat: NatMaps,
}

impl BondMaps {
    /// Takes the maps out of a freshly loaded object.
    pub fn from_ebpf(ebpf: &mut Ebpf) -> Result<BondMaps> {
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| Error::Ebpf(format!("map {name} missing from the eBPF object")))
        };
        Self::from_maps(names::ALL.map(&mut take).try_into_array()?)
    }

    /// Opens the maps pinned for a bond.
    pub fn open(paths: &BondPaths) -> Result<BondMaps> {
        let open = |name: &str| -> Result<Map> {
            let data = MapData::from_pin(paths.map(name))?;
            Ok(Map::from_map_data(data)?)
        };
        Self::from_maps(names::ALL.map(open).try_into_array()?)
    }

    fn from_maps(maps: [Map; names::ALL.len()]) -> Result<BondMaps> {
        let [
            config,
            index,
            member_stats,
            counters,
            // Pinned for diagnostics (bpftool); userspace has no use for it.
            _rr_cursor,
            state,
            nat_flows,
            nat_table,
            nat_hosts,
            signals,
            health,
        ] = maps;
        Ok(BondMaps {
            config: ConfigMap {
                slots: Array::try_from(config)?,
                index: Array::try_from(index)?,
            },
            member_stats: PerCpuArray::try_from(member_stats)?,
            counters: PerCpuArray::try_from(counters)?,
            state: Array::try_from(state)?,
            nat: NatMaps {
                flows: HashMap::try_from(nat_flows)?,
                table: HashMap::try_from(nat_table)?,
                hosts: HashMap::try_from(nat_hosts)?,
                signals: PerCpuArray::try_from(signals)?,
                health: Array::try_from(health)?,
            },
        })
    }

    /// Traffic through the member in `slot`, summed over CPUs.
    pub fn member_stats(&self, slot: usize) -> Result<MemberStats> {
        let per_cpu = self.member_stats.get(&(slot as u32), 0)?;
        let mut total = MemberStats::default();
        for v in per_cpu.iter() {
            total.add(v);
        }
        Ok(total)
    }

    /// Zeroes the counters of `slot` (when a member takes a slot).
    pub fn reset_member_stats(&mut self, slot: usize) -> Result<()> {
        let zeros = aya::maps::PerCpuValues::try_from(vec![
            MemberStats::default();
            aya::util::nr_cpus().map_err(
                |(_, e)| Error::io("counting CPUs", e)
            )?
        ])
        .map_err(|e| Error::io("building per-CPU values", e))?;
        self.member_stats.set(slot as u32, zeros, 0)?;
        Ok(())
    }

    /// Value of one named counter, summed over CPUs ([`Counter::XdpForwarded`]: and over
    /// the members, which count most of it).
    pub fn counter(&self, counter: Counter) -> Result<u64> {
        let mut total = self.counters.get(&(counter as u32), 0)?.iter().sum();
        if counter == Counter::XdpForwarded {
            for stats in self.all_member_stats()? {
                total += stats.xdp_forwarded;
            }
        }
        Ok(total)
    }

    /// Every named counter with its value.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>> {
        Counter::ALL
            .iter()
            .map(|c| Ok((*c, self.counter(*c)?)))
            .collect()
    }

    /// Userspace's record of the bond, if written.
    pub fn state(&self) -> Result<Option<BondState>> {
        let state = self.state.get(&0, 0)?;
        match (state.magic, state.version) {
            (0, _) => Ok(None),
            (BOND_STATE_MAGIC, BOND_STATE_VERSION) => Ok(Some(state)),
            _ => Err(Error::Ebpf(format!(
                "bond state has version {} (expected {BOND_STATE_VERSION})",
                state.version
            ))),
        }
    }

    /// Writes userspace's record of the bond (bumping its generation).
    pub fn set_state(&mut self, mut state: BondState) -> Result<()> {
        state.magic = BOND_STATE_MAGIC;
        state.version = BOND_STATE_VERSION;
        state.generation = state.generation.wrapping_add(1);
        self.state.set(0, state, 0)?;
        Ok(())
    }

    /// Changes the LACP record in userspace's state in place, without bumping its
    /// generation (the controller's own bookkeeping is no option change). The caller holds
    /// the bond's [`crate::pins::BondLock`], so no `set` interleaves.
    pub fn update_lacp(&mut self, f: impl FnOnce(&mut LacpRecord)) -> Result<()> {
        let Some(mut state) = self.state()? else {
            return Ok(());
        };
        f(&mut state.lacp);
        self.state.set(0, state, 0)?;
        Ok(())
    }

    /// Sums of traffic over every slot (for totals).
    pub fn all_member_stats(&self) -> Result<[MemberStats; MAX_MEMBERS]> {
        let mut out = [MemberStats::default(); MAX_MEMBERS];
        for (slot, stats) in out.iter_mut().enumerate() {
            *stats = self.member_stats(slot)?;
        }
        Ok(out)
    }
}

/// `[Result<T>; N]` -> `Result<[T; N]>`.
trait TryIntoArray<T, const N: usize> {
    fn try_into_array(self) -> Result<[T; N]>;
}

impl<T, const N: usize> TryIntoArray<T, N> for [Result<T>; N] {
    fn try_into_array(self) -> Result<[T; N]> {
        let items: Vec<T> = self.into_iter().collect::<Result<_>>()?;
        Ok(items
            .try_into()
            .unwrap_or_else(|_| unreachable!("same length")))
    }
}

/// Fixed-size NUL-padded interface name from a string (truncated to 15 bytes).
pub fn name_bytes<const N: usize>(name: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = name.len().min(N - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// String from a NUL-padded interface name.
pub fn name_string<const N: usize>(bytes: &[u8; N]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Deletes entry `index` of `map` (`BPF_MAP_DELETE_ELEM`), for map types whose aya wrapper
/// cannot (array devmaps).
pub fn delete_index(map: &aya::maps::MapData, index: u32) -> std::io::Result<()> {
    use std::os::fd::{AsFd, AsRawFd};
    /// The `bpf_attr` of BPF_MAP_DELETE_ELEM.
    #[repr(C)]
    struct MapElem {
        map_fd: u32,
        pad: u32,
        key: u64,
    }
    const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
    let attr = MapElem {
        map_fd: map.fd().as_fd().as_raw_fd() as u32,
        pad: 0,
        key: &index as *const u32 as u64,
    };
    // The key points at a live u32 (the map's key size).
    bpf_syscall(BPF_MAP_DELETE_ELEM, &attr).map(drop)
}

/// The `bpf(2)` system call with command `cmd` and attribute block `attr` (a `bpf_attr`
/// prefix, fully initialised), for what aya does not wrap. Returns its non-negative result.
pub fn bpf_syscall<T>(cmd: libc::c_long, attr: &T) -> std::io::Result<libc::c_long> {
    // SAFETY: the kernel reads `size_of::<T>()` bytes of `attr`, which the caller built as
    // the command's attribute block; pointers in it are the caller's to keep valid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(name_string(&name_bytes::<16>("bond0")), "bond0");
        assert_eq!(
            name_string(&name_bytes::<16>("exactly15chars!")),
            "exactly15chars!"
        );
        assert_eq!(
            name_string(&name_bytes::<16>("longer-than-fifteen")),
            "longer-than-fif"
        );
    }
}
