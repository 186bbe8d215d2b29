#![no_std]
// Host tools (cargo metadata, clippy on the workspace) see a library target; the programs
// are in main.rs and build only for bpfel-unknown-none (bondxdp/build.rs builds them).
