//! Builds the eBPF programs (bondxdp-ebpf, and the custom mode's example selection programs)
//! for bpfel-unknown-none with aya-build, so that a plain `cargo build` produces a binary with
//! the objects embedded.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    // The programs are built from the shared code too: a change there must rebuild them
    // (aya-build only watches the eBPF crate itself).
    let common = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bondxdp-common");
    println!(
        "cargo:rerun-if-changed={}",
        common.canonicalize()?.display()
    );
    let dir = |rel: &str| -> anyhow::Result<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(rel)
            .canonicalize()?;
        Ok(root.to_str().expect("utf-8 path").to_string())
    };
    let (programs, example) = (dir("../bondxdp-ebpf")?, dir("../examples/select-program")?);
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
        ],
        aya_build::Toolchain::default(),
    )
}
