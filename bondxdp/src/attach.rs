//! Attaching a bond's tc programs, one way for the bond's whole life: tcx links pinned in
//! the bond's directory (Linux 6.6+), or cls_bpf filters in the interfaces' clsact qdiscs
//! ([`crate::tc_legacy`], kernels without tcx). `up` chooses ([`resolve`]) and records the
//! choice in the pinned state ([`BondState::tc_attach`]); `set`, `member add/del`, `down`
//! and teardown after a crash read it from there, so they attach and detach the same way.

use std::os::fd::AsFd;

use aya::programs::{SchedClassifier, TcAttachType};

use bondxdp_common::records::{BondState, MemberRestore, RESTORE_CLSACT_ADDED};

use crate::{
    error::{Error, Result},
    loader,
    maps::BondMaps,
    options::TcAttach,
    pins::BondPaths,
    tc_legacy::{self, Direction},
};

/// Whether this kernel attaches tc programs through tcx: a tcx query (`BPF_PROG_QUERY`
/// with `BPF_TCX_INGRESS`) on the loopback device succeeds. Kernels before 6.6 refuse the
/// attach type.
pub fn tcx_available() -> bool {
    SchedClassifier::query_tcx("lo", TcAttachType::Ingress).is_ok()
}

/// The way a new bond attaches: `auto` becomes tcx where the kernel has it, legacy
/// otherwise; a forced `tcx` on a kernel without it is refused (before anything changes).
pub fn resolve(choice: TcAttach) -> Result<TcAttach> {
    match choice {
        TcAttach::Auto if tcx_available() => Ok(TcAttach::Tcx),
        TcAttach::Auto => Ok(TcAttach::Legacy),
        TcAttach::Tcx if !tcx_available() => Err(Error::invalid(
            "tc_attach",
            "this kernel has no tcx (Linux 6.6+); use tc_attach=legacy (or auto)",
        )),
        other => Ok(other),
    }
}

/// How the bond of `state` attaches.
pub fn mode_of(state: &BondState) -> TcAttach {
    TcAttach::from_pinned(state.tc_attach)
}

/// The names of every tc program a bond may have attached (what legacy teardown removes).
fn ours() -> Vec<&'static str> {
    loader::programs::all().collect()
}

/// Attaches `program` (pinned in the bond's directory) to the ingress of the member in
/// `slot` (recorded in `state.members`). Legacy: a member without a clsact qdisc gets one,
/// recorded in the pinned state before it is added, so teardown removes it again.
pub fn attach_member(
    paths: &BondPaths,
    maps: &mut BondMaps,
    state: &mut BondState,
    slot: usize,
    program: &str,
) -> Result<()> {
    let member = state.members[slot];
    let mut prog = loader::pinned_program(paths, program)?;
    match mode_of(state) {
        TcAttach::Legacy => {
            if !tc_legacy::has_clsact(member.ifindex)? {
                state.members[slot].flags |= RESTORE_CLSACT_ADDED;
                maps.set_state(*state)?;
                if !tc_legacy::add_clsact(member.ifindex)? {
                    // Someone else's, added in between: theirs to keep.
                    state.members[slot].flags &= !RESTORE_CLSACT_ADDED;
                    maps.set_state(*state)?;
                }
            }
            tc_legacy::attach(
                member.ifindex,
                Direction::Ingress,
                prog.fd()?.as_fd(),
                program,
            )
            .map_err(|e| on_member(e, &member))
        }
        _ => loader::attach_and_pin(
            &mut prog,
            &crate::maps::name_string(&member.name),
            TcAttachType::Ingress,
            &paths.ingress_link(member.ifindex),
        ),
    }
}

/// Detaches the ingress program of a member (its restore record `member`) and, legacy,
/// removes the clsact qdisc bondxdp added to it once no filter is left there. Anything
/// already gone is no error.
pub fn detach_member(paths: &BondPaths, state: &BondState, member: &MemberRestore) -> Result<()> {
    match mode_of(state) {
        TcAttach::Legacy => {
            tc_legacy::detach(member.ifindex, Direction::Ingress, &ours())?;
            if member.flags & RESTORE_CLSACT_ADDED != 0 {
                tc_legacy::remove_clsact_if_empty(member.ifindex)?;
            }
            Ok(())
        }
        _ => loader::unpin_link(&paths.ingress_link(member.ifindex)),
    }
}

/// Attaches the bond's egress program (`program`, named `name`) to the bond interface
/// `bond` (`ifindex`); legacy: in a clsact qdisc added to it (the interface is bondxdp's).
pub fn attach_egress(
    paths: &BondPaths,
    state: &BondState,
    program: &mut SchedClassifier,
    name: &str,
    bond: &str,
    ifindex: u32,
) -> Result<()> {
    match mode_of(state) {
        TcAttach::Legacy => {
            tc_legacy::add_clsact(ifindex)?;
            tc_legacy::attach(ifindex, Direction::Egress, program.fd()?.as_fd(), name)
        }
        _ => loader::attach_and_pin(program, bond, TcAttachType::Egress, &paths.egress_link()),
    }
}

/// Points the bond's egress at another pinned program, atomically: tcx by `BPF_LINK_UPDATE`
/// on the pinned link, legacy by replacing the filter's program in place (same priority
/// and handle). Packets see the old program or the new one, never neither.
pub fn swap_egress(paths: &BondPaths, state: &BondState, program: &str) -> Result<()> {
    match mode_of(state) {
        TcAttach::Legacy => {
            let prog = loader::pinned_program(paths, program)?;
            tc_legacy::replace(
                state.bond_ifindex,
                Direction::Egress,
                prog.fd()?.as_fd(),
                program,
            )
        }
        _ => loader::swap_egress(paths, program),
    }
}

/// Legacy: removes bondxdp's egress filter from the bond interface and its clsact qdisc
/// (teardown, before the interface is deleted). tcx links go with their pins.
pub fn detach_egress(state: &BondState) -> Result<()> {
    if mode_of(state) == TcAttach::Legacy && state.bond_ifindex != 0 {
        tc_legacy::detach(state.bond_ifindex, Direction::Egress, &ours())?;
        tc_legacy::remove_clsact_if_empty(state.bond_ifindex)?;
    }
    Ok(())
}

/// An attach error naming the member.
fn on_member(e: Error, member: &MemberRestore) -> Error {
    match e {
        Error::Io { context, source } => Error::Io {
            context: format!("{context} on {}", crate::maps::name_string(&member.name)),
            source,
        },
        other => other,
    }
}
