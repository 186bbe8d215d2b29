//! Members that keep their own MACs (`keep_member_macs`): the link-layer addresses inside ARP
//! and IPv6 neighbour discovery payloads.
//!
//! The stack writes the bond's MAC into the ARP sender hardware address and into the ND
//! source/target link-layer address options; the egress program rewrites the Ethernet source
//! to the member's MAC, and these payloads must follow, or peers learn a MAC the member's link
//! (a Wi-Fi access point above all) will not deliver. [`plan`] finds what to rewrite; the
//! eBPF side writes the MACs and the ICMPv6 checksum it computed.

use crate::{
    BondConfig,
    packet::{Bytes, ETH_HLEN, PacketView, VLAN_HLEN, ethertype, ipproto},
};

/// Most link-layer address options rewritten in one ND message.
pub const MAX_ND_REWRITES: usize = 2;
/// Most ND options looked at (the stack sends one or two).
const MAX_ND_OPTIONS: usize = 4;
/// Most VLAN tags skipped in front of the network header.
const MAX_VLAN_TAGS: usize = 2;

/// ND option: source link-layer address.
const ND_OPT_SOURCE_LL: u8 = 1;
/// ND option: target link-layer address.
const ND_OPT_TARGET_LL: u8 = 2;

/// What to write into a frame a member sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacPlan {
    /// Nothing carries the bond's MAC: send as is.
    Keep,
    /// An ARP or ND message cut short or with an impossible option: sent as is, counted.
    Malformed,
    /// Write the member's MAC at `at[..count]` (frame offsets); when `csum_at` is not 0, write
    /// `csum` (big-endian) there: the ICMPv6 checksum, updated for the new MACs.
    Rewrite {
        /// Frame offsets of the 6-byte addresses to overwrite.
        at: [u16; MAX_ND_REWRITES],
        /// How many of `at` are used.
        count: u8,
        /// Frame offset of the ICMPv6 checksum (0 for ARP: no checksum).
        csum_at: u16,
        /// The new ICMPv6 checksum.
        csum: u16,
    },
}

/// Whether `mac` is the bond's (what the stack writes; a macvlan's or anything else's is
/// left alone).
#[inline(always)]
fn ours(cfg: &BondConfig, mac: &[u8; 6]) -> bool {
    *mac == cfg.bond_mac
}

/// The 6 bytes at `off`, if the frame holds them.
#[inline(always)]
fn mac_at<P: PacketView + ?Sized>(pkt: &P, off: usize) -> Option<[u8; 6]> {
    let w = pkt.window(off, 6)?;
    Some([
        w.u8::<0>(),
        w.u8::<1>(),
        w.u8::<2>(),
        w.u8::<3>(),
        w.u8::<4>(),
        w.u8::<5>(),
    ])
}

/// Ones' complement sum of the three 16-bit words of `mac`.
#[inline(always)]
fn mac_sum(mac: &[u8; 6]) -> u32 {
    u16::from_be_bytes([mac[0], mac[1]]) as u32
        + u16::from_be_bytes([mac[2], mac[3]]) as u32
        + u16::from_be_bytes([mac[4], mac[5]]) as u32
}

/// Folds a 32-bit ones' complement sum to 16 bits.
#[inline(always)]
fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum `old` once the words of `from` (at an even offset of the checksummed data)
/// become those of `to` (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
pub fn csum_replace_mac(old: u16, from: &[u8; 6], to: &[u8; 6]) -> u16 {
    // ~m over three words: 3 * 0xffff - sum(m), kept non-negative.
    let not_from = 3 * 0xffff - mac_sum(from);
    !fold(!old as u32 + not_from + mac_sum(to))
}

/// What to rewrite in `pkt`, an Ethernet frame the member with MAC `new` sends (`cfg`: the
/// bond's configuration, for its and the members' MACs).
#[inline(always)]
pub fn plan<P: PacketView + ?Sized>(pkt: &P, cfg: &BondConfig, new: &[u8; 6]) -> MacPlan {
    let Some(w) = pkt.window(12, 2) else {
        return MacPlan::Keep;
    };
    let mut proto = w.be16::<0>();
    let mut l3 = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if proto != ethertype::VLAN && proto != ethertype::QINQ {
            break;
        }
        let Some(w) = pkt.window(l3 + 2, 2) else {
            return MacPlan::Keep;
        };
        proto = w.be16::<0>();
        l3 += VLAN_HLEN;
    }
    match proto {
        ethertype::ARP => plan_arp(pkt, cfg, l3, new),
        ethertype::IPV6 => plan_nd(pkt, cfg, l3, new),
        _ => MacPlan::Keep,
    }
}

/// ARP over Ethernet for IPv4: the sender hardware address.
#[inline(always)]
fn plan_arp<P: PacketView + ?Sized>(
    pkt: &P,
    cfg: &BondConfig,
    l3: usize,
    new: &[u8; 6],
) -> MacPlan {
    let Some(w) = pkt.window(l3, 8) else {
        return MacPlan::Malformed;
    };
    if w.be16::<0>() != 1
        || w.be16::<2>() != ethertype::IPV4
        || w.u8::<4>() != 6
        || w.u8::<5>() != 4
    {
        return MacPlan::Keep;
    }
    let sha = l3 + 8;
    let Some(mac) = mac_at(pkt, sha) else {
        return MacPlan::Malformed;
    };
    // The whole body (sender and target addresses) must be there.
    if pkt.window(l3, 28).is_none() {
        return MacPlan::Malformed;
    }
    if mac == *new || !ours(cfg, &mac) {
        return MacPlan::Keep;
    }
    MacPlan::Rewrite {
        at: [sha as u16, 0],
        count: 1,
        csum_at: 0,
        csum: 0,
    }
}

/// IPv6 neighbour discovery (router solicitation and advertisement, neighbour solicitation
/// and advertisement, redirect): the source and target link-layer address options.
#[inline(always)]
fn plan_nd<P: PacketView + ?Sized>(pkt: &P, cfg: &BondConfig, l3: usize, new: &[u8; 6]) -> MacPlan {
    let Some(ip) = pkt.window(l3, 8) else {
        return MacPlan::Keep;
    };
    if ip.u8::<6>() != ipproto::ICMPV6 {
        return MacPlan::Keep;
    }
    let payload = ip.be16::<4>() as usize;
    let icmp = l3 + 40;
    let Some(h) = pkt.window(icmp, 4) else {
        return MacPlan::Keep;
    };
    let opts = match h.u8::<0>() {
        133 => 8,
        134 => 16,
        135 | 136 => 24,
        137 => 40,
        _ => return MacPlan::Keep,
    };
    let old_csum = h.be16::<2>();
    if payload < opts || pkt.window(icmp, payload).is_none() {
        return MacPlan::Malformed;
    }
    let end = icmp + payload;
    let mut off = icmp + opts;
    let mut at = [0u16; MAX_ND_REWRITES];
    let mut count = 0usize;
    let mut csum = old_csum;
    for _ in 0..MAX_ND_OPTIONS {
        if off >= end {
            break;
        }
        let Some(o) = pkt.window(off, 2) else {
            return MacPlan::Malformed;
        };
        let len = o.u8::<1>() as usize * 8;
        if len == 0 || off + len > end {
            return MacPlan::Malformed;
        }
        let kind = o.u8::<0>();
        if (kind == ND_OPT_SOURCE_LL || kind == ND_OPT_TARGET_LL) && len == 8 {
            let Some(mac) = mac_at(pkt, off + 2) else {
                return MacPlan::Malformed;
            };
            if mac != *new && ours(cfg, &mac) && count < MAX_ND_REWRITES {
                at[count] = (off + 2) as u16;
                count += 1;
                csum = csum_replace_mac(csum, &mac, new);
            }
        }
        off += len;
    }
    if count == 0 {
        return MacPlan::Keep;
    }
    MacPlan::Rewrite {
        at,
        count: count as u8,
        csum_at: (icmp + 2) as u16,
        csum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{testing::bond_with_links, types::LinkState};

    fn cfg() -> BondConfig {
        let mut c = bond_with_links(crate::Mode::ActiveBackup, &[LinkState::Up, LinkState::Up]);
        c.bond_mac = [2, 0xb0, 0, 0, 0, 1];
        c
    }

    /// The ICMPv6 checksum of `f` computed in full (pseudo-header included).
    fn icmp6_csum(f: &[u8], l3: usize) -> u16 {
        let payload = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize;
        let mut s: u32 = 0;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
            }
        };
        add(&f[l3 + 8..l3 + 40]);
        add(&(payload as u32).to_be_bytes());
        add(&[0, 58]);
        add(&f[l3 + 40..l3 + 40 + payload]);
        !fold(s)
    }

    fn ns(src_ll: [u8; 6], vlan: bool) -> Vec<u8> {
        let mut f = vec![0x33, 0x33, 0xff, 0, 0, 2];
        f.extend_from_slice(&src_ll);
        if vlan {
            f.extend_from_slice(&[0x81, 0x00, 0, 7]);
        }
        f.extend_from_slice(&[0x86, 0xdd]);
        let l3 = f.len();
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
        f.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2]);
        f.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&[1, 1]);
        f.extend_from_slice(&src_ll);
        let c = icmp6_csum(&f, l3);
        f[l3 + 42..l3 + 44].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn apply(f: &mut [u8], p: MacPlan, new: &[u8; 6]) {
        let MacPlan::Rewrite {
            at,
            count,
            csum_at,
            csum,
        } = p
        else {
            panic!("{p:?}");
        };
        for a in &at[..count as usize] {
            f[*a as usize..*a as usize + 6].copy_from_slice(new);
        }
        if csum_at != 0 {
            f[csum_at as usize..csum_at as usize + 2].copy_from_slice(&csum.to_be_bytes());
        }
    }

    #[test]
    fn nd_options_are_rewritten_with_a_valid_checksum() {
        let c = cfg();
        let new = c.members[1].mac;
        for vlan in [false, true] {
            let mut f = ns(c.bond_mac, vlan);
            let l3 = if vlan { 18 } else { 14 };
            let p = plan(&f[..], &c, &new);
            apply(&mut f, p, &new);
            assert_eq!(&f[f.len() - 6..], &new);
            let stored = u16::from_be_bytes([f[l3 + 42], f[l3 + 43]]);
            f[l3 + 42] = 0;
            f[l3 + 43] = 0;
            assert_eq!(stored, icmp6_csum(&f, l3), "vlan {vlan}");
            // Already the member's: nothing to do.
            assert_eq!(plan(&ns(new, vlan)[..], &c, &new), MacPlan::Keep);
            // A MAC that is not ours (a macvlan above the bond): left alone.
            assert_eq!(
                plan(&ns([2, 9, 9, 9, 9, 9], vlan)[..], &c, &new),
                MacPlan::Keep
            );
        }
    }

    #[test]
    fn truncated_or_impossible_nd_is_malformed() {
        let c = cfg();
        let new = c.members[0].mac;
        let f = ns(c.bond_mac, false);
        assert_eq!(plan(&f[..f.len() - 3], &c, &new), MacPlan::Malformed);
        let mut zero = f.clone();
        let n = zero.len();
        zero[n - 7] = 0;
        assert_eq!(plan(&zero[..], &c, &new), MacPlan::Malformed);
        assert_eq!(plan(&f[..50], &c, &new), MacPlan::Keep);
    }

    #[test]
    fn arp_sender_address_is_rewritten() {
        let c = cfg();
        let new = c.members[1].mac;
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&c.bond_mac);
        f.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&c.bond_mac);
        f.extend_from_slice(&[198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 2]);
        let p = plan(&f[..], &c, &new);
        assert_eq!(
            p,
            MacPlan::Rewrite {
                at: [22, 0],
                count: 1,
                csum_at: 0,
                csum: 0
            }
        );
        assert_eq!(plan(&f[..30], &c, &new), MacPlan::Malformed);
        assert_eq!(plan(&f[..20], &c, &new), MacPlan::Malformed);
        let mut other = f.clone();
        other[22..28].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
        assert_eq!(plan(&other[..], &c, &new), MacPlan::Keep);
    }

    #[test]
    fn csum_replace_matches_a_full_sum() {
        let from = [0xff, 0xff, 0, 0, 0x12, 0x34];
        let to = [0, 1, 0xfe, 0xdc, 0xff, 0xff];
        let mut data = vec![0xab, 0xcd, 0, 0];
        data.extend_from_slice(&from);
        let sum = |d: &[u8]| {
            !fold(
                d.chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
                    .sum(),
            )
        };
        let old = sum(&data);
        data[4..].copy_from_slice(&to);
        assert_eq!(csum_replace_mac(old, &from, &to), sum(&data));
    }
}
