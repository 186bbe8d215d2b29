//! Netlink events. Link events (RTNLGRP_LINK): carrier changes reach the controller the
//! moment the kernel sees them, not at the next poll. Route, rule, neighbour and address
//! events retire the XDP fast path's cached FIB answers ([`watch_routes`]).

use futures::{FutureExt, StreamExt};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket, SocketAddr};
use tokio::sync::broadcast;

use crate::{
    error::{Error, Result},
    fast_path,
    netdev::Link,
    pins::{self, BondPaths},
};

/// Multicast group mask of RTNLGRP_LINK.
const RTMGRP_LINK: u32 = 1;

/// Multicast group mask (bit `group - 1`) of what changes a FIB lookup's answer:
/// RTNLGRP_NEIGH (3), IPV4_IFADDR (5), IPV4_ROUTE (7), IPV4_RULE (8), IPV6_IFADDR (9),
/// IPV6_ROUTE (11) and IPV6_RULE (19).
const RTMGRP_FIB: u32 = 1 << (3 - 1)
    | 1 << (5 - 1)
    | 1 << (7 - 1)
    | 1 << (8 - 1)
    | 1 << (9 - 1)
    | 1 << (11 - 1)
    | 1 << (19 - 1);

/// One interface's state as an event reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface index.
    pub ifindex: u32,
    /// Administratively up and with carrier.
    pub usable: bool,
    /// The interface was deleted.
    pub deleted: bool,
}

/// What wakes the bond tasks besides their own timers and frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerEvent {
    /// A link notification (netlink).
    Link(LinkEvent),
    /// Some carrier changed ([`super::carrier`]): look at the members' carriers.
    CarrierChanged,
    /// A bond was created, changed or removed (a `bondxdp` command said so, or the
    /// controller itself applied a config file): re-read the pinned state now.
    Reconfigured,
}

/// rtnetlink messages as a connection hands them out.
type Messages = futures::channel::mpsc::UnboundedReceiver<(
    netlink_packet_core::NetlinkMessage<RouteNetlinkMessage>,
    SocketAddr,
)>;

/// The rtnetlink messages of multicast `groups` (legacy mask) in the calling thread's
/// namespace, from a connection that runs as a task of its own.
fn listen(groups: u32, what: &str) -> Result<Messages> {
    let (mut conn, _handle, messages) =
        rtnetlink::new_connection().map_err(|e| Error::io("opening a netlink socket", e))?;
    conn.socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, groups))
        .map_err(|e| Error::io(format!("subscribing to {what} events"), e))?;
    tokio::spawn(conn);
    Ok(messages)
}

/// Subscribes to link events of the calling thread's namespace; every bond task gets its own
/// receiver from the returned sender (which the carrier watch and the controller's
/// notifications send on too).
pub fn subscribe() -> Result<broadcast::Sender<ControllerEvent>> {
    let mut messages = listen(RTMGRP_LINK, "link")?;
    let (tx, _) = broadcast::channel(4096);
    let sender = tx.clone();
    tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            let event = match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                    let link = Link::from_message(m);
                    LinkEvent {
                        ifindex: link.index,
                        usable: link.up && link.carrier,
                        deleted: false,
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => LinkEvent {
                    ifindex: m.header.index,
                    usable: false,
                    deleted: true,
                },
                _ => continue,
            };
            tracing::trace!(?event, "link event received");
            // No receivers yet is fine.
            let _ = sender.send(ControllerEvent::Link(event));
        }
    });
    Ok(tx)
}

/// For as long as the controller runs: every route, rule, neighbour or address change the
/// kernel reports retires the cached FIB answers of every bond's XDP fast path (a burst of
/// changes retires them once), so the fast path follows the kernel at once rather than
/// when its answers expire.
pub fn watch_routes() -> Result<()> {
    let mut messages = listen(RTMGRP_FIB, "route")?;
    tokio::spawn(async move {
        while messages.next().await.is_some() {
            while let Some(Some(_)) = messages.next().now_or_never() {}
            for name in pins::list_bonds().unwrap_or_default() {
                if let Ok(paths) = BondPaths::current(&name)
                    && let Err(e) = fast_path::invalidate_routes(&paths)
                {
                    tracing::warn!(bond = %name, "cannot retire cached routes: {e}");
                }
            }
            tracing::trace!("route cache retired");
        }
        tracing::warn!("route events ended: the fast path's cached routes now expire by age only");
    });
    Ok(())
}
