//! The command line: one subcommand per verb, each a thin call into the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{
    bond, controller,
    error::{Error, Result},
    options::{BondOptions, BondSpec, OptionArgs},
    status,
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
    /// Free the pins of bonds whose network namespace is gone (deleted without `down`).
    Gc,
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
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (bondxdp.8 and one per subcommand) into DIR; for packaging.
    #[command(hide = true)]
    Manpages {
        /// Directory to write them into (created if missing).
        dir: PathBuf,
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
    /// Run the executables in DIR on every multi-wan uplink state change, with BONDXDP_BOND,
    /// BONDXDP_UPLINK, BONDXDP_OLD and BONDXDP_NEW set (as mwan3's hotplug scripts).
    #[arg(long, value_name = "DIR", default_value = crate::controller::hooks::DEFAULT_HOOK_DIR)]
    pub hook_dir: PathBuf,
    /// Run no hooks.
    #[arg(long, conflicts_with = "hook_dir")]
    pub no_hooks: bool,
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
    /// Member interface (repeat for each member; order sets the default active member).
    #[arg(short, long = "member", value_name = "IF", required = true)]
    pub members: Vec<String>,
    /// Every option (one flag per row of the option table, `options::table`).
    #[command(flatten)]
    pub options: OptionArgs,
}

impl UpArgs {
    /// The bond these arguments describe (values checked by the same setter as `set` and
    /// the config file).
    pub fn spec(&self) -> Result<BondSpec> {
        let mut options = BondOptions::default();
        self.options.apply(&mut options)?;
        Ok(BondSpec {
            name: self.name.clone(),
            members: self.members.clone(),
            options,
        })
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let changes_bonds = matches!(
        cli.command,
        Command::Up(_) | Command::Down { .. } | Command::Set { .. } | Command::Member { .. }
    );
    let result = dispatch(cli).await;
    if changes_bonds {
        // Even after a failure: a refused command may have undone a half-made change.
        crate::notify::changed();
    }
    result
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Up(args) => bond::up(&args.spec()?).await,
        Command::Down { name } => bond::down(&name).await,
        Command::Gc => {
            crate::preflight::check_privileges()?;
            for dir in crate::pins::collect_orphans()? {
                println!("freed {}", dir.display());
            }
            Ok(())
        }
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
                hook_dir: (!args.no_hooks).then_some(args.hook_dir),
            })
            .await
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "bondxdp", &mut std::io::stdout());
            Ok(())
        }
        Command::Manpages { dir } => write_manpages(&dir),
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
            let flows = status::flows(&name).await?;
            if json {
                let out = serde_json::to_string_pretty(&flows)
                    .map_err(|e| Error::io("serialising", e.into()))?;
                println!("{out}");
            } else {
                print!("{}", status::render_flows(&flows));
            }
            Ok(())
        }
        Command::Status {
            name,
            watch: true,
            interval,
            ..
        } => status::watch(name.as_deref(), interval).await,
        Command::Status {
            name,
            json,
            watch: false,
            ..
        } => {
            let all = status::status(name.as_deref()).await?;
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
                let text: Vec<String> = all.iter().map(status::render).collect();
                print!("{}", text.join("\n"));
            }
            Ok(())
        }
    }
}

/// Writes `bondxdp.8` and `bondxdp-SUBCOMMAND.8` for every visible subcommand into `dir`
/// (section 8: administration commands, as ip(8) and tc(8)).
fn write_manpages(dir: &std::path::Path) -> Result<()> {
    let io = |what: &std::path::Path, e| Error::io(format!("writing {}", what.display()), e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut root = <Cli as clap::CommandFactory>::command();
    root.build();
    let mut pages = vec![("bondxdp".to_string(), root.clone())];
    for sub in root
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("bondxdp-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, cmd) in pages {
        let path = dir.join(format!("{name}.8"));
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .section("8")
            .render(&mut out)
            .map_err(|e| io(&path, e))?;
        std::fs::write(&path, out).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn up(args: &[&str]) -> BondSpec {
        let cli = Cli::try_parse_from(
            ["bondxdp", "up", "b0", "-m", "eth1", "-m", "eth2"]
                .iter()
                .chain(args),
        )
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            Command::Up(up) => up.spec().unwrap(),
            _ => unreachable!(),
        }
    }

    /// `up`'s flags come from the option table and land where `set` puts the same option.
    #[test]
    fn up_flags_are_the_option_table() {
        let plain = up(&["--mode", "balance-xor"]);
        assert_eq!(plain.members, ["eth1", "eth2"]);
        assert_eq!(
            plain.options,
            BondOptions {
                mode: bondxdp_common::Mode::BalanceXor,
                ..BondOptions::default()
            }
        );
        let spec = up(&[
            "--mode",
            "2",
            "--xmit-hash-policy",
            "layer3+4",
            "--no-link-events",
            "--keep-member-macs",
            "--weight",
            "eth1=3",
            "--weight",
            "eth2=1",
            "--miimon",
            "50",
            "--no-default-route",
            "--reset-on-failover",
        ]);
        let mut expected = BondOptions::default();
        for (k, v) in [
            ("mode", "balance-xor"),
            ("xmit_hash_policy", "layer3+4"),
            ("link_events", "0"),
            ("keep_member_macs", "1"),
            ("weight", "eth1=3,eth2=1"),
            ("miimon", "50"),
            ("default_route", "0"),
            ("reset_on_failover", "1"),
        ] {
            crate::options::set_option(&mut expected, k, v).unwrap();
        }
        assert_eq!(spec.options, expected);
        // Every row has its flag.
        let help = Cli::try_parse_from(["bondxdp", "up", "--help"])
            .unwrap_err()
            .to_string();
        for spec in crate::options::OPTIONS {
            let flag = match spec.cli {
                crate::options::table::Cli::NamedFlag(flag, _) => flag.to_string(),
                _ => spec.name.replace('_', "-"),
            };
            assert!(help.contains(&format!("--{flag}")), "{flag}");
        }
        assert!(
            Cli::try_parse_from([
                "bondxdp", "up", "b0", "-m", "x", "--mode", "0", "--nope", "1"
            ])
            .is_err()
        );
    }
}
