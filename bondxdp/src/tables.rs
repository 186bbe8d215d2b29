//! Tables sized to the bond's mode: kernel memory is taken only for what the mode reads.
//!
//! LRU hash maps allocate every entry when they are created, whether or not a packet ever
//! uses them. The big one is the flowlet table (load-aware, balance-tlb, balance-alb: 65,536
//! flows, ~5.8 MB): it lives in slot 0 of a one-slot array of maps (`FLOWLET_TABLE`), so it
//! can be put in when the bond starts or changes to a mode that reads it, and taken out
//! (freed) when it changes to one that does not. The programs look the slot up for every
//! flow, so the swap needs no program to be reloaded. The multi-wan tables are sized when
//! the bond is created (a bond never changes between multi-wan and link aggregation).
//!
//! Order on a mode change: the table goes in before the configuration of a mode that reads
//! it is published, and comes out only after the bond runs a mode that does not (see
//! [`crate::bond`]'s `commit`). A program that found the table an instant before it was
//! taken out still holds it safely: the kernel frees an inner map only after every program
//! that could have looked it up is done.

use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};

use aya::maps::{ArrayOfMaps, Map, MapData, MapError};

use bondxdp_common::{Mode, modes::load_aware::FLOWLET_ENTRIES};

use crate::{
    error::{Error, Result},
    pins::BondPaths,
};

/// The pinned one-slot array of maps that holds the flowlet table.
pub const FLOWLET_TABLE: &str = "FLOWLET_TABLE";

/// Whether `mode`'s programs read the flowlet table.
pub fn uses_flowlets(mode: Mode) -> bool {
    matches!(mode, Mode::LoadAware | Mode::BalanceTlb | Mode::BalanceAlb)
}

/// Kernel memory a flowlet table of `entries` takes: key and value rounded to 8 bytes each,
/// plus the kernel's element header with its LRU node (64 bytes: 88 per entry, as bpftool
/// reports the map's memlock on 6.18).
pub fn flowlet_table_bytes(entries: u32) -> u64 {
    use bondxdp_common::modes::load_aware::Flowlet;
    let elem = 64 + 4usize.next_multiple_of(8) + size_of::<Flowlet>().next_multiple_of(8);
    entries as u64 * elem as u64
}

/// The bond's flowlet slot.
struct FlowletSlot {
    outer: ArrayOfMaps<MapData, MapData>,
    /// The outer map's descriptor again, for the one call aya does not wrap (delete).
    fd: OwnedFd,
}

impl FlowletSlot {
    /// The pinned slot of the bond, or `None` for a bond brought up by a bondxdp whose
    /// flowlet table was a plain map of fixed size (nothing to fit then).
    fn open(paths: &BondPaths) -> Result<Option<FlowletSlot>> {
        let pin = paths.map(FLOWLET_TABLE);
        if !pin.exists() {
            return Ok(None);
        }
        FlowletSlot::new(MapData::from_pin(&pin)?).map(Some)
    }

    /// The slot of a loaded object (not pinned: tests).
    fn of(ebpf: &aya::Ebpf) -> Result<FlowletSlot> {
        let Some(Map::ArrayOfMaps(data)) = ebpf.map(FLOWLET_TABLE) else {
            return Err(Error::Ebpf(format!(
                "map {FLOWLET_TABLE} missing from the eBPF object"
            )));
        };
        let fd = data
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::io("duplicating a map descriptor", e))?;
        FlowletSlot::new(MapData::from_fd(fd)?)
    }

    fn new(data: MapData) -> Result<FlowletSlot> {
        let fd = data
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::io("duplicating a map descriptor", e))?;
        let outer = ArrayOfMaps::try_from(Map::ArrayOfMaps(data))?;
        Ok(FlowletSlot { outer, fd })
    }

    /// Entries of the table in the slot (`None`: empty).
    fn installed(&self) -> Result<Option<u32>> {
        match self.outer.get(&0, 0) {
            Ok(inner) => Ok(Some(inner.info()?.max_entries())),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts a fresh table of [`FLOWLET_ENTRIES`] in the slot.
    fn install(&mut self) -> Result<()> {
        use bondxdp_common::modes::load_aware::Flowlet;
        let obj = aya_obj::Map::new_from_params(
            aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_LRU_HASH as u32,
            size_of::<u32>() as u32,
            size_of::<Flowlet>() as u32,
            FLOWLET_ENTRIES,
            0,
        );
        let table = MapData::create(obj, "FLOWLETS", None)?;
        self.outer.set(0, &table, 0)?;
        Ok(())
    }

    /// Empties the slot; the kernel frees the table once no program holds it.
    fn remove(&mut self) -> Result<()> {
        let fd = self.fd.as_raw_fd();
        let key = 0u32;
        // union bpf_attr for BPF_MAP_DELETE_ELEM: map_fd (u32), pad, key (u64 pointer).
        let mut attr = [0u64; 3];
        attr[0] = fd as u32 as u64;
        attr[1] = &key as *const u32 as u64;
        const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
        // SAFETY: a valid attr of the size given, pointing at a live key.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_DELETE_ELEM,
                attr.as_mut_ptr(),
                size_of_val(&attr),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOENT) {
                return Err(Error::io("emptying the flowlet slot", e));
            }
        }
        Ok(())
    }
}

/// Entries of the bond's flowlet table, `None` if it has none (or an older bond's fixed one).
pub fn flowlet_entries(paths: &BondPaths) -> Result<Option<u32>> {
    match FlowletSlot::open(paths)? {
        Some(slot) => slot.installed(),
        None => Ok(None),
    }
}

/// Gives the bond exactly the tables `mode` reads: puts a flowlet table in if it reads one
/// and has none, takes it out if it does not. Returns the flowlet table's entries afterwards
/// (0: none).
pub fn fit(paths: &BondPaths, mode: Mode) -> Result<u32> {
    match FlowletSlot::open(paths)? {
        Some(mut slot) => slot.fit(mode),
        None => Ok(0),
    }
}

/// [`fit`] for a loaded object that is not pinned (BPF_PROG_TEST_RUN tests).
pub fn fit_loaded(ebpf: &aya::Ebpf, mode: Mode) -> Result<u32> {
    FlowletSlot::of(ebpf)?.fit(mode)
}

impl FlowletSlot {
    /// Puts a table in if `mode` reads one and there is none; takes it out if it does not.
    fn fit(&mut self, mode: Mode) -> Result<u32> {
        match (uses_flowlets(mode), self.installed()?) {
            (true, Some(n)) => Ok(n),
            (true, None) => {
                self.install()?;
                Ok(FLOWLET_ENTRIES)
            }
            (false, Some(_)) => {
                self.remove()?;
                Ok(0)
            }
            (false, None) => Ok(0),
        }
    }
}
