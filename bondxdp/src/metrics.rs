//! Prometheus metrics (`bondxdp run --metrics 127.0.0.1:9477`): per-member traffic and state,
//! drops by reason, failovers and link failures, member selections per mode. Collected at
//! scrape time from the pinned maps (the same source as `status`) and the controller's own
//! counts; served on loopback by default, to at most [`MAX_CONNECTIONS`] clients at a time,
//! each for at most [`CONNECTION_LIFETIME`].

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tracing::{info, warn};

use crate::{
    error::{Error, Result},
    netdev::Netlink,
    pins::{self, BondPaths},
    status,
};

/// What the controller counts itself, per bond.
#[derive(Clone, Debug, Default)]
pub struct ControllerCounts {
    /// Active-member changes (active-backup failovers).
    pub failovers: u64,
    /// Committed link failures per member.
    pub link_failures: HashMap<String, u64>,
    /// multi-wan: times each uplink entered each state (`up`, `degraded`, `down`).
    pub uplink_states: HashMap<(String, String), u64>,
}

/// Counts shared between the bond tasks and the metrics endpoint.
pub type SharedCounts = Arc<Mutex<HashMap<String, ControllerCounts>>>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    bond: String,
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BondLabels {
    bond: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UplinkStateLabels {
    bond: String,
    member: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    bond: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SelectionLabels {
    bond: String,
    mode: String,
    member: String,
}

/// Renders the current metrics of every bond in this namespace, in the Prometheus text format.
pub async fn render(counts: &SharedCounts) -> Result<String> {
    let nl = Netlink::connect()?;
    let mut registry = Registry::with_prefix("bondxdp");
    let counter = |r: &mut Registry, name: &str, help: &str| {
        let f = Family::<MemberLabels, Counter>::default();
        r.register(name, help, f.clone());
        f
    };
    let tx_packets = counter(
        &mut registry,
        "member_tx_packets",
        "Packets sent through a member",
    );
    let tx_bytes = counter(
        &mut registry,
        "member_tx_bytes",
        "Bytes sent through a member",
    );
    let rx_packets = counter(
        &mut registry,
        "member_rx_packets",
        "Packets received on a member",
    );
    let rx_bytes = counter(
        &mut registry,
        "member_rx_bytes",
        "Bytes received on a member",
    );
    let xdp_forwarded = counter(
        &mut registry,
        "member_xdp_forwarded_packets",
        "Packets the XDP fast path forwarded through (out of or in from) a member",
    );
    let link_failures = counter(
        &mut registry,
        "member_link_failures",
        "Committed link failures",
    );
    let member_up = Family::<MemberLabels, Gauge>::default();
    registry.register(
        "member_up",
        "Member link state in the data plane (1 up)",
        member_up.clone(),
    );
    let transmitting = Family::<MemberLabels, Gauge>::default();
    registry.register(
        "member_transmitting",
        "Member may transmit now (1 yes)",
        transmitting.clone(),
    );
    let carrier = Family::<BondLabels, Gauge>::default();
    registry.register("bond_carrier", "Bond has carrier (1 yes)", carrier.clone());
    let failovers = Family::<BondLabels, Counter>::default();
    registry.register("failovers", "Active member changes", failovers.clone());
    let uplink_states = Family::<UplinkStateLabels, Counter>::default();
    registry.register(
        "uplink_state_changes",
        "multi-wan: times an uplink entered a state (up, degraded, down)",
        uplink_states.clone(),
    );
    let drops = Family::<ReasonLabels, Counter>::default();
    registry.register(
        "drops",
        "Packets dropped by the data plane, by reason",
        drops.clone(),
    );
    let events = Family::<ReasonLabels, Counter>::default();
    registry.register(
        "events",
        "Notable data-plane events that are not drops",
        events.clone(),
    );
    let selections = Family::<SelectionLabels, Counter>::default();
    registry.register(
        "selections",
        "Packets for which the mode selected each member",
        selections.clone(),
    );
    let lacp = LacpFamilies::register(&mut registry);
    let counts = counts.lock().map(|c| c.clone()).unwrap_or_default();
    for name in pins::list_bonds()? {
        let Ok(status) = status::bond_status(&nl, &BondPaths::current(&name)?).await else {
            continue;
        };
        let bond = BondLabels { bond: name.clone() };
        carrier.get_or_create(&bond).set(status.up as i64);
        let own = counts.get(&name).cloned().unwrap_or_default();
        failovers.get_or_create(&bond).inc_by(own.failovers);
        for ((member, state), n) in &own.uplink_states {
            uplink_states
                .get_or_create(&UplinkStateLabels {
                    bond: name.clone(),
                    member: member.clone(),
                    state: state.clone(),
                })
                .inc_by(*n);
        }
        for m in &status.members {
            let l = MemberLabels {
                bond: name.clone(),
                member: m.name.clone(),
            };
            tx_packets.get_or_create(&l).inc_by(m.tx_packets);
            tx_bytes.get_or_create(&l).inc_by(m.tx_bytes);
            rx_packets.get_or_create(&l).inc_by(m.rx_packets);
            rx_bytes.get_or_create(&l).inc_by(m.rx_bytes);
            xdp_forwarded.get_or_create(&l).inc_by(m.xdp_forwarded);
            member_up.get_or_create(&l).set((m.link == "up") as i64);
            transmitting.get_or_create(&l).set(m.transmitting as i64);
            link_failures
                .get_or_create(&l)
                .inc_by(own.link_failures.get(&m.name).copied().unwrap_or(0));
            selections
                .get_or_create(&SelectionLabels {
                    bond: name.clone(),
                    mode: status.mode.clone(),
                    member: m.name.clone(),
                })
                .inc_by(m.tx_packets);
            if let Some(port) = &m.lacp {
                lacp.record(&l, &port.port);
            }
        }
        for (family, map) in [(&drops, &status.drops), (&events, &status.events)] {
            for (reason, value) in map {
                family
                    .get_or_create(&ReasonLabels {
                        bond: name.clone(),
                        reason: reason.clone(),
                    })
                    .inc_by(*value);
            }
        }
    }
    let mut out = String::new();
    encode(&mut out, &registry)
        .map_err(|e| Error::io("encoding metrics", std::io::Error::other(e)))?;
    Ok(out)
}

/// 802.3ad: each member port's LACP state and counters.
struct LacpFamilies {
    collecting: Family<MemberLabels, Gauge>,
    distributing: Family<MemberLabels, Gauge>,
    pdus_rx: Family<MemberLabels, Counter>,
    pdus_tx: Family<MemberLabels, Counter>,
    malformed: Family<MemberLabels, Counter>,
    partner_changes: Family<MemberLabels, Counter>,
    expiries: Family<MemberLabels, Counter>,
    churns: Family<MemberLabels, Counter>,
}

impl LacpFamilies {
    fn register(r: &mut Registry) -> LacpFamilies {
        let mut gauge = |name: &str, help: &str| {
            let f = Family::<MemberLabels, Gauge>::default();
            r.register(name, help, f.clone());
            f
        };
        let (collecting, distributing) = (
            gauge("lacp_collecting", "802.3ad: the port collects (1 yes)"),
            gauge("lacp_distributing", "802.3ad: the port distributes (1 yes)"),
        );
        let mut counter = |name: &str, help: &str| {
            let f = Family::<MemberLabels, Counter>::default();
            r.register(name, help, f.clone());
            f
        };
        LacpFamilies {
            collecting,
            distributing,
            pdus_rx: counter("lacp_pdus_rx", "802.3ad: LACPDUs received"),
            pdus_tx: counter("lacp_pdus_tx", "802.3ad: LACPDUs sent"),
            malformed: counter(
                "lacp_malformed",
                "802.3ad: Slow Protocols frames refused as malformed",
            ),
            partner_changes: counter(
                "lacp_partner_changes",
                "802.3ad: the partner's system, key or port changed",
            ),
            expiries: counter(
                "lacp_expiries",
                "802.3ad: the partner's information expired",
            ),
            churns: counter("lacp_churns", "802.3ad: actor or partner churn detected"),
        }
    }

    fn record(&self, l: &MemberLabels, port: &crate::lacp::PortStatus) {
        let c = &port.counters;
        self.collecting.get_or_create(l).set(port.collecting as i64);
        self.distributing
            .get_or_create(l)
            .set(port.distributing as i64);
        self.pdus_rx.get_or_create(l).inc_by(c.lacpdu_rx);
        self.pdus_tx.get_or_create(l).inc_by(c.lacpdu_tx);
        self.malformed.get_or_create(l).inc_by(c.malformed.total());
        self.partner_changes
            .get_or_create(l)
            .inc_by(c.partner_changes);
        self.expiries.get_or_create(l).inc_by(c.expiries);
        self.churns
            .get_or_create(l)
            .inc_by(c.actor_churns + c.partner_churns);
    }
}

/// At most this many scrapes are served at once; further connections wait in the kernel's
/// accept queue and cost the controller no descriptor.
pub const MAX_CONNECTIONS: usize = 32;
/// A connection is closed this long after it was accepted, finished or not (a scrape takes
/// milliseconds; an idle or trickling client must not hold a slot).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(5);

/// The metrics listener: bounded connections, each with a deadline, so that no local user
/// can exhaust the controller's descriptors (and with them its ability to fail over).
struct BoundedListener {
    listener: tokio::net::TcpListener,
    slots: Arc<Semaphore>,
}

impl axum::serve::Listener for BoundedListener {
    type Io = BoundedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (BoundedStream, SocketAddr) {
        loop {
            let slot = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let stream = BoundedStream {
                        stream,
                        _slot: slot,
                        deadline: Box::pin(tokio::time::sleep(CONNECTION_LIFETIME)),
                    };
                    return (stream, addr);
                }
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: wait a
                    // little rather than spin.
                    warn!("metrics endpoint: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An accepted connection holding one of the [`MAX_CONNECTIONS`] slots until it is dropped;
/// reads and writes fail once its [`CONNECTION_LIFETIME`] is over, which closes it.
struct BoundedStream {
    stream: tokio::net::TcpStream,
    _slot: OwnedSemaphorePermit,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl BoundedStream {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "metrics connection lifetime over",
    )
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `/metrics` on `addr` until the process ends, [`MAX_CONNECTIONS`] at a time.
pub async fn serve(addr: SocketAddr, counts: SharedCounts) -> Result<()> {
    use axum::{Router, http::header, response::IntoResponse, routing::get};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("binding the metrics endpoint {addr}"), e))?;
    let listener = BoundedListener {
        listener,
        slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    };
    if !addr.ip().is_loopback() {
        warn!(%addr, "metrics are served beyond loopback");
    }
    info!(%addr, "serving Prometheus metrics at /metrics");
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let counts = counts.clone();
            async move {
                match render(&counts).await {
                    Ok(body) => (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response(),
                    Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                        .into_response(),
                }
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!("metrics endpoint stopped: {e}");
        }
    });
    Ok(())
}
