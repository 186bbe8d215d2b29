//! bondxdp: link aggregation (bonding) on eBPF.
//!
//! The rooms, one concern each (a host test in xtask/src/layout.rs keeps them free of import
//! circles):
//! * [`options`]: what a bond is asked to be (the option table, validation, the config file,
//!   the pinned records), checked before the host is touched;
//! * [`bond`]: `up`/`down`/`set`/`member`, building, changing and dismantling a bond without
//!   ever leaving it half-done;
//! * [`controller`]: `bondxdp run`: link monitoring, failover, config files;
//! * [`fast_path`]: the XDP fast path for routed traffic (`--forward-from`);
//! * [`loader`]: the embedded eBPF object, loaded once per bond, pinned and attached via tcx;
//! * [`attach`]: how a bond's tc programs are attached, tcx or legacy, chosen at `up` and
//!   kept; [`tc_legacy`]: the clsact qdisc and cls_bpf filters of kernels without tcx;
//! * [`maps`]: typed access to a bond's maps (atomic configuration swaps, per-CPU counters);
//! * [`tables`]: tables sized to the mode (the flowlet table only where a mode reads it);
//! * [`lacp`]: 802.3ad's LACP as pure state machines (PDUs, ports, aggregator selection),
//!   driven by the controller with frames and time;
//! * [`notify`]: commands telling the namespace's controller that bonds changed;
//! * [`netdev`]: interfaces, addresses, routes and neighbours through rtnetlink;
//! * [`multi_wan`]: multi-wan uplinks as the host has them (address, gateway, its MAC);
//! * [`pins`]: the bpffs layout, keyed by network namespace;
//! * [`status`]: `status`, as /proc/net/bonding shows it;
//! * [`metrics`]: Prometheus metrics served by the controller;
//! * [`preflight`]: privilege and BPF checks;
//! * [`mac`]: MAC addresses as users write them;
//! * [`select_program`]: custom mode's user-written selection programs, loaded and swapped;
//! * [`cli`]: the command line.
//!
//! The pure decisions (hashes, member selection) live in `bondxdp-common`.

pub mod alb;
pub mod attach;
pub mod bond;
pub mod cli;
pub mod controller;
pub mod error;
pub mod fail_over_mac;
pub mod fast_path;
/// LACP (802.3ad) without IO: PDU codec, per-port state machines, aggregator selection.
pub mod lacp;
pub mod loader;
pub mod mac;
pub mod maps;
pub mod metrics;
pub mod multi_wan;
pub mod netdev;
pub mod notify;
pub mod options;
pub mod pins;
pub mod preflight;
pub mod select_program;
pub mod status;
pub mod tables;
pub mod tc_legacy;

pub use bondxdp_common as common;
pub use error::{Error, Result};
