//! Support for bondxdp's integration tests.
//!
//! Every test builds its own world: network namespaces with unique names ([`Netns`]), veth
//! links between them, bonds made by the real `bondxdp` binary, real packets. Everything is
//! removed on drop, also when the test panics. Assertions read what arrived where from the
//! peer side's own interface counters or captures, not only from bondxdp. Where another
//! implementation is the peer (Open vSwitch, for LACP), it runs in a namespace of the test's
//! too ([`ovs`]).

pub mod bench;
pub mod capture;
pub mod controller;
pub mod netns;
pub mod ovs;
pub mod router;
pub mod testrun;
pub mod traffic;
pub mod tun;
pub mod wan;

pub use netns::{Netns, Pair};

/// Path of the `bondxdp` binary under test: $BONDXDP_BIN, or the one cargo built next to
/// this test executable.
pub fn bondxdp_bin() -> String {
    if let Ok(bin) = std::env::var("BONDXDP_BIN") {
        return bin;
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("bondxdp");
    assert!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p bondxdp`; `cargo xtask test` does)",
        bin.display()
    );
    bin.to_string_lossy().into_owned()
}

/// Polls `pred` every 10 ms for up to `ms` milliseconds; whether it came true.
pub fn eventually(ms: u64, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < deadline {
        if pred() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    pred()
}

/// `bondxdp up` options of an 802.3ad bond that negotiates fast (LACPDUs every second) and
/// hashes layer 3+4: what the LACP tests give both sides.
pub const LACP_FAST: &[&str] = &[
    "--mode",
    "802.3ad",
    "--lacp-rate",
    "fast",
    "--xmit-hash-policy",
    "layer3+4",
];
