#![no_std]
// This file exists so that host tools (cargo metadata, rust-analyzer) see a library target;
// the programs are in main.rs and build only for bpfel-unknown-none.
