//! `cargo xtask setup`: installs what a new machine lacks, idempotently. Every other task
//! calls it first, so `cargo xtask run` and `cargo xtask test` are all a new user types.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::util::{cmd, output, run, step};

/// Debian packages: LLVM 22 for bpf-linker, and the tools the lab, tests and benchmarks use
/// (Open vSwitch is the 802.3ad tests' other LACP implementation; they run its daemons in a
/// namespace of their own, on the userspace datapath).
const APT_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "iproute2",
    "iperf3",
    "iputils-ping",
    "nftables",
    "ethtool",
    "util-linux",
    "fonts-dejavu-core",
    "openvswitch-switch",
];

/// bpf-linker version known to work with the pinned aya crates and Debian's LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// Runs every setup step.
pub fn setup() -> Result<()> {
    check_root()?;
    apt_packages()?;
    rust_src()?;
    bpf_linker()?;
    bpffs()?;
    Ok(())
}

fn check_root() -> Result<()> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        bail!("cargo xtask must run as root (it installs packages and creates namespaces)");
    }
    Ok(())
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !output(&mut cmd("dpkg-query", ["-W", "-f=${Status}", p]))
                .map(|s| s.contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    run(cmd("apt-get", ["update", "-q"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(cmd(
        "apt-get",
        ["install", "-y", "-q", "--no-install-recommends"],
    )
    .args(&missing)
    .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn rust_src() -> Result<()> {
    let installed = output(&mut cmd(
        "rustup",
        ["component", "list", "--installed", "--toolchain", "nightly"],
    ))
    .unwrap_or_default();
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    step("adding rust-src to the nightly toolchain (needed to build the eBPF programs)");
    run(&mut cmd(
        "rustup",
        ["toolchain", "install", "nightly", "--profile", "minimal"],
    ))?;
    run(&mut cmd(
        "rustup",
        ["component", "add", "rust-src", "--toolchain", "nightly"],
    ))
}

fn bpf_linker() -> Result<()> {
    let version = output(&mut cmd("bpf-linker", ["--version"])).unwrap_or_default();
    if version.contains(BPF_LINKER_VERSION) {
        return Ok(());
    }
    step(&format!(
        "installing bpf-linker {BPF_LINKER_VERSION} (LLVM 22)"
    ));
    let path = format!(
        "{LLVM_PREFIX}/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    run(cmd(
        "cargo",
        [
            "install",
            "bpf-linker",
            "--version",
            &format!("={BPF_LINKER_VERSION}"),
            "--no-default-features",
            "--features",
            "llvm-22",
        ],
    )
    .env("LLVM_PREFIX", LLVM_PREFIX)
    .env("PATH", path))
    .context("installing bpf-linker")
}

fn bpffs() -> Result<()> {
    let mounted = output(&mut cmd("stat", ["-f", "-c", "%T", "/sys/fs/bpf"]))
        .map(|t| t.trim() == "bpf_fs")
        .unwrap_or(false);
    if mounted {
        return Ok(());
    }
    step("mounting bpffs at /sys/fs/bpf");
    if !Path::new("/sys/fs/bpf").is_dir() {
        bail!("/sys/fs/bpf does not exist: is sysfs mounted?");
    }
    run(&mut cmd("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}
