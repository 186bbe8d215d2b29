//! `cargo xtask setup`: installs what a new machine lacks, idempotently. Every other task
//! calls it first, so `cargo xtask run` and `cargo xtask test` are all a new user types.
//!
//! What it installs is what the repository pins (xtask/src/toolchain.rs reads the pins):
//! exact Rust toolchains, bpf-linker built against Debian's LLVM of the pinned major. A
//! bpf-linker of another version or LLVM is replaced, and the pairing that breaks eBPF builds
//! (an eBPF rustc whose LLVM is newer than the linker's) stops setup with a message that says
//! how to fix it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use crate::toolchain::{self, Linker, Pins};
use crate::util::{output, run, step, workspace_root};

/// Debian packages the lab, tests and benchmarks use (Open vSwitch is the 802.3ad tests' other
/// LACP implementation; they run its daemons in a namespace of their own, on the userspace
/// datapath). LLVM's packages come from the pins ([`Pins::llvm`]).
const APT_PACKAGES: &[&str] = &[
    "libzstd-dev",
    "zlib1g-dev",
    "binutils",
    "iproute2",
    "iperf3",
    "iputils-ping",
    "nftables",
    "ethtool",
    "util-linux",
    "fonts-dejavu-core",
    "openvswitch-switch",
    // systemd-analyze rates the service's sandbox (tests/tests/service.rs).
    "systemd",
    // The DHCP server and router advertisements of tests/tests/dhcp.rs.
    "dnsmasq-base",
    // libfuzzer-sys compiles libFuzzer (C++) for the fuzz targets (xtask/src/fuzz.rs).
    "g++",
];

/// Runs every setup step on this machine.
pub fn setup() -> Result<()> {
    check_root()?;
    let pins = Pins::load(&workspace_root()).map_err(|e| anyhow!(e))?;
    apt_packages(&pins)?;
    Rust::from_env().install(&pins)?;
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

fn apt_packages(pins: &Pins) -> Result<()> {
    let llvm = [pins.llvm_package(), format!("libpolly-{}-dev", pins.llvm)];
    let wanted = llvm
        .iter()
        .map(String::as_str)
        .chain(APT_PACKAGES.iter().copied());
    let missing: Vec<&str> = wanted
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
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
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-q"]))?;
    run(apt(&["install", "-y", "-q", "--no-install-recommends"]).args(&missing)).with_context(
        || {
            format!(
                "installing {}: setup knows Debian (and its derivatives) with {} in their \
                 archive; elsewhere install LLVM {} and the tools by hand",
                missing.join(" "),
                pins.llvm_package(),
                pins.llvm
            )
        },
    )
}

/// The Rust side of setup (toolchains, bpf-linker, their pairing), run in one environment:
/// this process's, or the empty homes of `cargo xtask from-scratch`.
pub struct Rust {
    /// Environment variables set on every command (RUSTUP_HOME, CARGO_HOME, PATH).
    env: Vec<(OsString, OsString)>,
    /// `$CARGO_HOME/bin`: where `cargo install` puts bpf-linker.
    cargo_bin: PathBuf,
}

impl Rust {
    /// This process's environment (`~/.cargo` unless CARGO_HOME says otherwise).
    pub fn from_env() -> Rust {
        let cargo_bin = toolchain::cargo_bin_dir(
            std::env::var("CARGO_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        )
        .unwrap_or_else(|| PathBuf::from("/root/.cargo/bin"));
        Rust {
            env: Vec::new(),
            cargo_bin,
        }
    }

    /// An environment with its own RUSTUP_HOME, CARGO_HOME and PATH.
    pub fn isolated(rustup_home: &Path, cargo_home: &Path, path: OsString) -> Rust {
        Rust {
            env: vec![
                ("RUSTUP_HOME".into(), rustup_home.into()),
                ("CARGO_HOME".into(), cargo_home.into()),
                ("PATH".into(), path),
            ],
            cargo_bin: cargo_home.join("bin"),
        }
    }

    /// `$CARGO_HOME/bin`, where `cargo install` puts tools.
    pub fn cargo_bin(&self) -> &Path {
        &self.cargo_bin
    }

    /// A command run in this environment (the toolchain variables the running cargo set for
    /// xtask itself removed, so rustup picks the toolchain each command names).
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for key in [
            "RUSTUP_TOOLCHAIN",
            "RUSTC",
            "RUSTC_WRAPPER",
            "CARGO",
            "RUSTDOC",
        ] {
            c.env_remove(key);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Installs the pinned toolchains and bpf-linker, and checks their pairing.
    pub fn install(&self, pins: &Pins) -> Result<()> {
        self.toolchain(&pins.userspace_rust, "rustfmt,clippy,rust-src", "userspace")?;
        if pins.ebpf_rust != pins.userspace_rust {
            self.toolchain(&pins.ebpf_rust, "rust-src", "eBPF")?;
        }
        let linker = self.bpf_linker(pins)?;
        let rustc_llvm =
            toolchain::ebpf_rustc_llvm(pins, self.cmd("rustup")).map_err(|e| anyhow!(e))?;
        let linker_llvm = linker
            .llvm
            .ok_or_else(|| anyhow!("{} links no shared libLLVM", linker.path.display()))?;
        toolchain::check_pairing(pins, rustc_llvm, linker_llvm).map_err(|e| anyhow!(e))?;
        Ok(())
    }

    fn toolchain(&self, name: &str, components: &str, what: &str) -> Result<()> {
        let installed = output(self.cmd("rustup").args([
            "component",
            "list",
            "--installed",
            "--toolchain",
            name,
        ]))
        .unwrap_or_default();
        let have = |c: &str| installed.lines().any(|l| l.starts_with(c));
        if components.split(',').all(have) {
            return Ok(());
        }
        step(&format!(
            "installing Rust {name} ({what}; with {components})"
        ));
        run(self.cmd("rustup").args([
            "toolchain",
            "install",
            name,
            "--profile",
            "minimal",
            "--component",
            components,
            "--no-self-update",
        ]))
    }

    /// The pinned bpf-linker in `$CARGO_HOME/bin`, installed (or replaced) if it is missing or
    /// not the pinned version and LLVM.
    fn bpf_linker(&self, pins: &Pins) -> Result<Linker> {
        let path = self.cargo_bin.join("bpf-linker");
        let found = Linker::inspect(&path);
        let why = match &found {
            Some(linker) => match linker.mismatch(pins) {
                None => return self.not_shadowed(linker.clone()),
                Some(why) => format!("replacing it: {why}"),
            },
            None => "not installed".into(),
        };
        step(&format!(
            "installing bpf-linker {} (LLVM {}; {why})",
            pins.bpf_linker, pins.llvm
        ));
        let prefix = pins.llvm_prefix();
        let mut path_var = OsString::from(format!("{prefix}/bin:"));
        path_var.push(
            self.env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| std::env::var_os("PATH").unwrap_or_default()),
        );
        let version = format!("={}", pins.bpf_linker);
        let feature = format!("llvm-{}", pins.llvm);
        run(self
            .cmd("cargo")
            .args([
                "install",
                "bpf-linker",
                "--force",
                "--locked",
                "--version",
                &version,
                "--no-default-features",
                "--features",
                &feature,
            ])
            .env("LLVM_PREFIX", &prefix)
            .env("PATH", path_var)
            // Outside the workspace, so its rust-toolchain.toml does not apply.
            .current_dir(std::env::temp_dir()))
        .context("installing bpf-linker")?;
        let linker = Linker::inspect(&path)
            .ok_or_else(|| anyhow!("{} does not run after installing it", path.display()))?;
        if let Some(why) = linker.mismatch(pins) {
            bail!("after installing bpf-linker: {why}");
        }
        self.not_shadowed(linker)
    }

    /// Warns when another bpf-linker comes first on PATH (the build prefers this one).
    fn not_shadowed(&self, linker: Linker) -> Result<Linker> {
        let path = self
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
        if let Some(first) = toolchain::find_on_path("bpf-linker", &path)
            && first != linker.path
        {
            eprintln!(
                "note: {} comes first on PATH; bondxdp's build uses {} (the pinned one)",
                first.display(),
                linker.path.display()
            );
        }
        Ok(linker)
    }
}

fn bpffs() -> Result<()> {
    let mounted = output(Command::new("stat").args(["-f", "-c", "%T", "/sys/fs/bpf"]))
        .map(|t| t.trim() == "bpf_fs")
        .unwrap_or(false);
    if mounted {
        return Ok(());
    }
    step("mounting bpffs at /sys/fs/bpf");
    if !Path::new("/sys/fs/bpf").is_dir() {
        bail!("/sys/fs/bpf does not exist: is sysfs mounted?");
    }
    run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}
