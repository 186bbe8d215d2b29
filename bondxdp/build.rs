//! Builds the eBPF programs (bondxdp-ebpf) for bpfel-unknown-none with aya-build, so that a
//! plain `cargo build` produces a binary with the object embedded.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    // The programs are built from the shared code too: a change there must rebuild them
    // (aya-build only watches the eBPF crate itself).
    let common = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bondxdp-common");
    println!(
        "cargo:rerun-if-changed={}",
        common.canonicalize()?.display()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bondxdp-ebpf");
    let root = root.canonicalize()?;
    let root = root.to_str().expect("utf-8 path");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "bondxdp-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
