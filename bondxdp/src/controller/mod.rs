//! The controller (`bondxdp run`): keeps the bonds of one network namespace healthy.
//!
//! * [`monitor`]: the per-member link state machine (updelay/downdelay, probe liveness);
//! * [`events`]: netlink link events, so carrier loss is acted on at once;
//! * [`carrier`]: the carrier watch (fexit on the kernel's carrier functions), so an idle
//!   controller does not poll;
//! * [`frames`] and [`packet_socket`]: ARP/NS probes and failover announcements, sent and
//!   heard on each member;
//! * [`prober`]: the multi-wan health verdict of one uplink from its probe rounds;
//! * [`reset`]: closing the host's connections through a failed uplink (`SOCK_DESTROY`);
//! * [`rebalance`]: weights from each member's spare capacity (weighted modes);
//! * [`lacp`]: 802.3ad's LACP driver (LACPDUs on each member, the actor's timers and
//!   decisions, its pinned record);
//! * `bond_task`: one reconcile loop per bond (observe → decide → one atomic publish);
//! * `apply`: creating and updating the bonds a config file describes;
//! * [`dhcp`]: leasing a bond's IPv4 address (`addresses = ["dhcp"]`);
//! * [`hooks`]: executables run on multi-wan uplink state changes.
//!
//! Bonds keep working without the controller (their state is pinned); it only watches links
//! and reacts. Killing it changes nothing on the data plane; starting it again adopts every
//! bond as it is.

pub mod alb;
mod apply;
pub mod arp_monitor;
mod bond_task;
pub mod carrier;
pub mod dhcp;
pub mod events;
pub mod frames;
pub mod hooks;
pub mod lacp;
pub mod monitor;
pub mod multi_wan;
mod notify;
pub mod packet_socket;
pub mod rebalance;

use std::{collections::HashMap, path::PathBuf, time::Duration};

use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::{
    bond,
    error::{Error, Result},
    options::{ConfigFile, load_config_file},
    pins::{self, BondPaths},
    preflight,
};

/// How often the controller looks for bonds created or removed behind its back (`bondxdp`
/// commands tell it at once: [`crate::notify`]).
const DISCOVERY: Duration = Duration::from_secs(5);
/// How often the controller frees bonds left pinned by deleted namespaces ([`pins::collect_orphans`]).
const GC: Duration = Duration::from_secs(60);

/// Options of `bondxdp run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Config file with bonds to create and keep.
    pub config: Option<PathBuf>,
    /// Bring every bond down on exit.
    pub down_on_exit: bool,
    /// Serve Prometheus metrics here.
    pub metrics: Option<std::net::SocketAddr>,
    /// Run the executables of this directory on multi-wan uplink state changes
    /// ([`hooks`]); `None`: no hooks.
    pub hook_dir: Option<PathBuf>,
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(opts: RunOptions) -> Result<()> {
    preflight::check_privileges()?;
    let claim = tokio::net::UnixDatagram::from_std(crate::notify::claim()?)
        .map_err(|e| Error::io("claiming the controller's socket", e))?;
    // Found now, while whoever started us is still there to show it (and held from then on).
    let pins = pins::pin_root()?;
    tracing::debug!(pins = %pins.display(), "pins");
    let mut config = match &opts.config {
        Some(path) => {
            let file = load_config_file(path)?;
            apply::apply(&file, None).await?;
            Some(file)
        }
        None => None,
    };
    let mut dhcp_clients = HashMap::new();
    sync_dhcp(&mut dhcp_clients, config.as_ref());
    hooks::start(opts.hook_dir.clone());
    let events = events::subscribe()?;
    carrier::start(&events);
    events::watch_routes()?;
    let counts = crate::metrics::SharedCounts::default();
    if let Some(addr) = opts.metrics {
        crate::metrics::serve(addr, counts.clone()).await?;
    }
    let mut tasks: HashMap<String, bond_task::BondHandle> = HashMap::new();
    let io = |e| Error::io("installing signal handlers", e);
    let mut hangup = signal(SignalKind::hangup()).map_err(io)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(io)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(io)?;
    let mut gc = tokio::time::interval(GC);
    let mut next_discovery = tokio::time::Instant::now();
    info!("controller running");
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_discovery) => {
                sync_tasks(&mut tasks, &events, &counts).await;
                next_discovery = aligned(std::time::Instant::now(), DISCOVERY).into();
            }
            told = claim.readable() => {
                let told = told.and_then(|()| {
                    claim.try_io(tokio::io::Interest::READABLE, || crate::notify::drain(&claim))
                });
                if let Ok(true) = told {
                    // A command changed bonds: adopt new ones, and every task looks again.
                    sync_tasks(&mut tasks, &events, &counts).await;
                    let _ = events.send(events::ControllerEvent::Reconfigured);
                }
            }
            _ = hangup.recv() => {
                reload(&opts, &mut config).await;
                sync_dhcp(&mut dhcp_clients, config.as_ref());
                sync_tasks(&mut tasks, &events, &counts).await;
                let _ = events.send(events::ControllerEvent::Reconfigured);
            }
            _ = gc.tick() => collect_orphans(),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    info!("controller stopping; bonds keep running");
    for (_, task) in tasks.drain() {
        task.stop().await;
    }
    if opts.down_on_exit {
        for name in pins::list_bonds()? {
            if let Err(e) = bond::down(&name).await {
                error!(bond = %name, "{e}");
            }
        }
    }
    Ok(())
}

/// Frees the pins of bonds whose namespace is gone, and says so.
fn collect_orphans() {
    match pins::collect_orphans() {
        Ok(freed) => {
            for dir in freed {
                info!(pins = %dir.display(), "freed a bond whose network namespace is gone");
            }
        }
        Err(e) => warn!("looking for bonds of deleted namespaces: {e}"),
    }
}

/// Starts a task for every bond of the namespace that has none, and forgets finished ones.
async fn sync_tasks(
    tasks: &mut HashMap<String, bond_task::BondHandle>,
    events: &tokio::sync::broadcast::Sender<events::ControllerEvent>,
    counts: &crate::metrics::SharedCounts,
) {
    tasks.retain(|_, t| !t.finished());
    let names = match pins::list_bonds() {
        Ok(names) => names,
        Err(e) => {
            warn!("cannot list the bonds: {e}");
            return;
        }
    };
    for name in names {
        if tasks.contains_key(&name) {
            continue;
        }
        let Ok(paths) = BondPaths::current(&name) else {
            continue;
        };
        match bond_task::spawn(paths, events, counts.clone()) {
            Ok(task) => {
                tasks.insert(name, task);
            }
            // Half-built bonds (an `up` in progress) are picked up on a later round.
            Err(e) => tracing::debug!(bond = %name, "not adopted yet: {e}"),
        }
    }
}

/// SIGHUP: re-reads the config file; an invalid one is refused and the old one kept.
/// Runs a DHCP client for every bond of the config file whose addresses say `dhcp`, and
/// none for the others.
fn sync_dhcp(clients: &mut HashMap<String, dhcp::DhcpClient>, file: Option<&ConfigFile>) {
    let wanted: Vec<&str> = file
        .map(|f| {
            f.bonds
                .iter()
                .filter(|b| b.dhcp)
                .map(|b| b.spec.name.as_str())
                .collect()
        })
        .unwrap_or_default();
    clients.retain(|name, _| wanted.contains(&name.as_str()));
    for name in wanted {
        clients
            .entry(name.to_string())
            .or_insert_with(|| dhcp::DhcpClient::start(name));
    }
}

async fn reload(opts: &RunOptions, current: &mut Option<ConfigFile>) {
    let Some(path) = &opts.config else {
        info!("SIGHUP without --config: nothing to reload");
        return;
    };
    let file = match load_config_file(path) {
        Ok(f) => f,
        Err(e) => {
            warn!("config reload refused, keeping the running configuration: {e}");
            return;
        }
    };
    if let Err(e) = apply::check(&file, current.as_ref()).await {
        warn!("config reload refused, keeping the running configuration: {e}");
        return;
    }
    match apply::apply(&file, current.as_ref()).await {
        Ok(()) => {
            info!("config reloaded");
            *current = Some(file);
        }
        Err(e) => warn!("config reload failed part way: {e}"),
    }
}

/// The first instant after `now` on the grid of `period` that every task of the controller
/// shares (from its start): periodic work of many bonds falls due together, one wakeup for
/// all of them.
pub(crate) fn aligned(now: std::time::Instant, period: Duration) -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    let since = now.saturating_duration_since(epoch).as_nanos();
    let p = period.as_nanos().max(1);
    let next = (since / p + 1) * p;
    epoch + Duration::from_nanos(next.min(u64::MAX as u128) as u64)
}
