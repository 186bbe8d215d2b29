//! Netlink link events (RTNLGRP_LINK): carrier changes reach the controller the moment the
//! kernel sees them, not at the next poll.

use futures::StreamExt;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket, SocketAddr};
use tokio::sync::broadcast;

use crate::{
    error::{Error, Result},
    netdev::Link,
};

/// Multicast group mask of RTNLGRP_LINK.
const RTMGRP_LINK: u32 = 1;

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

/// Subscribes to link events of the calling thread's namespace; every bond task gets its own
/// receiver from the returned sender.
pub fn subscribe() -> Result<broadcast::Sender<LinkEvent>> {
    let (mut conn, _handle, mut messages) =
        rtnetlink::new_connection().map_err(|e| Error::io("opening a netlink socket", e))?;
    conn.socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, RTMGRP_LINK))
        .map_err(|e| Error::io("subscribing to link events", e))?;
    tokio::spawn(conn);
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
            let _ = sender.send(event);
        }
    });
    Ok(tx)
}
