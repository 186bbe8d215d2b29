//! The multi-uplink flow parser shared with the eBPF programs
//! (`bondxdp_common::multi_wan::parse`): every packet a multi-wan bond translates, from
//! Ethernet uplinks (IP at 14) and raw-IP ones (at 0).
//!
//! Invariants: no panic; every offset the translation later reads or writes through lies
//! inside the packet; parsing and the flow hash are deterministic; a key reversed twice is itself.
#![no_main]

use bondxdp_common::multi_wan::{Fragment, Transport, flow_hash, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, pkt)) = data.split_first() else {
        return;
    };
    let (ether, l3) = match sel & 3 {
        0 => (0x0800, 14),
        1 => (0x86dd, 14),
        2 => (0x0800, 0),
        _ => (0x86dd, 0),
    };
    let Ok(flow) = parse(pkt, ether, l3) else {
        return;
    };
    assert_eq!(parse(pkt, ether, l3), Ok(flow));
    assert_eq!(flow.l3_off, l3);
    assert!(flow.l3_off < pkt.len());
    // The transport header is inside the packet whenever the translation reads or rewrites
    // it. (Address-only packets may end before the offset their extension headers claim:
    // nothing reads past the IP header of those.)
    if flow.fragment != Fragment::Later && flow.transport != Transport::AddressOnly {
        assert!(
            flow.l4_off < pkt.len(),
            "l4_off {} past {}",
            flow.l4_off,
            pkt.len()
        );
    }
    if flow.l4_csum_off != 0 {
        assert!(
            flow.l4_csum_off + 2 <= pkt.len(),
            "checksum offset past the end"
        );
    }
    if let Some(inner) = flow.inner {
        assert!(inner.l3_off < pkt.len());
        if inner.l4_csum_off != 0 {
            assert!(
                inner.l4_csum_off + 2 <= pkt.len(),
                "quoted checksum past the end"
            );
        }
    }
    assert_eq!(flow.key.reversed().reversed(), flow.key);
    assert_eq!(flow_hash(&flow.key), flow_hash(&flow.key));
});
