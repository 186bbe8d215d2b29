//! bondxdp's task runner: `cargo xtask setup | run | test`.

mod lab;
mod lab_wan;
mod setup;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::util::{cargo, run, step};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "bondxdp's tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what this machine lacks (Debian packages, bpf-linker, rust-src, bpffs).
    Setup,
    /// The lab: two hosts, a bond on each side, traffic, a live per-member view.
    Run(lab::LabArgs),
    /// Benchmarks with same-run baselines: markdown table, JSON and plots in bench/results/.
    Bench {
        /// Reduced run (fewer, shorter trials) for CI smoke.
        #[arg(long)]
        quick: bool,
        /// Only these sections (prog, capacity, aggregation, balance, failover, multiwan,
        /// forwarding); default all.
        #[arg(long)]
        only: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "bench/results")]
        out: String,
    },
    /// Every test: host unit tests, BPF_PROG_TEST_RUN tests, network-namespace tests.
    Test {
        /// Extra arguments for `cargo test` (after `--`, e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::setup(),
        Task::Run(args) => {
            setup::setup()?;
            lab::run_lab(&args)
        }
        Task::Bench { quick, only, out } => {
            setup::setup()?;
            step("building (release)");
            run(cargo().args([
                "build",
                "--release",
                "-p",
                "bondxdp",
                "-p",
                "bondxdp-tests",
                "--bin",
                "bondxdp",
                "--bin",
                "bondxdp-bench",
            ]))?;
            let root = util::workspace_root();
            let mut bench = std::process::Command::new(root.join("target/release/bondxdp-bench"));
            bench
                .current_dir(&root)
                .env("BONDXDP_BIN", root.join("target/release/bondxdp"))
                .args(["--out", &out]);
            if quick {
                bench.arg("--quick");
            }
            for o in &only {
                bench.args(["--only", o]);
            }
            step("benchmarking (takes a few minutes; --quick for a short run)");
            run(&mut bench)
        }
        Task::Test { args } => {
            setup::setup()?;
            step("building");
            // The default members: everything but the eBPF crate, which only builds for
            // bpfel-unknown-none (bondxdp's build script does that).
            run(cargo().args(["build", "--all-targets"]))?;
            step("running the tests");
            // Every test binary runs even if one fails, so a red run shows all its failures.
            run(cargo().args(["test", "--no-fail-fast", "--"]).args(&args))?;
            if args.is_empty() {
                step("lab smoke test (cargo xtask run --duration 8 --check)");
                lab::run_lab(&lab::LabArgs {
                    duration: 8,
                    check: true,
                    prebuilt: true,
                    ..lab::LabArgs::default()
                })?;
                step("routing lab smoke test (cargo xtask run --forward --duration 8 --check)");
                lab::run_lab(&lab::LabArgs {
                    forward: true,
                    duration: 8,
                    check: true,
                    prebuilt: true,
                    ..lab::LabArgs::default()
                })?;
                step(
                    "multi-wan lab smoke test (cargo xtask run --lab multi-wan --duration 8 --check)",
                );
                lab::run_lab(&lab::LabArgs {
                    lab: "multi-wan".into(),
                    duration: 8,
                    check: true,
                    prebuilt: true,
                    ..lab::LabArgs::default()
                })?;
            }
            Ok(())
        }
    }
}
