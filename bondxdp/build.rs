//! Builds the eBPF programs (bondxdp-ebpf, the custom mode's example selection programs and
//! the benchmark-only programs of bench/ebpf) for bpfel-unknown-none with aya-build, so that a
//! plain `cargo build` produces a binary with the objects embedded.
//!
//! The eBPF compiler is the exact Rust pinned in the root Cargo.toml
//! (`[workspace.metadata.toolchain]`), never a floating `nightly`; before building, the
//! pinned pairing is checked (the eBPF rustc's LLVM must not be newer than bpf-linker's), so a
//! mismatch is one clear message instead of an LLVM "Invalid record" from the linker.

use std::path::Path;

use anyhow::{Context, anyhow, bail};

#[path = "../xtask/src/toolchain.rs"]
#[allow(dead_code)] // setup uses more of it than the build does
mod toolchain;

use toolchain::{Linker, Pins};

fn main() -> anyhow::Result<()> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("..").canonicalize()?;
    for pinned in ["Cargo.toml", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(pinned).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    // The programs are built from the shared code too: a change there must rebuild them
    // (aya-build only watches the eBPF crate itself).
    let common = root.join("bondxdp-common");
    println!("cargo:rerun-if-changed={}", common.display());

    let pins = Pins::load(&root).map_err(|e| anyhow!(e))?;
    if std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        // aya-build skips too, and says so.
        return build(&root, &pins);
    }
    let linker = pinned_linker(&pins)?;
    let rustc_llvm = toolchain::ebpf_rustc_llvm(&pins, std::process::Command::new("rustup"))
        .map_err(|e| anyhow!(e))?;
    match linker.llvm {
        Some(linker_llvm) => {
            toolchain::check_pairing(&pins, rustc_llvm, linker_llvm).map_err(|e| anyhow!(e))?
        }
        None => println!(
            "cargo:warning={} links no shared libLLVM: cannot check that it reads LLVM {} output",
            linker.path.display(),
            rustc_llvm
        ),
    }
    if let Some(why) = linker.mismatch(&pins) {
        println!("cargo:warning={why} (`cargo xtask setup` installs the pinned one)");
    }
    // The eBPF build (a child cargo run by aya-build) finds the linker this checked first on
    // PATH, and may use -Z build-std=core on an exact stable Rust.
    let dir = linker.path.parent().context("bpf-linker's directory")?;
    let path = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    // SAFETY: build scripts are single-threaded here; nothing else reads the environment.
    unsafe {
        std::env::set_var("PATH", path);
        std::env::set_var("RUSTC_BOOTSTRAP", "1");
    }
    build(&root, &pins)
}

/// The bpf-linker the build will use: the one `cargo xtask setup` installs into
/// `$CARGO_HOME/bin`, else the first on PATH.
fn pinned_linker(pins: &Pins) -> anyhow::Result<Linker> {
    let installed = toolchain::cargo_bin_dir(
        std::env::var("CARGO_HOME").ok().as_deref(),
        std::env::var("HOME").ok().as_deref(),
    )
    .map(|d| d.join("bpf-linker"))
    .filter(|p| p.is_file());
    let path = installed.or_else(|| {
        toolchain::find_on_path("bpf-linker", &std::env::var("PATH").unwrap_or_default())
    });
    let Some(path) = path else {
        bail!(
            "bpf-linker {} (LLVM {}) is not installed: run `cargo xtask setup`, or\n  {}",
            pins.bpf_linker,
            pins.llvm,
            pins.bpf_linker_install_command()
        );
    };
    Linker::inspect(&path).ok_or_else(|| anyhow!("{} does not run", path.display()))
}

fn build(root: &Path, pins: &Pins) -> anyhow::Result<()> {
    let dir = |rel: &str| -> anyhow::Result<String> {
        Ok(root.join(rel).to_str().context("utf-8 path")?.to_string())
    };
    let (programs, example, bench) = (
        dir("bondxdp-ebpf")?,
        dir("examples/select-program")?,
        dir("bench/ebpf")?,
    );
    aya_build::build_ebpf(
        [
            aya_build::Package {
                name: "bondxdp-ebpf",
                root_dir: &programs,
                ..Default::default()
            },
            // The custom mode's example selection programs (embedded for tests and the lab).
            aya_build::Package {
                name: "bondxdp-select-example",
                root_dir: &example,
                ..Default::default()
            },
            // The benchmark-only programs (floors, kernel path, sink) for `cargo xtask bench`,
            // kept out of the data plane's object.
            aya_build::Package {
                name: "bondxdp-bench-ebpf",
                root_dir: &bench,
                ..Default::default()
            },
        ],
        aya_build::Toolchain::Custom(&pins.ebpf_rust),
    )
}
