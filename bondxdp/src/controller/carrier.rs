//! The carrier watch: the kernel tells the controller the moment a driver reports a carrier
//! change, so an idle controller does not poll.
//!
//! Netlink's link notifications alone are not enough: the kernel sends them from linkwatch,
//! which handles a carrier change at once only for stacked devices (veth, VLAN, macvlan) and
//! bonding slaves, and otherwise no sooner than a second after the last link event it handled
//! anywhere on the host. Polling fast enough to beat that (every millisecond) costs a thousand
//! wakeups a second per member. Instead, fexit programs on `netif_carrier_on`,
//! `netif_carrier_off` and `netif_carrier_event` (bondxdp-ebpf/src/carrier.rs) write a record
//! to a ring buffer the controller sleeps on; each record wakes every bond task, which reads
//! its members' carriers (two ioctls each) and acts.
//!
//! Where fexit is unavailable (a kernel without BTF or without the ftrace direct calls fexit
//! needs), [`start`] says why and the bond tasks poll every millisecond, as before.

use std::sync::atomic::{AtomicBool, Ordering};

use aya::{Btf, EbpfLoader, maps::RingBuf, programs::FExit};
use tokio::{io::unix::AsyncFd, sync::broadcast};
use tracing::{debug, info, warn};

use bondxdp_common::carrier::{EVENTS_MAP, PROGRAMS};

use super::events::ControllerEvent;
use crate::{
    error::{Error, Result},
    loader::CARRIER_OBJECT,
};

/// Whether the watch runs (bond tasks poll carriers only when it does not).
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Whether carrier changes reach the controller without polling.
pub fn watching() -> bool {
    WATCHING.load(Ordering::Relaxed)
}

/// Environment variable that keeps the watch off (`1`): the bond tasks then poll carriers
/// every millisecond. For comparing the two in benchmarks and tests.
pub const DISABLE_ENV: &str = "BONDXDP_NO_CARRIER_WATCH";

/// Loads and attaches the watch; every carrier change from then on sends
/// [`ControllerEvent::CarrierChanged`] on `events`. Returns `false` (after logging why) if
/// the kernel cannot run it.
pub fn start(events: &broadcast::Sender<ControllerEvent>) -> bool {
    if std::env::var(DISABLE_ENV).is_ok_and(|v| v == "1") {
        info!("carrier watch off ({DISABLE_ENV}=1): carriers polled every millisecond");
        return false;
    }
    match attach() {
        Ok((ebpf, ring)) => {
            let tx = events.clone();
            tokio::spawn(async move {
                // The object holds the attached programs: they live as long as this task.
                let _ebpf = ebpf;
                if let Err(e) = relay(ring, tx).await {
                    WATCHING.store(false, Ordering::Relaxed);
                    warn!("carrier watch stopped ({e}): carriers polled every millisecond");
                }
            });
            WATCHING.store(true, Ordering::Relaxed);
            debug!("carrier watch attached (fexit on the kernel's carrier functions)");
            true
        }
        Err(e) => {
            warn!("no carrier watch ({e}): carriers polled every millisecond");
            false
        }
    }
}

/// Loads the object and attaches its programs.
fn attach() -> Result<(aya::Ebpf, AsyncFd<RingBuf<aya::maps::MapData>>)> {
    let btf = Btf::from_sys_fs()
        .map_err(|e| Error::Ebpf(format!("the kernel's BTF is unreadable: {e}")))?;
    let mut ebpf = EbpfLoader::new().btf(Some(&btf)).load(CARRIER_OBJECT)?;
    for (program, function) in PROGRAMS {
        let p: &mut FExit = ebpf
            .program_mut(program)
            .ok_or_else(|| Error::Ebpf(format!("program {program} missing from the object")))?
            .try_into()?;
        p.load(function, &btf)
            .map_err(|e| Error::Ebpf(format!("fexit on {function}: {e}")))?;
        p.attach()
            .map_err(|e| Error::Ebpf(format!("attaching to {function}: {e}")))?;
    }
    let map = ebpf
        .take_map(EVENTS_MAP)
        .ok_or_else(|| Error::Ebpf(format!("map {EVENTS_MAP} missing from the object")))?;
    let ring = RingBuf::try_from(map)?;
    // SAFETY: the ring buffer's descriptor is open and owned by the AsyncFd for its whole life.
    let ring = unsafe { AsyncFd::register(ring) }
        .map_err(|e| Error::io("watching the carrier ring buffer", e.into_parts().1))?;
    Ok((ebpf, ring))
}

/// Drains the ring buffer whenever it has records, one wakeup of the bond tasks per batch.
async fn relay(
    mut ring: AsyncFd<RingBuf<aya::maps::MapData>>,
    events: broadcast::Sender<ControllerEvent>,
) -> std::io::Result<()> {
    loop {
        let mut guard = ring.readable_mut().await?;
        let mut records = 0;
        while guard.get_inner_mut().next().is_some() {
            records += 1;
        }
        guard.clear_ready();
        if records > 0 {
            tracing::trace!(records, "carrier changed");
            // No bond tasks yet is fine.
            let _ = events.send(ControllerEvent::CarrierChanged);
        }
    }
}
