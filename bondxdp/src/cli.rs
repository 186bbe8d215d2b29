//! The command line: one subcommand per verb, each a thin call into the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{
    bond,
    config::{BondOptions, BondSpec, set_option},
    controller,
    error::{Error, Result},
    stats,
};

/// Link aggregation (bonding) on eBPF.
#[derive(Debug, Parser)]
#[command(name = "bondxdp", version, about)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a bond and enslave its members.
    Up(Box<UpArgs>),
    /// Remove a bond: detach, restore the members, delete the interface.
    Down {
        /// Bond name.
        name: String,
    },
    /// Show bonds like /proc/net/bonding does.
    Status {
        /// Bond name (default: every bond in this network namespace).
        name: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Live per-member rates, refreshed every --interval seconds (Ctrl-C ends).
        #[arg(long, short)]
        watch: bool,
        /// Refresh interval for --watch, in seconds.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// multi-wan: the live flows, with their uplink and translated address.
    Flows {
        /// Bond name.
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Change options of a running bond: `bondxdp set bond0 mode=active-backup miimon=50`.
    Set {
        /// Bond name.
        name: String,
        /// KEY=VALUE pairs with kernel option names (mode, xmit_hash_policy, primary,
        /// primary_reselect, miimon, updelay, downdelay, arp_interval, arp_ip_target,
        /// lacp_rate, ad_select, ...).
        #[arg(required = true, value_parser = parse_assignment)]
        options: Vec<(String, String)>,
    },
    /// Add or remove a member of a running bond.
    Member {
        /// add or del.
        #[command(subcommand)]
        action: MemberAction,
    },
    /// The controller: monitor links, fail over, keep bonds as configured. Runs in the
    /// foreground; SIGHUP reloads the config, SIGTERM/Ctrl-C exits leaving bonds running.
    Run(RunArgs),
    /// Write the example selection programs for `--mode custom` (examples/select-program:
    /// weighted_hash, last_member, out_of_range) to FILE, ready for --select-program.
    ExampleSelectProgram {
        /// Where to write the eBPF object.
        file: PathBuf,
    },
}

/// `bondxdp member add|del`.
#[derive(Debug, Subcommand)]
pub enum MemberAction {
    /// Enslave IF to bond NAME.
    Add {
        /// Bond name.
        name: String,
        /// Interface to add.
        iface: String,
    },
    /// Release IF from bond NAME and restore it.
    Del {
        /// Bond name.
        name: String,
        /// Interface to remove.
        iface: String,
    },
}

/// `bondxdp run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML file describing bonds to create and keep (see examples/bondxdp.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Bring every bond of this namespace down when the controller exits.
    #[arg(long)]
    pub down_on_exit: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9477).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

fn parse_assignment(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// `bondxdp up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Name of the bond interface to create.
    pub name: String,
    /// Bonding mode: balance-rr (0), active-backup (1), balance-xor (2), broadcast (3),
    /// 802.3ad (4, LACP; needs `bondxdp run`), balance-tlb (5), load-aware (flowlets by spare capacity), multi-wan (uplinks to
    /// different networks, per flow, translated), or custom (--select-program).
    #[arg(long)]
    pub mode: String,
    /// Member interface (repeat for each member; order sets the default active member).
    #[arg(short, long = "member", value_name = "IF", required = true)]
    pub members: Vec<String>,
    /// Hash for balance-xor and 802.3ad: layer2, layer2+3, layer3+4, encap2+3, encap3+4,
    /// vlan+srcmac.
    #[arg(long)]
    pub xmit_hash_policy: Option<String>,
    /// balance-rr: packets per member before moving on (0 = random member).
    #[arg(long)]
    pub packets_per_slave: Option<u32>,
    /// active-backup: preferred member.
    #[arg(long, value_name = "IF")]
    pub primary: Option<String>,
    /// When the primary takes over again: always, better (faster), failure.
    #[arg(long)]
    pub primary_reselect: Option<String>,
    /// Members keep their own MACs (the source MAC is rewritten per member instead).
    #[arg(long)]
    pub keep_member_macs: bool,
    /// Deliver frames received on inactive members too.
    #[arg(long)]
    pub all_slaves_active: bool,
    /// MAC address of the bond (default: the first member's).
    #[arg(long)]
    pub mac: Option<String>,
    /// Carrier polling interval in ms (0: no polling; netlink events still act). Default 100.
    #[arg(long, value_name = "MS")]
    pub miimon: Option<u32>,
    /// Wait this long (ms, a multiple of miimon) before using a recovered link.
    #[arg(long, value_name = "MS")]
    pub updelay: Option<u32>,
    /// Wait this long (ms, a multiple of miimon) before abandoning a failed link.
    #[arg(long, value_name = "MS")]
    pub downdelay: Option<u32>,
    /// ARP/NS probe interval in ms (0: off).
    #[arg(long, value_name = "MS")]
    pub arp_interval: Option<u32>,
    /// IPv4 address to probe through every member (repeat, up to 16).
    #[arg(long, value_name = "IP")]
    pub arp_ip_target: Vec<String>,
    /// IPv6 address to probe with neighbour solicitations (repeat, up to 16).
    #[arg(long, value_name = "IP")]
    pub ns_ip6_target: Vec<String>,
    /// Which members' probe answers are validated: none, active, backup, all.
    #[arg(long)]
    pub arp_validate: Option<String>,
    /// Whether any or all targets must answer: any, all.
    #[arg(long)]
    pub arp_all_targets: Option<String>,
    /// Probe intervals without an answer before a link is down (default 2).
    #[arg(long)]
    pub arp_missed_max: Option<u32>,
    /// Gratuitous ARPs / unsolicited NAs sent through a new active member (default 1).
    #[arg(long)]
    pub num_grat_arp: Option<u32>,
    /// Members that must be up for the bond to have carrier (802.3ad: distributing).
    #[arg(long)]
    pub min_links: Option<u32>,
    /// 802.3ad: how often the partner is asked to send LACPDUs: slow (every 30 s, the
    /// default) or fast (every second; a silent partner is noticed within 3 s).
    #[arg(long)]
    pub lacp_rate: Option<String>,
    /// 802.3ad: on (send LACPDUs unasked, the default) or off (only answer a partner).
    #[arg(long)]
    pub lacp_active: Option<String>,
    /// 802.3ad: which aggregator carries traffic: stable (default), bandwidth, count.
    #[arg(long)]
    pub ad_select: Option<String>,
    /// 802.3ad: system priority in our LACPDUs, 1-65535 (default 65535).
    #[arg(long, value_name = "N")]
    pub ad_actor_sys_prio: Option<u32>,
    /// 802.3ad: the upper 10 bits of every port key, 0-1023 (default 0).
    #[arg(long, value_name = "N")]
    pub ad_user_port_key: Option<u32>,
    /// 802.3ad: the system MAC in our LACPDUs (default: the bond's MAC).
    #[arg(long, value_name = "MAC")]
    pub ad_actor_system: Option<String>,
    /// Ignore netlink link events; notice carrier loss by polling only.
    #[arg(long)]
    pub no_link_events: bool,
    /// multi-wan: the gateway of an uplink, IF=IP (default: from its default route).
    #[arg(long, value_name = "IF=IP")]
    pub gateway: Vec<String>,
    /// Weighted modes (load-aware, balance-tlb, multi-wan): a member's fixed share of new
    /// flows, IF=N (others: computed from spare capacity by the controller, else 1).
    #[arg(long, value_name = "IF=N")]
    pub weight: Vec<String>,
    /// Weighted modes: a member's capacity in Mbit/s, IF=MBIT (default: the link's speed).
    #[arg(long, value_name = "IF=MBIT")]
    pub speed: Vec<String>,
    /// load-aware, balance-tlb: a flow idle this long may move to another member, ms
    /// (default 20).
    #[arg(long, value_name = "MS")]
    pub flowlet_timeout: Option<u32>,
    /// XDP fast path: a LAN-side interface whose routed traffic through the bond (and the
    /// replies) is forwarded in XDP (repeat for each; needs ip_forward).
    #[arg(long, value_name = "IF")]
    pub forward_from: Vec<String>,
    /// custom mode: the selection program, FILE.o[:PROGRAM] (an eBPF object built as in
    /// docs/modes.md; PROGRAM may be left out when it holds one tc classifier).
    #[arg(long, value_name = "FILE.o[:PROGRAM]")]
    pub select_program: Option<String>,
    /// Weighted modes: how often the controller recomputes weights, ms (default 1000; 0:
    /// never).
    #[arg(long, value_name = "MS")]
    pub rebalance_interval: Option<u32>,
    /// multi-wan: health probe target through every uplink: IP (ping) or tcp:IP:PORT.
    #[arg(long, value_name = "TARGET")]
    pub probe: Vec<String>,
    /// multi-wan: probe interval while healthy, ms (default 300).
    #[arg(long, value_name = "MS")]
    pub probe_interval: Option<u32>,
    /// multi-wan: least time before an unanswered probe is lost, ms (default 150).
    #[arg(long, value_name = "MS")]
    pub probe_timeout: Option<u32>,
    /// multi-wan: probe interval while confirming a failure, ms (default 100).
    #[arg(long, value_name = "MS")]
    pub probe_failure_interval: Option<u32>,
    /// multi-wan: failed probe rounds in a row before an uplink is down (default 3).
    #[arg(long, value_name = "N")]
    pub probe_down: Option<u32>,
    /// multi-wan: good probe rounds in a row before it is up again (default 3).
    #[arg(long, value_name = "N")]
    pub probe_up: Option<u32>,
    /// multi-wan: replies slower than this count as lost, ms (default: no limit).
    #[arg(long, value_name = "MS")]
    pub probe_max_rtt: Option<u32>,
    /// multi-wan: flow (default) or host (every flow to one destination on one uplink).
    #[arg(long)]
    pub sticky: Option<String>,
    /// multi-wan: the bond's own address, one per family (default 192.0.0.8/32).
    #[arg(long, value_name = "CIDR")]
    pub address: Vec<String>,
    /// multi-wan: do not make the bond the way out (no routes through it).
    #[arg(long)]
    pub no_default_route: bool,
    /// multi-wan: reset the host's TCP connections through an uplink that fails.
    #[arg(long)]
    pub reset_on_failover: bool,
    /// multi-wan: flow table size (default 524288, about 160 MB of kernel memory).
    #[arg(long, value_name = "N")]
    pub max_flows: Option<u32>,
    /// multi-wan: translated port range MIN-MAX (default 1024-65535).
    #[arg(long, value_name = "MIN-MAX")]
    pub nat_ports: Option<String>,
}

impl UpArgs {
    /// The bond these arguments describe (values checked by the same setter as `set` and
    /// the config file).
    pub fn spec(&self) -> Result<BondSpec> {
        let mut options = BondOptions::default();
        let mut set = |k: &str, v: Option<String>| -> Result<()> {
            match v {
                Some(v) => set_option(&mut options, k, &v),
                None => Ok(()),
            }
        };
        let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        set("mode", Some(self.mode.clone()))?;
        set("xmit_hash_policy", self.xmit_hash_policy.clone())?;
        set(
            "packets_per_slave",
            self.packets_per_slave.map(|v| v.to_string()),
        )?;
        set("primary", self.primary.clone())?;
        set("primary_reselect", self.primary_reselect.clone())?;
        set("keep_member_macs", Some(self.keep_member_macs.to_string()))?;
        set(
            "all_slaves_active",
            Some(self.all_slaves_active.to_string()),
        )?;
        set("mac", self.mac.clone())?;
        set("miimon", self.miimon.map(|v| v.to_string()))?;
        set("updelay", self.updelay.map(|v| v.to_string()))?;
        set("downdelay", self.downdelay.map(|v| v.to_string()))?;
        set("arp_interval", self.arp_interval.map(|v| v.to_string()))?;
        set("arp_ip_target", list(&self.arp_ip_target))?;
        set("ns_ip6_target", list(&self.ns_ip6_target))?;
        set("arp_validate", self.arp_validate.clone())?;
        set("arp_all_targets", self.arp_all_targets.clone())?;
        set("arp_missed_max", self.arp_missed_max.map(|v| v.to_string()))?;
        set("num_grat_arp", self.num_grat_arp.map(|v| v.to_string()))?;
        set("min_links", self.min_links.map(|v| v.to_string()))?;
        set("lacp_rate", self.lacp_rate.clone())?;
        set("lacp_active", self.lacp_active.clone())?;
        set("ad_select", self.ad_select.clone())?;
        set(
            "ad_actor_sys_prio",
            self.ad_actor_sys_prio.map(|v| v.to_string()),
        )?;
        set(
            "ad_user_port_key",
            self.ad_user_port_key.map(|v| v.to_string()),
        )?;
        set("ad_actor_system", self.ad_actor_system.clone())?;
        set("link_events", Some((!self.no_link_events).to_string()))?;
        set("gateway", list(&self.gateway))?;
        set("weight", list(&self.weight))?;
        set("speed", list(&self.speed))?;
        set(
            "flowlet_timeout",
            self.flowlet_timeout.map(|v| v.to_string()),
        )?;
        set("select_program", self.select_program.clone())?;
        set("forward_from", list(&self.forward_from))?;
        set(
            "rebalance_interval",
            self.rebalance_interval.map(|v| v.to_string()),
        )?;
        set("probe", list(&self.probe))?;
        set("probe_interval", self.probe_interval.map(|v| v.to_string()))?;
        set("probe_timeout", self.probe_timeout.map(|v| v.to_string()))?;
        set(
            "probe_failure_interval",
            self.probe_failure_interval.map(|v| v.to_string()),
        )?;
        set("probe_down", self.probe_down.map(|v| v.to_string()))?;
        set("probe_up", self.probe_up.map(|v| v.to_string()))?;
        set("probe_max_rtt", self.probe_max_rtt.map(|v| v.to_string()))?;
        set("sticky", self.sticky.clone())?;
        set("address", list(&self.address))?;
        set("default_route", Some((!self.no_default_route).to_string()))?;
        set(
            "reset_on_failover",
            Some(self.reset_on_failover.to_string()),
        )?;
        set("max_flows", self.max_flows.map(|v| v.to_string()))?;
        set("nat_ports", self.nat_ports.clone())?;
        Ok(BondSpec {
            name: self.name.clone(),
            members: self.members.clone(),
            options,
        })
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Up(args) => bond::up(&args.spec()?).await,
        Command::Down { name } => bond::down(&name).await,
        Command::Set { name, options } => {
            for warning in bond::set(&name, &options).await? {
                tracing::warn!("{warning}");
            }
            Ok(())
        }
        Command::Member { action } => match action {
            MemberAction::Add { name, iface } => bond::member_add(&name, &iface).await,
            MemberAction::Del { name, iface } => bond::member_del(&name, &iface).await,
        },
        Command::Run(args) => {
            controller::run(controller::RunOptions {
                config: args.config,
                down_on_exit: args.down_on_exit,
                metrics: args.metrics,
            })
            .await
        }
        Command::ExampleSelectProgram { file } => {
            std::fs::write(&file, crate::loader::EXAMPLE_SELECT_OBJECT)
                .map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
            println!(
                "wrote {}: use --select-program {}:weighted_hash",
                file.display(),
                file.display()
            );
            Ok(())
        }
        Command::Flows { name, json } => {
            let flows = stats::flows(&name).await?;
            if json {
                let out = serde_json::to_string_pretty(&flows)
                    .map_err(|e| Error::io("serialising", e.into()))?;
                println!("{out}");
            } else {
                print!("{}", stats::render_flows(&flows));
            }
            Ok(())
        }
        Command::Status {
            name,
            watch: true,
            interval,
            ..
        } => stats::watch(name.as_deref(), interval).await,
        Command::Status {
            name,
            json,
            watch: false,
            ..
        } => {
            let all = stats::status(name.as_deref()).await?;
            if json {
                let out = if name.is_some() {
                    serde_json::to_string_pretty(&all[0])
                } else {
                    serde_json::to_string_pretty(&all)
                };
                println!("{}", out.map_err(|e| Error::io("serialising", e.into()))?);
            } else if all.is_empty() {
                println!("no bonds in this network namespace");
            } else {
                let text: Vec<String> = all.iter().map(stats::render).collect();
                print!("{}", text.join("\n"));
            }
            Ok(())
        }
    }
}
