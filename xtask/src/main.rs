//! bondxdp's task runner: `cargo xtask setup | run | test | bench | from-scratch`.

mod dist;
mod from_scratch;
mod fuzz;
mod lab;
mod lab_wan;
#[cfg(test)]
mod layout;
mod setup;
mod toolchain;
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
    /// Install what this machine lacks: the pinned Rust toolchains and bpf-linker, Debian
    /// packages (LLVM, the tools tests use), bpffs. Checks the eBPF rustc/bpf-linker pairing.
    Setup,
    /// Formatting and lints: `cargo fmt --check`, clippy on the host crates, then clippy on the
    /// eBPF crates with the pinned eBPF Rust.
    Lint,
    /// Prove the from-nothing build: the pinned toolchains and bpf-linker installed into
    /// empty, temporary RUSTUP_HOME and CARGO_HOME, then the release binary built with them.
    FromScratch {
        /// Keep target/from-scratch (the homes and the build) afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// The Debian package (cargo-deb): target/dist/bondxdp_VERSION_ARCH.deb with the binary,
    /// the systemd unit, an example configuration, man pages and shell completions.
    Dist,
    /// The lab: two hosts, a bond on each side, traffic, a live per-member view.
    Run(lab::LabArgs),
    /// Benchmarks with same-run baselines: markdown table, JSON and plots in bench/results/.
    Bench {
        /// Reduced run (fewer, shorter trials) for CI smoke.
        #[arg(long)]
        quick: bool,
        /// Only these sections (prog, capacity, aggregation, balance, failover, idle, multiwan,
        /// forwarding, soak); default all.
        #[arg(long)]
        only: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "bench/results")]
        out: String,
    },
    /// Fuzz the parsers that take outside input (fuzz/): every target, or those named, for
    /// `--secs` each (`--keep`: merge new coverage into the committed corpus).
    Fuzz(fuzz::FuzzArgs),
    /// Every test: host unit tests, BPF_PROG_TEST_RUN tests, network-namespace tests, then a
    /// bounded run of every fuzz target (`BONDXDP_FUZZ_SECS` seconds each, default 15).
    Test {
        /// Extra arguments for `cargo test` (after `--`, e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    util::started();
    match Cli::parse().task {
        Task::Setup => setup::setup(),
        Task::Lint => lint(),
        Task::FromScratch { keep } => {
            setup::setup()?;
            from_scratch::from_scratch(keep)
        }
        Task::Dist => {
            setup::setup()?;
            dist::dist().map(drop)
        }
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
        Task::Fuzz(args) => {
            setup::setup()?;
            fuzz::fuzz(&args)
        }
        Task::Test { args } => {
            setup::setup()?;
            if args.is_empty() {
                // First: nothing else matters if a new machine cannot build.
                from_scratch::from_scratch(false)?;
            }
            step("building");
            // The default members: everything but the eBPF crates, which only build for
            // bpfel-unknown-none (bondxdp's build script builds them).
            run(cargo().args(["build", "--all-targets"]))?;
            let mut test = cargo();
            if args.is_empty() {
                // tests/tests/package.rs installs it (run alone, it builds it itself).
                step("building the Debian package (cargo xtask dist)");
                test.env("BONDXDP_DEB", dist::dist()?);
            }
            step("running the tests");
            // Every test binary runs even if one fails, so a red run shows all its failures.
            run(test.args(["test", "--no-fail-fast", "--"]).args(&args))?;
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
                step("fuzzing every parser briefly (cargo xtask fuzz for long runs)");
                fuzz::test_step()?;
            }
            Ok(())
        }
    }
}

/// `cargo xtask lint`: what every commit passes before it is pushed.
fn lint() -> Result<()> {
    setup::setup()?;
    let pins = toolchain::Pins::load(&util::workspace_root()).map_err(|e| anyhow::anyhow!(e))?;
    step("cargo fmt --check");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("clippy: host crates");
    run(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    step("clippy: fuzz targets");
    run(cargo().args([
        "clippy",
        "-p",
        "bondxdp-fuzz",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    for krate in [
        "bondxdp-ebpf",
        "bondxdp-select-example",
        "bondxdp-bench-ebpf",
    ] {
        step(&format!(
            "clippy: {krate} (Rust {}, bpfel-unknown-none)",
            pins.ebpf_rust
        ));
        let mut clippy = setup::Rust::from_env().cmd("rustup");
        clippy
            .current_dir(util::workspace_root())
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["run", &pins.ebpf_rust, "cargo", "clippy", "-p", krate])
            .args([
                "--release",
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
            ])
            .args(["--target-dir", "target/ebpf-clippy", "--", "-D", "warnings"]);
        run(&mut clippy)?;
    }
    Ok(())
}
