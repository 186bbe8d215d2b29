//! The command line: one subcommand per verb, each a thin call into the library.

use clap::{Args, Parser, Subcommand};

use crate::{
    bond,
    config::{self, BondOptions, BondSpec},
    error::Result,
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
    Up(UpArgs),
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
    },
}

/// `bondxdp up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Name of the bond interface to create.
    pub name: String,
    /// Bonding mode: balance-rr (0), active-backup (1), balance-xor (2), broadcast (3).
    #[arg(long, value_parser = config::parse_mode)]
    pub mode: bondxdp_common::Mode,
    /// Member interface (repeat for each member; order sets the default active member).
    #[arg(short, long = "member", value_name = "IF", required = true)]
    pub members: Vec<String>,
    /// Hash for balance-xor: layer2, layer2+3, layer3+4, encap2+3, encap3+4, vlan+srcmac.
    #[arg(long, value_parser = config::parse_hash_policy, default_value = "layer2")]
    pub xmit_hash_policy: bondxdp_common::HashPolicy,
    /// balance-rr: packets per member before moving on (0 = random member).
    #[arg(long, default_value_t = 1)]
    pub packets_per_slave: u32,
    /// active-backup: preferred member.
    #[arg(long, value_name = "IF")]
    pub primary: Option<String>,
    /// Members keep their own MACs (the source MAC is rewritten per member instead).
    #[arg(long)]
    pub keep_member_macs: bool,
    /// Deliver frames received on inactive members too.
    #[arg(long)]
    pub all_slaves_active: bool,
    /// MAC address of the bond (default: the first member's).
    #[arg(long, value_parser = config::parse_mac)]
    pub mac: Option<[u8; 6]>,
}

impl UpArgs {
    /// The bond these arguments describe.
    pub fn spec(&self) -> BondSpec {
        BondSpec {
            name: self.name.clone(),
            members: self.members.clone(),
            options: BondOptions {
                mode: self.mode,
                xmit_hash_policy: self.xmit_hash_policy,
                packets_per_slave: self.packets_per_slave,
                primary: self.primary.clone(),
                keep_member_macs: self.keep_member_macs,
                all_slaves_active: self.all_slaves_active,
                mac: self.mac,
            },
        }
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Up(args) => bond::up(&args.spec()).await,
        Command::Down { name } => bond::down(&name).await,
        Command::Status { name, json } => {
            let all = stats::status(name.as_deref()).await?;
            if json {
                let out = if name.is_some() {
                    serde_json::to_string_pretty(&all[0])
                } else {
                    serde_json::to_string_pretty(&all)
                };
                println!("{}", out.expect("status serialises"));
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
