//! The XDP fast path (`--forward-from`): the mode's `xdp_lan_*` program on each LAN-side
//! interface (swapped with the egress program when the mode changes), `xdp_member` on each
//! member, and the devmaps they redirect through (`FWD_MEMBERS`: the members by slot;
//! `FWD_PORTS`: the LAN-side interfaces by ifindex; `FWD_BCAST`: the members, for broadcast
//! mode). Links are pinned in the bond's directory like the tcx ones, so `down` (which
//! removes the directory) detaches them, and they outlive the process that attached them.

use std::path::Path;

use aya::{
    Ebpf,
    maps::{
        Array, Map, MapData,
        xdp::{DevMap, DevMapHash},
    },
    programs::{
        Xdp,
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpMode},
    },
};
use aya_obj::programs::XdpAttachType;
use tracing::warn;

use bondxdp_common::fast_path::RouteCache;

use crate::{
    error::{Error, Result},
    pins::BondPaths,
};

pub use bondxdp_common::fast_path::{
    XDP_LAN_PASS, XDP_LAN_PROGRAMS, XDP_MEMBER, lan_program_for as lan_program,
};

/// Devmap of the LAN-side interfaces, by ifindex.
pub const FWD_PORTS: &str = "FWD_PORTS";
/// Devmap (array) of the members, by slot.
pub const FWD_MEMBERS: &str = "FWD_MEMBERS";
/// Devmap of the members, for broadcast mode.
pub const FWD_BCAST: &str = "FWD_BCAST";
/// The IPv4 route cache (slots of every CPU in one array; sized by the loader).
pub const ROUTES4: &str = "ROUTES4";
/// The IPv6 route cache.
pub const ROUTES6: &str = "ROUTES6";
/// Per CPU and direction, the route cache slot the last frame used (sized by the loader).
pub const LAST_ROUTES: &str = "LAST_ROUTES";
/// The fast path's maps (pinned with the bond's).
pub const MAPS: [&str; 4] = [FWD_PORTS, FWD_MEMBERS, FWD_BCAST, ROUTE_CACHE];
/// The route cache's epoch (a global of the programs, in its own section): incremented on
/// every route, rule, neighbour or address change, it retires every cached FIB answer.
pub const ROUTE_CACHE: &str = ".bss.routes";

/// Every XDP program, for loading and pinning: the LAN-side ones (one per mode) and
/// `xdp_member`.
pub fn programs() -> impl Iterator<Item = &'static str> {
    XDP_LAN_PROGRAMS.into_iter().chain([XDP_MEMBER])
}

/// Loads every XDP program of a freshly loaded object.
pub fn load(ebpf: &mut Ebpf) -> Result<()> {
    for name in programs() {
        xdp(ebpf, name)?.load()?;
    }
    Ok(())
}

/// The XDP program `name` of a loaded object.
pub fn xdp<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp> {
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::Ebpf(format!("program {name} missing from the eBPF object")))?;
    Ok(program.try_into()?)
}

/// A bond's pinned XDP program.
pub fn pinned(paths: &BondPaths, name: &str) -> Result<Xdp> {
    Ok(Xdp::from_pin(
        paths.program(name),
        XdpAttachType::Interface,
    )?)
}

/// Attaches `program` to `ifindex` (native mode, else generic with a warning) and pins the
/// link at `pin`. Returns whether it runs in generic mode.
pub fn attach(program: &mut Xdp, iface: &str, ifindex: u32, pin: &Path) -> Result<bool> {
    let (id, generic) = match program.attach_to_if_index(ifindex, XdpMode::Driver) {
        Ok(id) => (id, false),
        Err(native) => match program.attach_to_if_index(ifindex, XdpMode::Skb) {
            Ok(id) => {
                warn!(
                    iface,
                    "no native XDP ({native}); the fast path runs in generic (skb) mode, \
                     which saves less"
                );
                (id, true)
            }
            Err(e) => {
                return Err(Error::invalid(
                    "forward_from",
                    format!(
                        "cannot attach XDP to {iface}: {e} (another XDP program on it? \
                         `ip link show {iface}` says)"
                    ),
                ));
            }
        },
    };
    let link: FdLink = program.take_link(id)?.try_into()?;
    link.pin(pin)?;
    Ok(generic)
}

/// Points the pinned XDP link of LAN-side interface `ifindex` at the pinned program
/// `name`, atomically (`BPF_LINK_UPDATE`), as the egress link is swapped on a mode change.
pub fn swap(paths: &BondPaths, ifindex: u32, name: &str) -> Result<()> {
    let pinned_link = PinnedLink::from_pin(paths.xdp_link(ifindex))?;
    let link: XdpLink = FdLink::from(pinned_link).try_into()?;
    pinned(paths, name)?.attach_to_link(link)?;
    Ok(())
}

/// The pinned hash devmap `name` of a bond.
fn devmap(paths: &BondPaths, name: &str) -> Result<DevMapHash<MapData>> {
    let data = MapData::from_pin(paths.map(name))?;
    Ok(DevMapHash::try_from(Map::DevMapHash(data))?)
}

/// A bond's pinned members' devmap (an array, by slot).
fn members_devmap(paths: &BondPaths) -> Result<DevMap<MapData>> {
    let data = MapData::from_pin(paths.map(FWD_MEMBERS))?;
    Ok(DevMap::try_from(Map::DevMap(data))?)
}

/// A devmap update's error, as ours.
fn devmap_error(e: aya::maps::xdp::XdpMapError) -> Error {
    Error::Ebpf(format!("devmap: {e}"))
}

/// Lets frames routed out of LAN-side interface `ifindex` leave through it.
pub fn add_lan_port(paths: &BondPaths, ifindex: u32) -> Result<()> {
    devmap(paths, FWD_PORTS)?
        .insert(ifindex, ifindex, None, 0)
        .map_err(devmap_error)
}

/// The opposite of [`add_lan_port`]; a missing entry is fine.
pub fn remove_lan_port(paths: &BondPaths, ifindex: u32) -> Result<()> {
    let _ = devmap(paths, FWD_PORTS)?.remove(ifindex);
    Ok(())
}

/// Lets frames the fast path sends through member `ifindex` (in `slot`) leave through it,
/// alone or as a broadcast copy.
pub fn add_member_port(paths: &BondPaths, slot: usize, ifindex: u32) -> Result<()> {
    members_devmap(paths)?
        .set(slot as u32, ifindex, None, 0)
        .map_err(devmap_error)?;
    devmap(paths, FWD_BCAST)?
        .insert(ifindex, ifindex, None, 0)
        .map_err(devmap_error)
}

/// The opposite of [`add_member_port`]; missing entries are fine.
pub fn remove_member_port(paths: &BondPaths, slot: usize, ifindex: u32) -> Result<()> {
    let _ = devmap(paths, FWD_BCAST)?.remove(ifindex);
    let members = MapData::from_pin(paths.map(FWD_MEMBERS))?;
    // An array devmap entry is removed by deleting its index (aya's DevMap cannot).
    match crate::maps::delete_index(&members, slot as u32) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(Error::io(
            "removing a member from the fast path's devmap",
            e,
        )),
    }
}

/// Retires every cached FIB answer of the bond at `paths` (the next packet of each route
/// asks the kernel again). A bond without the route cache's map (none pinned) has nothing
/// to retire.
pub fn invalidate_routes(paths: &BondPaths) -> Result<()> {
    let Ok(data) = MapData::from_pin(paths.map(ROUTE_CACHE)) else {
        return Ok(());
    };
    let mut map: Array<MapData, RouteCache> = Array::try_from(Map::Array(data))?;
    let mut cache = map.get(&0, 0)?;
    cache.epoch = cache.epoch.wrapping_add(1);
    map.set(0, cache, 0)?;
    Ok(())
}

/// Whether the kernel forwards IPv4 at all in this namespace (the fast path forwards only
/// what the kernel would).
pub fn ip_forwarding() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1")
}
