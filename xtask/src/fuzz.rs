//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/` (one per parser that takes outside
//! input), built with the pinned stable Rust and run for a bounded time each.
//!
//! No nightly and no cargo-fuzz: libfuzzer-sys compiles libFuzzer itself, and the coverage
//! instrumentation libFuzzer needs is the stable `-C passes=sancov-module` with LLVM's
//! `-sanitizer-coverage-*` options (what cargo-fuzz passes too). No sanitizer (that would need
//! `-Z sanitizer`): Rust's own bounds and overflow checks (`-C debug-assertions`,
//! `-C overflow-checks`) catch what the targets look for. The flags go in the host target's
//! `CARGO_TARGET_<TRIPLE>_RUSTFLAGS` with an explicit `--target`, so build scripts and the
//! eBPF build that bondxdp's build script runs are not instrumented.
//!
//! Corpora: `fuzz/corpus/<target>` is committed (seeds from `cargo run -p bondxdp-fuzz
//! --example make-seeds`, plus inputs long runs found worth keeping) and only read; what a
//! run finds goes to `target/fuzz/corpus/<target>`, crashes to `target/fuzz/artifacts/<target>/`.
//! `--keep` merges a run's new coverage into the committed corpus (libFuzzer `-merge=1`).

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

use crate::util::{cargo, output, run, step, workspace_root};

/// Every fuzz target (a `[[bin]]` of fuzz/Cargo.toml), in the order `cargo xtask test` runs
/// them.
pub const TARGETS: &[&str] = &[
    "lacp_pdu",
    "probe_replies",
    "alb_arp",
    "xmit_hash",
    "multi_wan_flow",
    "config_toml",
    "option_values",
];

/// Seconds per target in `cargo xtask test` (7 targets: about 3 minutes in all);
/// `BONDXDP_FUZZ_SECS` overrides it (0 skips the fuzz step).
pub const TEST_SECS: u64 = 15;

/// The coverage instrumentation libFuzzer needs, on stable Rust.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// `cargo xtask fuzz` arguments.
#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Targets to run (default: all of them).
    pub targets: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 300)]
    pub secs: u64,
    /// Merge what the run found into the committed corpus (fuzz/corpus/<target>).
    #[arg(long)]
    pub keep: bool,
    /// Parallel libFuzzer jobs per target.
    #[arg(long, default_value_t = 1)]
    pub jobs: u32,
}

/// The host's target triple (from the pinned rustc).
fn host_triple() -> Result<String> {
    let vv = output(
        Command::new("rustc")
            .current_dir(workspace_root())
            .arg("-vV"),
    )?;
    vv.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("no host line in `rustc -vV`")
}

/// Builds every fuzz target, instrumented; returns the directory holding the binaries.
pub fn build() -> Result<PathBuf> {
    let triple = host_triple()?;
    step(&format!(
        "building the fuzz targets (release, {triple}, coverage-instrumented)"
    ));
    let var = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        triple.to_uppercase().replace(['-', '.'], "_")
    );
    run(cargo()
        .env(var, RUSTFLAGS.join(" "))
        .args(["build", "--release", "-p", "bondxdp-fuzz", "--bins"])
        .args(["--target", &triple, "--target-dir", "target/fuzz"]))?;
    Ok(workspace_root()
        .join("target/fuzz")
        .join(triple)
        .join("release"))
}

/// Runs `target` for `secs` seconds from its committed corpus; fails on a crash, a failed
/// invariant or a timeout (the input is in target/fuzz/artifacts/<target>/).
pub fn run_target(bin_dir: &std::path::Path, target: &str, secs: u64, jobs: u32) -> Result<()> {
    let root = workspace_root();
    let seeds = root.join("fuzz/corpus").join(target);
    let found = root.join("target/fuzz/corpus").join(target);
    let artifacts = root.join("target/fuzz/artifacts").join(target);
    std::fs::create_dir_all(&found)?;
    std::fs::create_dir_all(&artifacts)?;
    if !seeds.is_dir() {
        bail!("no corpus at {}", seeds.display());
    }
    step(&format!("fuzzing {target} for {secs} s"));
    let mut fuzz = Command::new(bin_dir.join(target));
    fuzz.current_dir(&root)
        .arg(format!("-max_total_time={secs}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-max_len=4096")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    if jobs > 1 {
        fuzz.arg(format!("-fork={jobs}"));
    }
    fuzz.arg(&found).arg(&seeds);
    run(&mut fuzz).with_context(|| {
        format!(
            "fuzz target {target} failed: the input is in {} \
             (reproduce: {} <file>)",
            artifacts.display(),
            bin_dir.join(target).display()
        )
    })
}

/// Merges `target`'s found inputs into its committed corpus (only those adding coverage).
fn merge(bin_dir: &std::path::Path, target: &str) -> Result<()> {
    let root = workspace_root();
    step(&format!("merging new coverage into fuzz/corpus/{target}"));
    run(Command::new(bin_dir.join(target))
        .current_dir(&root)
        .arg("-merge=1")
        .arg(root.join("fuzz/corpus").join(target))
        .arg(root.join("target/fuzz/corpus").join(target)))
}

/// `cargo xtask fuzz [TARGET...] [--secs N] [--keep]`.
pub fn fuzz(args: &FuzzArgs) -> Result<()> {
    let targets: Vec<&str> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &args.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("no fuzz target {t:?}; there are: {}", TARGETS.join(", "));
            }
        }
        args.targets.iter().map(String::as_str).collect()
    };
    let bin_dir = build()?;
    for t in targets {
        run_target(&bin_dir, t, args.secs, args.jobs)?;
        if args.keep {
            merge(&bin_dir, t)?;
        }
    }
    Ok(())
}

/// The bounded run of every target in `cargo xtask test` ([`TEST_SECS`] each, or
/// `BONDXDP_FUZZ_SECS`).
pub fn test_step() -> Result<()> {
    let secs = match std::env::var("BONDXDP_FUZZ_SECS") {
        Ok(s) => s
            .parse()
            .with_context(|| format!("BONDXDP_FUZZ_SECS={s:?} is not a number of seconds"))?,
        Err(_) => TEST_SECS,
    };
    if secs == 0 {
        step("fuzzing skipped (BONDXDP_FUZZ_SECS=0)");
        return Ok(());
    }
    let bin_dir = build()?;
    for t in TARGETS {
        run_target(&bin_dir, t, secs, 1)?;
    }
    Ok(())
}
