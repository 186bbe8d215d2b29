//! `cargo xtask from-scratch`: proves that a machine with nothing installed builds bondxdp.
//!
//! The Rust side of setup (the pinned toolchains, bpf-linker built against Debian's LLVM, their
//! pairing check) runs into an empty, temporary RUSTUP_HOME and CARGO_HOME, with a PATH that
//! holds none of this machine's Rust tools, and the release binary is then built with what it
//! installed. A floating channel, a missing install step or a pin that only this machine
//! satisfies fails here, on the developer's own machine, instead of on a user's. `cargo xtask
//! test` runs it. (Debian's packages are system-wide; setup installs them before this runs.)

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use crate::setup::Rust;
use crate::toolchain::Pins;
use crate::util::{output, run, step, workspace_root};

/// System directories a new machine has on PATH (no `~/.cargo/bin`).
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Installs everything into empty homes under `target/from-scratch` and builds the release
/// binary with it; removes the homes afterwards unless `keep`.
pub fn from_scratch(keep: bool) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let pins = Pins::load(&root).map_err(|e| anyhow!(e))?;
    let dir = root.join("target/from-scratch");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let (rustup_home, cargo_home) = (dir.join("rustup"), dir.join("cargo"));
    let bin = cargo_home.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::create_dir_all(&rustup_home)?;
    // What rustup-init leaves on a new machine: the rustup binary and its proxies.
    let rustup = rustup_binary()?;
    for proxy in ["rustup", "cargo", "rustc"] {
        std::os::unix::fs::symlink(&rustup, bin.join(proxy))
            .with_context(|| format!("linking {proxy} in {}", bin.display()))?;
    }
    // And an old bpf-linker left on it, which setup must replace rather than trust.
    let stale = bin.join("bpf-linker");
    std::fs::write(&stale, "#!/bin/sh\necho 'bpf-linker 0.12.0'\n")?;
    std::fs::set_permissions(&stale, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let mut path = OsString::from(&bin);
    path.push(":");
    path.push(SYSTEM_PATH);
    let rust = Rust::isolated(&rustup_home, &cargo_home, path);

    step(&format!(
        "from scratch: Rust {} / {} and bpf-linker {} (LLVM {}) into empty homes in {}",
        pins.userspace_rust,
        pins.ebpf_rust,
        pins.bpf_linker,
        pins.llvm,
        dir.display()
    ));
    rust.install(&pins)?;
    let installed = started.elapsed();

    step("from scratch: building the release binary with them");
    let target = dir.join("target");
    run(rust
        .cmd("cargo")
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "bondxdp",
            "--bin",
            "bondxdp",
        ]))?;
    let binary = target.join("release/bondxdp");
    let version = output(std::process::Command::new(&binary).arg("--version"))?;
    if !version.starts_with("bondxdp ") {
        bail!("{} --version printed {version:?}", binary.display());
    }
    let rustc = output(rust.cmd("rustc").current_dir(&root).arg("--version"))?;
    if !rustc.contains(&pins.userspace_rust) {
        bail!(
            "the workspace built with {}, not the pinned {}",
            rustc.trim(),
            pins.userspace_rust
        );
    }
    let total = started.elapsed();
    eprintln!(
        "from scratch: ok ({}) in {:.0} s (toolchains and bpf-linker {:.0} s, build {:.0} s)",
        version.trim(),
        total.as_secs_f64(),
        installed.as_secs_f64(),
        (total - installed).as_secs_f64()
    );
    if !keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// The rustup executable behind this machine's `cargo` (the proxies are links to it).
fn rustup_binary() -> Result<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = crate::toolchain::find_on_path("rustup", &path)
        .ok_or_else(|| anyhow!("rustup is not on PATH: install it (rustup-init) first"))?;
    std::fs::canonicalize(&found).with_context(|| format!("resolving {}", found.display()))
}
