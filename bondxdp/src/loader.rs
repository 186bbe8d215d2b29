//! Loading bondxdp's eBPF object and wiring it to interfaces: one object per bond, its maps
//! and programs pinned in the bond's bpffs directory, its tcx links pinned too, so the data
//! plane keeps working with no bondxdp process alive.

use std::path::Path;

use aya::{
    Ebpf, EbpfLoader,
    maps::ProgramArray,
    programs::{
        LinkOrder, SchedClassifier, TcAttachType,
        links::{FdLink, PinnedLink},
        tc::TcAttachOptions,
    },
};

use bondxdp_common::modes::custom::{FINISH_SLOT, SELECT_PROGS};

use crate::{
    error::{Error, Result},
    maps::names,
    pins::BondPaths,
};

/// The compiled eBPF object, embedded at build time (bondxdp/build.rs).
pub static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bondxdp-ebpf"));

/// The custom mode's example selection programs (examples/select-program): `weighted_hash`,
/// and the test fixtures `last_member` and `out_of_range`. `bondxdp example-select-program
/// FILE` writes it out.
pub static EXAMPLE_SELECT_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bondxdp-select-example"));

/// The controller's carrier watch (bondxdp-ebpf/src/carrier.rs): fexit programs on the
/// kernel's carrier functions, loaded once per `bondxdp run` ([`crate::controller::carrier`]).
pub static CARRIER_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bondxdp-carrier"));

/// Benchmark only (bench/ebpf): the programs `cargo xtask bench` measures the data plane
/// against (`bench_floor`, `bench_xdp_floor`, `bench_xdp_redirect_map`, `bench_xdp_pass`) and
/// the far end of its forwarding section (`bench_xdp_sink`). Never loaded by bondxdp itself;
/// kept out of [`EBPF_OBJECT`], which carries only what a bond runs.
pub static BENCH_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bondxdp-bench-ebpf"));

/// Program names in the object.
pub mod programs {
    pub use bondxdp_common::modes::{
        CUSTOM_FINISH, EGRESS_PROGRAMS, MEMBER_INGRESS,
        MULTI_WAN_EGRESS as MULTI_WAN_EGRESS_PROGRAM, MULTI_WAN_INGRESS, ingress_program_for,
        program_for,
    };

    /// Every program a bond uses: the ingress programs and one egress program per selector.
    pub fn all() -> impl Iterator<Item = &'static str> {
        [MEMBER_INGRESS, MULTI_WAN_INGRESS, CUSTOM_FINISH]
            .into_iter()
            .chain(EGRESS_PROGRAMS)
    }
}

/// The multi-wan fragment table (not pinned: the programs keep it alive): datagrams whose
/// later fragments are in flight at once. Other modes get the object's token size.
const NAT_FRAGS: &str = "NAT_FRAGS";
/// Its size in multi-wan bonds.
const MULTI_WAN_FRAGMENTS: u32 = 4096;

/// Loads a fresh copy of the object and its programs into the kernel (maps created, nothing
/// attached or pinned), with the multi-wan tables at their token size.
pub fn load() -> Result<Ebpf> {
    load_sized(0)
}

/// [`load`], with room for `max_flows` flows in the multi-wan tables (0: the token size the
/// other modes get). LRU maps allocate every entry up front: see [`flow_table_bytes`].
pub fn load_sized(max_flows: u32) -> Result<Ebpf> {
    let mut loader = EbpfLoader::new();
    // The XDP route caches hold a set of slots for every CPU that may come online.
    let cpus =
        aya::util::nr_cpus().map_err(|(_, e)| Error::io("counting the possible CPUs", e))? as u32;
    let slots = cpus * bondxdp_common::fast_path::ROUTE_CACHE_SLOTS;
    loader
        .map_max_entries(crate::fast_path::ROUTES4, slots)
        .map_max_entries(crate::fast_path::ROUTES6, slots)
        .map_max_entries(
            crate::fast_path::LAST_ROUTES,
            cpus * bondxdp_common::fast_path::LAST_ROUTES_PER_CPU,
        );
    if max_flows > 0 {
        loader
            .map_max_entries(crate::maps::names::NAT_FLOWS, max_flows)
            .map_max_entries(crate::maps::names::NAT_TABLE, max_flows)
            .map_max_entries(crate::maps::names::NAT_HOSTS, (max_flows / 4).max(64))
            .map_max_entries(NAT_FRAGS, MULTI_WAN_FRAGMENTS);
    }
    let mut ebpf = loader.load(EBPF_OBJECT)?;
    for name in programs::all() {
        classifier(&mut ebpf, name)?.load()?;
    }
    crate::fast_path::load(&mut ebpf)?;
    Ok(ebpf)
}

/// Approximate kernel memory the multi-wan tables take for `max_flows` flows: each flow has
/// an entry in the flow table and one in the NAT table (key, value and the kernel's ~56-byte
/// element header each), and hosts take a quarter as many.
pub fn flow_table_bytes(max_flows: u32) -> u64 {
    use bondxdp_common::multi_wan::{FlowEntry, FlowKey, HostEntry, NatEntry};
    let elem = |k: usize, v: usize| (56 + k.next_multiple_of(8) + v.next_multiple_of(8)) as u64;
    let flows = elem(size_of::<FlowKey>(), size_of::<FlowEntry>())
        + elem(size_of::<FlowKey>(), size_of::<NatEntry>());
    let hosts = elem(16, size_of::<HostEntry>());
    max_flows as u64 * flows + (max_flows as u64 / 4).max(64) * hosts
}

/// The egress program for `mode` and `policy`, or an error for modes without a data plane.
pub fn egress_program(
    mode: bondxdp_common::Mode,
    policy: bondxdp_common::HashPolicy,
) -> Result<&'static str> {
    programs::program_for(mode, policy)
        .ok_or_else(|| Error::invalid("mode", format!("{} has no data plane yet", mode.name())))
}

/// Points the bond's pinned egress link at another pinned program, atomically
/// (`BPF_LINK_UPDATE`): packets see the old program or the new one, never neither.
pub fn swap_egress(paths: &BondPaths, program: &str) -> Result<()> {
    let pinned = PinnedLink::from_pin(paths.egress_link())?;
    let link: aya::programs::tc::SchedClassifierLink = FdLink::from(pinned).try_into()?;
    let mut new = pinned_program(paths, program)?;
    new.attach_to_link(link)?;
    Ok(())
}

/// The tc program `name` of a loaded object.
pub fn classifier<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut SchedClassifier> {
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::Ebpf(format!("program {name} missing from the eBPF object")))?;
    Ok(program.try_into()?)
}

/// Pins the object's maps and programs into the bond's directory (with `custom_finish` in
/// its slot of the custom mode's program array, so a selection program can be added later).
pub fn pin(ebpf: &mut Ebpf, paths: &BondPaths) -> Result<()> {
    install_finish(ebpf)?;
    for name in names::ALL
        .into_iter()
        .chain(names::CUSTOM)
        .chain([names::ALB_CLIENTS, crate::tables::FLOWLET_TABLE])
        .chain(crate::fast_path::MAPS)
    {
        ebpf.map(name)
            .ok_or_else(|| Error::Ebpf(format!("map {name} missing from the eBPF object")))?
            .pin(paths.map(name))?;
    }
    for name in programs::all() {
        classifier(ebpf, name)?.pin(paths.program(name))?;
    }
    for name in crate::fast_path::programs() {
        crate::fast_path::xdp(ebpf, name)?.pin(paths.program(name))?;
    }
    Ok(())
}

/// Puts bondxdp's own `custom_finish` (from the bond's freshly loaded object) into its slot.
fn install_finish(ebpf: &mut Ebpf) -> Result<()> {
    let name = bondxdp_common::modes::CUSTOM_FINISH;
    let fd = classifier(ebpf, name)?
        .fd()?
        .try_clone()
        .map_err(|e| Error::io("duplicating a program descriptor", e))?;
    let map = ebpf
        .map_mut(SELECT_PROGS)
        .ok_or_else(|| Error::Ebpf(format!("map {SELECT_PROGS} missing from the eBPF object")))?;
    let mut progs = ProgramArray::try_from(map)?;
    progs.set(FINISH_SLOT, &fd, 0)?;
    Ok(())
}

/// Opens a pinned program of a bond (to attach it to a new member).
pub fn pinned_program(paths: &BondPaths, name: &str) -> Result<SchedClassifier> {
    Ok(SchedClassifier::from_pin(paths.program(name))?)
}

/// Attaches `program` to `iface` through tcx and pins the link at `link_pin`.
pub fn attach_and_pin(
    program: &mut SchedClassifier,
    iface: &str,
    direction: TcAttachType,
    link_pin: &Path,
) -> Result<()> {
    let id = program.attach_with_options(
        iface,
        direction,
        TcAttachOptions::TcxOrder(LinkOrder::default()),
    )?;
    let link: FdLink = program.take_link(id)?.try_into()?;
    link.pin(link_pin)?;
    Ok(())
}

/// Detaches a pinned link by removing its pin (the kernel detaches once the last reference
/// is gone). A missing pin is not an error.
pub fn unpin_link(link_pin: &Path) -> Result<()> {
    match PinnedLink::from_pin(link_pin) {
        Ok(link) => {
            let fd = link
                .unpin()
                .map_err(|e| Error::io(format!("removing {}", link_pin.display()), e))?;
            drop(fd);
            Ok(())
        }
        Err(aya::programs::links::LinkError::SyscallError(e))
            if e.io_error.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Names of the tcx programs attached to `iface` in `direction` (for checks and tests).
pub fn attached_programs(iface: &str, direction: TcAttachType) -> Result<Vec<String>> {
    let (_, infos) = SchedClassifier::query_tcx(iface, direction)?;
    Ok(infos
        .iter()
        .map(|i| i.name_as_str().unwrap_or("?").to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn flow_table_memory_estimate() {
        // Measured on kernel 6.18: 524,288 flows took 162 MB.
        let mb = super::flow_table_bytes(524_288) as f64 / 1e6;
        assert!((140.0..=180.0).contains(&mb), "{mb} MB");
    }
}
