//! keep_member_macs: ARP and IPv6 neighbour discovery payloads carry the sending member's MAC,
//! as the Ethernet source does (the plan is `bondxdp_common::member_mac`).

use aya_ebpf::programs::TcContext;
use bondxdp_common::{
    BondConfig, Counter,
    member_mac::{self, MAX_ND_REWRITES, MacPlan},
    packet::ethertype,
};

use crate::{maps, skb::SkbView};

/// Rewrites the link-layer addresses inside an ARP or ND message `ctx` carries to `mac`, the
/// member's. `false` when a write failed (the caller drops the packet).
#[inline(always)]
pub fn rewrite(ctx: &TcContext, cfg: &BondConfig, mac: &[u8; 6]) -> bool {
    // SAFETY: reading a __sk_buff field.
    let proto = u16::from_be(unsafe { (*ctx.skb.skb).protocol } as u16);
    if proto != ethertype::ARP
        && proto != ethertype::IPV6
        && proto != ethertype::VLAN
        && proto != ethertype::QINQ
    {
        return true;
    }
    let pkt = SkbView::new(ctx);
    match member_mac::plan(&pkt, cfg, mac) {
        MacPlan::Keep => true,
        MacPlan::Malformed => {
            maps::count(Counter::MemberMacMalformed);
            true
        }
        MacPlan::Rewrite {
            at,
            count,
            csum_at,
            csum,
        } => {
            for (i, off) in at.iter().enumerate().take(MAX_ND_REWRITES) {
                if i >= count as usize {
                    break;
                }
                if ctx.store(*off as usize, mac, 0).is_err() {
                    return false;
                }
            }
            if csum_at != 0 && ctx.store(csum_at as usize, &csum.to_be_bytes(), 0).is_err() {
                return false;
            }
            maps::count(Counter::MemberMacRewritten);
            true
        }
    }
}
