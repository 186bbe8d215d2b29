//! Creating and removing bonds.
//!
//! `up` builds the logical interface (a veth pair: the bond, and a peer kept up and unused),
//! loads and pins the data plane, enslaves the members and attaches the programs. `down`
//! undoes all of it. The restore record ([`BondState`]) is pinned before any interface is
//! touched, so a failure or crash at any point leaves something `down` (or the next `up` of
//! the same name) can finish.
//!
//! The room by job: this file has the verbs (`up`, `down`, `set`) and an open bond;
//! `create` builds a link-aggregation bond, `multi_wan` a multi-uplink one (both through
//! one interface-creation step), `members` adds and removes members, `fast_path` wires the
//! XDP fast path, `addresses` mirrors the bond's unicast list onto the members, `teardown`
//! takes a bond apart. A failed change is undone by an [`Undo`]
//! list, which runs every step and reports each one that fails.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bondxdp_common::{
    BondConfig, MAX_MEMBERS, MemberSlot, Mode,
    config::{LinkState, NO_SLOT},
    modes::active_backup::choose_active,
    records::{
        BondState, ForwardRecord, MAX_FORWARD, MemberRestore, MultiWanRecord, RESTORE_UNTOUCHED,
    },
};
use tracing::{debug, info, warn};

use crate::{
    attach,
    error::{Error, Result},
    loader,
    maps::{BondMaps, name_bytes, name_string, names},
    multi_wan::Discovery,
    netdev::{self, Link, Netlink},
    options::{
        BondOptions, BondSpec, FailOverMac, IpCidr, OPTIONS, OptionSpec, TcAttach, forward_names,
        pinned_options, prio_slots, set_option, slot_names, validate_ifname,
        write_actor_port_prios,
    },
    pins::{self, BondLock, BondPaths, NamespaceLock},
    preflight, select_program,
};

pub(crate) mod addresses;
mod create;
mod fast_path;
mod members;
mod multi_wan;
mod teardown;

use create::{build, create_interface, enslave, go_live};
use fast_path::{
    attach_lan_fast_path, attach_member_fast_path, detach_lan_fast_path, detach_member_fast_path,
    resolve_forward,
};
use members::{
    Role, member_owners, resolve_members, restore_member, restore_record, untouched_record,
};
pub use members::{member_add, member_del};
use multi_wan::{build_multi_wan, refuse_separate_networks};
use teardown::teardown;

/// The undo steps of a change that failed part way: each is tried, and every one that fails
/// is reported (logged, and attached to the error that made the change fail), never ignored.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    failures: Vec<String>,
}

impl Undo {
    /// Records the outcome of one undo step.
    pub(crate) fn step(&mut self, what: impl std::fmt::Display, outcome: Result<()>) {
        if let Err(e) = outcome {
            warn!("while undoing ({what}): {e}");
            self.failures.push(format!("{what}: {e}"));
        }
    }

    /// Whether every step so far succeeded.
    pub(crate) fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }

    /// What failed, one line each.
    pub(crate) fn into_failures(self) -> Vec<String> {
        self.failures
    }

    /// `cause`, with every failed undo step attached.
    pub(crate) fn report(self, cause: Error) -> Error {
        if self.failures.is_empty() {
            cause
        } else {
            Error::UndoFailed {
                cause: Box::new(cause),
                failures: self.failures,
            }
        }
    }
}

/// Creates bond `spec.name` and enslaves its members. On failure the host is left as it was.
pub async fn up(spec: &BondSpec) -> Result<()> {
    let mut spec = spec.clone();
    for warning in spec.normalize() {
        warn!(bond = %spec.name, "{warning}");
    }
    spec.validate()?;
    preflight::check_privileges()?;
    // A selection program that does not load is refused before anything changes.
    if let Some(program) = &spec.options.select_program {
        spec.options.select_program = Some(select_program::check(program)?);
    }
    // tcx or legacy: chosen once, here; a forced tcx the kernel lacks is refused now.
    spec.options.tc_attach = attach::resolve(spec.options.tc_attach)?;
    let spec = &spec;
    let nl = Netlink::connect()?;
    let _lock = NamespaceLock::acquire()?;
    let paths = BondPaths::current(&spec.name)?;
    if nl.link_by_name(&spec.name).await?.is_some() {
        return Err(Error::NameTaken(spec.name.clone()));
    }
    if paths.exists() {
        // Pins without an interface: a bond whose `up` or `down` was interrupted.
        warn!(bond = %spec.name, "finishing the teardown of an earlier, interrupted bond");
        if let Err(e) = teardown(&nl, &paths).await {
            warn!("{e}");
        }
    }
    let members = resolve_members(&nl, spec, &[]).await?;
    let lans = resolve_forward(&nl, &spec.options.forward_from).await?;
    paths.create()?;
    match build(&nl, spec, &paths, &members, &lans).await {
        Ok(()) => {
            info!(
                bond = %spec.name,
                mode = spec.options.mode.name(),
                tc_attach = spec.options.tc_attach.name(),
                "bond is up"
            );
            Ok(())
        }
        Err(e) => {
            let mut undo = Undo::default();
            undo.step(
                "taking the half-built bond apart",
                teardown(&nl, &paths).await,
            );
            Err(undo.report(e))
        }
    }
}

/// Removes bond `name`: detaches the programs, restores the members, deletes the interface
/// and the pins. Works whether or not the bond was left half-built by a crash.
pub async fn down(name: &str) -> Result<()> {
    validate_ifname("bond name", name)?;
    preflight::check_privileges()?;
    let nl = Netlink::connect()?;
    let paths = BondPaths::current(name)?;
    // Checked before locking too: the lock lives in the namespace's directory, which taking
    // it would create (and leave behind) for a bond that does not exist.
    if !paths.exists() {
        return Err(Error::NotABond(name.to_string()));
    }
    let _lock = NamespaceLock::acquire()?;
    if !paths.exists() {
        return Err(Error::NotABond(name.to_string()));
    }
    teardown(&nl, &paths).await?;
    info!(bond = %name, "bond is down");
    Ok(())
}

/// Checks bonds a configuration file describes against the host, changing nothing: every
/// new bond could be created and every existing one could take its new members. `leaving`
/// are the bonds the same change brings down (their interfaces count as free).
pub async fn check_against_host(specs: &[&BondSpec], leaving: &[String]) -> Result<()> {
    let nl = Netlink::connect()?;
    for spec in specs {
        let mut spec = (*spec).clone();
        spec.normalize();
        spec.validate()?;
        if let Some(program) = &spec.options.select_program {
            select_program::check(program)?;
        }
        let paths = BondPaths::current(&spec.name)?;
        let new_members: Vec<String> = if paths.exists() && !leaving.contains(&spec.name) {
            let current = OpenBond::open(&spec.name)?.spec();
            spec.members
                .iter()
                .filter(|m| !current.members.contains(m))
                .cloned()
                .collect()
        } else {
            if !leaving.contains(&spec.name) && nl.link_by_name(&spec.name).await?.is_some() {
                return Err(Error::NameTaken(spec.name.clone()));
            }
            resolve_forward(&nl, &spec.options.forward_from).await?;
            attach::resolve(spec.options.tc_attach)?;
            spec.members.clone()
        };
        if !new_members.is_empty() {
            let probe = BondSpec {
                members: new_members,
                ..spec.clone()
            };
            resolve_members(&nl, &probe, leaving).await?;
        }
    }
    Ok(())
}

/// Reads every uplink, with the configured gateways of `record`, by slot.
pub(crate) async fn discover_uplinks(
    nl: &Netlink,
    links: &[(usize, Link)],
    record: &MultiWanRecord,
) -> Result<Vec<(usize, Discovery)>> {
    let mut out = Vec::new();
    for (slot, link) in links {
        let gw4 =
            (record.gateways4[*slot] != [0; 4]).then(|| Ipv4Addr::from(record.gateways4[*slot]));
        let gw6 =
            (record.gateways6[*slot] != [0; 16]).then(|| Ipv6Addr::from(record.gateways6[*slot]));
        out.push((*slot, crate::multi_wan::discover(nl, link, gw4, gw6).await?));
    }
    Ok(out)
}

/// Writes the data-plane side of `opts` into `cfg`, chooses the active member and derives the
/// transmit list (and weighted tables). `primary` is the primary's slot or [`NO_SLOT`];
/// `slots` names the member in each slot (for per-member options).
pub(crate) fn apply_options(
    cfg: &mut BondConfig,
    opts: &BondOptions,
    primary: u32,
    slots: &[Option<String>],
) {
    opts.write_config(cfg, slots);
    let prio = prio_slots(&opts.prios, slots);
    cfg.active_slot = choose_active(
        cfg,
        cfg.active_slot,
        primary,
        opts.monitor.primary_reselect,
        |slot| member_speed(cfg, slot),
        |slot| prio.get(slot as usize).copied().unwrap_or(0),
    );
    cfg.recompute();
}

/// Link speed of the member in `slot` (Mb/s, 0 if unknown), for `primary_reselect=better`.
fn member_speed(cfg: &BondConfig, slot: u32) -> u32 {
    cfg.members
        .get(slot as usize)
        .filter(|m| m.is_used())
        .and_then(|m| netdev::link_speed_by_index(m.ifindex))
        .unwrap_or(0)
}

/// Member names of a bond in slot order.
pub fn pinned_members(state: &BondState) -> Vec<String> {
    state
        .members
        .iter()
        .filter(|m| m.ifindex != 0)
        .map(|m| name_string(&m.name))
        .collect()
}

/// An open bond with its lock held: what `set` and `member` work on.
struct OpenBond {
    paths: BondPaths,
    maps: BondMaps,
    state: BondState,
    cfg: BondConfig,
    /// Load the selection program again even if its name did not change (the user named it
    /// in `set`: the file was rebuilt).
    reload_select_program: bool,
    /// `--forward-from` interfaces to add in the next commit, resolved and checked.
    new_lans: Vec<Link>,
    _lock: BondLock,
}

impl OpenBond {
    fn open(name: &str) -> Result<OpenBond> {
        validate_ifname("bond name", name)?;
        let paths = BondPaths::current(name)?;
        if !paths.exists() {
            return Err(Error::NotABond(name.to_string()));
        }
        let lock = BondLock::acquire(&paths)?;
        let maps = BondMaps::open(&paths)?;
        let bad = || Error::BadPinnedState(paths.dir().to_path_buf());
        let state = maps.state()?.ok_or_else(bad)?;
        let cfg = maps.config.current()?.ok_or_else(bad)?;
        Ok(OpenBond {
            paths,
            maps,
            state,
            cfg,
            reload_select_program: false,
            new_lans: Vec::new(),
            _lock: lock,
        })
    }

    fn spec(&self) -> BondSpec {
        BondSpec {
            name: self.paths.name(),
            members: pinned_members(&self.state),
            options: pinned_options(&self.cfg, &self.state),
        }
    }

    fn slot_of(&self, member: &str) -> Option<usize> {
        self.state
            .members
            .iter()
            .position(|m| m.ifindex != 0 && name_string(&m.name) == member)
    }

    fn primary_slot(&self, opts: &BondOptions) -> u32 {
        opts.primary
            .as_deref()
            .and_then(|p| self.slot_of(p))
            .map_or(NO_SLOT, |s| s as u32)
    }

    /// Pins the state, publishes the configuration derived from `opts`, and if the mode or
    /// hash policy changed, swaps the egress program (after the configuration, so the new
    /// program starts on a configuration made for it).
    fn commit(&mut self, opts: &BondOptions) -> Result<()> {
        let before = self.egress_program();
        let after = loader::egress_program(opts.mode, opts.xmit_hash_policy)?;
        let lan_before = self.lan_program();
        let lan_after = crate::fast_path::lan_program(opts.mode, opts.xmit_hash_policy);
        let has_lans = self.state.forward.ifindex.iter().any(|&i| i != 0);
        if lan_before != lan_after && has_lans && !self.paths.program(lan_after).exists() {
            // Bonds brought up by a bondxdp before per-mode XDP programs have none pinned.
            return Err(Error::invalid(
                "mode",
                format!(
                    "{lan_after} is not pinned for this bond (brought up by an older \
                     bondxdp?); `down` and `up` it to change its mode"
                ),
            ));
        }
        let was_multi = self.cfg.mode().is_some_and(Mode::is_multi_uplink);
        if was_multi != opts.mode.is_multi_uplink() {
            return Err(Error::invalid(
                "mode",
                "a bond cannot switch between multi-wan and link aggregation; recreate it \
                 (down, up)",
            ));
        }
        // A mode that reads the flowlet table gets it before its configuration goes live.
        if crate::tables::uses_flowlets(opts.mode) {
            crate::tables::fit(&self.paths, opts.mode)?;
        }
        let primary = self.primary_slot(opts);
        self.state.primary_slot = primary;
        self.state.monitor = opts.monitor.to_pinned();
        let slots = slot_names(&self.state);
        self.state.monitor.prio = prio_slots(&opts.prios, &slots);
        if let Some(active) = &opts.active_slave {
            // As the kernel's active_slave: a member whose link is up, made active at once
            // (the controller sends the failover's notifications when it sees the change).
            let slot = self.slot_of(active).ok_or_else(|| {
                Error::invalid("active_slave", format!("{active} is not a member"))
            })?;
            if self.cfg.members[slot].link_state() != LinkState::Up {
                return Err(Error::invalid(
                    "active_slave",
                    format!("{active} cannot be made active: its link is down"),
                ));
            }
            self.cfg.active_slot = slot as u32;
        }
        self.state.mwan = opts.multi_wan.to_pinned(&slots);
        self.state.balance = opts.balance.to_pinned(&slots);
        opts.lacp.write_pinned(&mut self.state.lacp);
        write_actor_port_prios(&opts.actor_port_prios, &slots, &mut self.state.lacp);
        // A new selection program goes in before the custom mode can run without one.
        let recorded = Some(name_string(&self.state.custom.program)).filter(|p| !p.is_empty());
        if let Some(program) = &opts.select_program
            && (recorded.as_ref() != Some(program) || self.reload_select_program)
        {
            self.state.custom.program = name_bytes(&select_program::install(&self.paths, program)?);
            info!(bond = %self.paths.name(), program = %program, "selection program swapped in");
        }
        if opts.select_program.is_none() {
            self.state.custom = Default::default();
        }
        self.maps.set_state(self.state)?;
        apply_options(&mut self.cfg, opts, primary, &slots);
        self.maps.config.publish(self.cfg)?;
        if before != Some(after) {
            attach::swap_egress(&self.paths, &self.state, after)?;
            debug!(bond = %self.paths.name(), program = after, "egress program swapped");
        }
        if lan_before != lan_after {
            for &ifindex in self.state.forward.ifindex.iter().filter(|&&i| i != 0) {
                crate::fast_path::swap(&self.paths, ifindex, lan_after)?;
            }
            debug!(bond = %self.paths.name(), program = lan_after, "LAN-side XDP program swapped");
        }
        // ... and leaves only once the custom mode no longer runs; so does the flowlet table
        // once no mode that reads it does.
        if opts.select_program.is_none() && recorded.is_some() {
            select_program::uninstall(&self.paths)?;
        }
        if !crate::tables::uses_flowlets(opts.mode) {
            crate::tables::fit(&self.paths, opts.mode)?;
        }
        self.sync_fast_path(&opts.forward_from)?;
        Ok(())
    }

    /// fail_over_mac: moves the MACs to where the policy wants them for the active member
    /// the configuration now has (a member added or removed, `active_slave` set) and
    /// publishes what moved.
    async fn settle_macs(&mut self, nl: &Netlink) -> Result<()> {
        let policy = match self.cfg.mode() {
            Some(Mode::ActiveBackup) => FailOverMac::from_pinned(self.state.fail_over_mac),
            _ => FailOverMac::None,
        };
        if crate::fail_over_mac::settle(nl, policy, &self.state, &mut self.cfg).await? {
            self.maps.config.publish(self.cfg)?;
        }
        Ok(())
    }

    /// Brings the XDP fast path to `wanted` LAN-side interfaces: members get `xdp_member`
    /// while there is at least one; removed interfaces are detached, [`Self::new_lans`]
    /// attached.
    fn sync_fast_path(&mut self, wanted: &[String]) -> Result<()> {
        let program = self.lan_program();
        let had = forward_names(&self.state.forward);
        let record = &mut self.state.forward;
        for i in 0..MAX_FORWARD {
            if record.ifindex[i] != 0 && !wanted.contains(&name_string(&record.names[i])) {
                detach_lan_fast_path(&self.paths, record, i)?;
            }
        }
        let members: Vec<(usize, u32, String)> = self
            .state
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.ifindex != 0)
            .map(|(slot, m)| (slot, m.ifindex, name_string(&m.name)))
            .collect();
        let record = &mut self.state.forward;
        if had.is_empty() && !wanted.is_empty() {
            for (slot, ifindex, name) in &members {
                attach_member_fast_path(&self.paths, record, *slot, *ifindex, name)?;
            }
        }
        for l in std::mem::take(&mut self.new_lans) {
            attach_lan_fast_path(&self.paths, record, &l, program)?;
        }
        if !had.is_empty() && wanted.is_empty() {
            for (slot, ifindex, _) in &members {
                detach_member_fast_path(&self.paths, record, *slot, *ifindex)?;
            }
        }
        self.maps.set_state(self.state)?;
        Ok(())
    }

    /// The LAN-side XDP program the current configuration runs with.
    fn lan_program(&self) -> &'static str {
        match (self.cfg.mode(), self.cfg.hash_policy()) {
            (Some(mode), Some(policy)) => crate::fast_path::lan_program(mode, policy),
            _ => crate::fast_path::XDP_LAN_PASS,
        }
    }

    /// The egress program the current configuration runs with.
    fn egress_program(&self) -> Option<&'static str> {
        loader::programs::program_for(self.cfg.mode()?, self.cfg.hash_policy()?)
    }
}

/// Changes options of a running bond (`KEY=VALUE`, kernel names) without recreating it:
/// traffic keeps flowing; the data plane switches to the new configuration atomically.
/// Returns warnings (rounded delays).
pub async fn set(name: &str, assignments: &[(String, String)]) -> Result<Vec<String>> {
    preflight::check_privileges()?;
    let mut bond = OpenBond::open(name)?;
    let mut options = bond.spec().options;
    for (key, value) in assignments {
        set_option(&mut options, key, value)?;
    }
    let mut warnings = Vec::new();
    if let Some((_, program)) = assignments
        .iter()
        .rfind(|(k, _)| k.replace('-', "_") == "select_program")
        && !program.trim().is_empty()
    {
        // Its path made absolute; `commit` loads it before anything changes.
        options.select_program = Some(select_program::canonical(program.trim())?);
        bond.reload_select_program = true;
    }
    let program_given = assignments
        .iter()
        .any(|(k, _)| k.replace('-', "_") == "select_program");
    if options.mode != Mode::Custom
        && !program_given
        && let Some(program) = options.select_program.take()
    {
        warnings.push(format!(
            "selection program {program} unloaded: {} does not use one",
            options.mode.name()
        ));
    }
    // Leaving active-backup drops a primary the user did not set in the same breath, rather
    // than refusing the mode change because of an option the new mode ignores.
    let primary_given = assignments.iter().any(|(k, _)| k == "primary");
    if !options.mode.uses_active()
        && !primary_given
        && let Some(primary) = options.primary.take()
    {
        warnings.push(format!(
            "primary {primary} cleared: {} has no active member",
            options.mode.name()
        ));
    }
    warnings.extend(change_options(&mut bond, options).await?);
    info!(bond = %name, "options changed");
    Ok(warnings)
}

/// Validates and commits new options for an open bond.
async fn change_options(bond: &mut OpenBond, mut options: BondOptions) -> Result<Vec<String>> {
    let current = forward_names(&bond.state.forward);
    let added: Vec<String> = options
        .forward_from
        .iter()
        .filter(|f| !current.contains(f))
        .cloned()
        .collect();
    if !added.is_empty() {
        let nl = Netlink::connect()?;
        bond.new_lans = resolve_forward(&nl, &added).await?;
    }
    let mut spec = bond.spec();
    let before = &spec.options;
    if options.tc_attach == TcAttach::Auto {
        // Whatever fits: the way the bond was attached at `up`.
        options.tc_attach = before.tc_attach;
    }
    let kept_macs = before.keep_member_macs;
    // Options the option table marks as not live (the bond's MACs) need a new bond; one left
    // unset (a config file without `mac`) keeps what the bond has.
    let fixed = || OPTIONS.iter().filter(|o| !o.live);
    let changed = |o: &OptionSpec| {
        let new = (o.get)(&options);
        !new.is_empty() && new != (o.get)(before)
    };
    if fixed().any(changed) {
        let names: Vec<&str> = fixed().map(|o| o.name).collect();
        return Err(Error::invalid(
            "option",
            format!(
                "{} cannot change on a running bond; recreate it (down, up)",
                names.join(" and ")
            ),
        ));
    }
    spec.options = BondOptions {
        mac: before.mac,
        ..options
    };
    let warnings = spec.normalize();
    if spec.options.keep_member_macs != kept_macs {
        // The members would need other MACs than the ones they have.
        let why = if kept_macs {
            format!(
                "the members keep their own MACs in this bond (keep_member_macs, fail_over_mac \
                 or balance-tlb/alb) and would need the bond's in {}",
                spec.options.mode.name()
            )
        } else {
            format!(
                "{} needs members that keep their own MACs (keep_member_macs)",
                spec.options.mode.name()
            )
        };
        return Err(Error::invalid(
            "mode",
            format!("{why}; recreate the bond (down, up) to change into it"),
        ));
    }
    spec.validate()?;
    if spec.options != bond.spec().options {
        bond.commit(&spec.options)?;
        bond.settle_macs(&Netlink::connect()?).await?;
    }
    Ok(warnings)
}

/// Brings a running bond to `spec`: members added and removed, options changed.
pub async fn reconfigure(spec: &BondSpec) -> Result<()> {
    let current = OpenBond::open(&spec.name)?.spec();
    for member in spec.members.iter().filter(|m| !current.members.contains(m)) {
        member_add(&spec.name, member).await?;
    }
    for member in current.members.iter().filter(|m| !spec.members.contains(m)) {
        member_del(&spec.name, member).await?;
    }
    let mut bond = OpenBond::open(&spec.name)?;
    for warning in change_options(&mut bond, spec.options.clone()).await? {
        warn!(bond = %spec.name, "{warning}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_reports_every_failed_step_and_nothing_when_clean() {
        let cause = || Error::NotABond("bond9".into());
        let mut clean = Undo::default();
        clean.step("a", Ok(()));
        assert!(clean.is_clean());
        assert_eq!(clean.report(cause()).to_string(), cause().to_string());

        let mut undo = Undo::default();
        undo.step("detaching a0", Err(Error::Netlink("gone".into())));
        undo.step("restoring a0", Ok(()));
        undo.step("deleting bond9", Err(Error::Netlink("busy".into())));
        let text = undo.report(cause()).to_string();
        assert!(text.starts_with(&cause().to_string()), "{text}");
        assert!(text.contains("detaching a0: netlink: gone"), "{text}");
        assert!(text.contains("deleting bond9: netlink: busy"), "{text}");
        assert!(!text.contains("restoring a0"), "{text}");
    }
}
