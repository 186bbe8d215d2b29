//! The XDP fast path's decisions (`--forward-from`): which frames a router may forward in XDP
//! and what the FIB lookup needs from them; the rest goes to the kernel unchanged, counted by
//! reason. The programs add the lookup itself (`bpf_fib_lookup`), the member choice (the
//! same [`Selector`]s as the tc path, one LAN-side program per selector, so no frame pays
//! for dispatching on the mode and each program verifies on its own) and the rewrite.

use crate::{
    counters::Counter,
    modes::{
        FastPath, Ports, Selector, active_backup::ActiveBackup, broadcast::Broadcast,
        load_aware::LoadAware, round_robin::RoundRobin, xor,
    },
    packet::{Bytes, PacketView},
    types::{HashPolicy, Mode, str_eq},
};

/// The program on members: routes toward a LAN-side interface leave through it.
pub const XDP_MEMBER: &str = "xdp_member";
/// The LAN-side program of modes without an XDP path: every frame to the kernel, counted.
pub const XDP_LAN_PASS: &str = "xdp_lan_pass";

/// Every LAN-side program: [`XDP_LAN_PASS`] first, then one per selector the fast path runs.
/// First, so that a configuration userspace never wrote (all zeroes) names the program that
/// forwards nothing: the others need not check for one.
pub const XDP_LAN_PROGRAMS: [&str; 12] = [
    XDP_LAN_PASS,
    RoundRobin::XDP_PROGRAM,
    ActiveBackup::XDP_PROGRAM,
    xor::xdp_program(HashPolicy::Layer2),
    xor::xdp_program(HashPolicy::Layer34),
    xor::xdp_program(HashPolicy::Layer23),
    xor::xdp_program(HashPolicy::Encap23),
    xor::xdp_program(HashPolicy::Encap34),
    xor::xdp_program(HashPolicy::VlanSrcMac),
    Broadcast::XDP_PROGRAM,
    LoadAware::XDP_PROGRAM,
    crate::modes::tlb::Tlb::XDP_PROGRAM,
];

/// The index of LAN-side program `name` in [`XDP_LAN_PROGRAMS`] (what
/// [`BondConfig::xdp_lan`](crate::BondConfig::xdp_lan) holds); panics (at compile time where
/// const-evaluated) for a name not there.
pub const fn lan_index(name: &str) -> u8 {
    let mut i = 0;
    while i < XDP_LAN_PROGRAMS.len() {
        if str_eq(XDP_LAN_PROGRAMS[i], name) {
            return i as u8;
        }
        i += 1;
    }
    panic!("not a LAN-side program")
}

/// The LAN-side program for a bond in `mode` with `policy` ([`XDP_LAN_PASS`] for modes the
/// fast path does not accelerate).
pub const fn lan_program_for(mode: Mode, policy: HashPolicy) -> &'static str {
    match mode.info().fast_path {
        FastPath::One(program) => program,
        FastPath::ByPolicy => xor::xdp_program(policy),
        FastPath::Pass => XDP_LAN_PASS,
    }
}

// Every LAN-side program a mode can name is in XDP_LAN_PROGRAMS (lan_index fails the build
// otherwise).
const _: () = {
    let mut m = 0;
    while m < Mode::ALL.len() {
        let mut p = 0;
        while p < HashPolicy::ALL.len() {
            lan_index(lan_program_for(Mode::ALL[m], HashPolicy::ALL[p]));
            p += 1;
        }
        m += 1;
    }
};

/// Ethernet header length.
pub const ETH_HLEN: usize = 14;
/// Offset of the IPv4 TTL / IPv6 hop limit from the start of the frame.
pub const TTL_OFFSET_V4: usize = ETH_HLEN + 8;
/// Offset of the IPv4 header checksum.
pub const CHECK_OFFSET_V4: usize = ETH_HLEN + 10;
/// Offset of the IPv6 hop limit.
pub const HOP_LIMIT_OFFSET_V6: usize = ETH_HLEN + 7;

/// What the FIB lookup needs to know about a forwardable packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// IPv6 (else IPv4).
    pub ipv6: bool,
    /// Transport protocol (IPv6: the first next header).
    pub proto: u8,
    /// IPv4 TOS.
    pub tos: u8,
    /// IPv6 flow information (the first header word without the version), as in memory.
    pub flowinfo: u32,
    /// Length of the IP packet (IPv4 total length; IPv6 payload length + 40).
    pub tot_len: u16,
    /// Source address words as they sit in memory (IPv4: the first word).
    pub src: [u32; 4],
    /// Destination address words likewise.
    pub dst: [u32; 4],
}

/// How long the fast path trusts a cached FIB answer before asking the kernel again, in
/// kernel ticks (jiffies: the programs read them without a helper call, where a clock
/// helper costs about 10 ns, a large part of a forwarded frame's budget). 250 ticks are one
/// second at the common HZ=250 (a quarter second at HZ=1000, 2.5 s at HZ=100). The controller
/// also invalidates every cached answer the moment the kernel reports a route, rule,
/// neighbour or address change ([`RouteCache`] epoch); this bounds how stale an answer can
/// get when no controller runs.
pub const ROUTE_CACHE_TTL_TICKS: u64 = 250;

/// The longest [`ROUTE_CACHE_TTL_TICKS`] can last (at HZ=100), ns.
pub const ROUTE_CACHE_TTL_MAX_NS: u64 = ROUTE_CACHE_TTL_TICKS * 10_000_000;

/// log2 of [`ROUTE_CACHE_SLOTS`].
const ROUTE_CACHE_BITS: u32 = 12;

/// Route cache slots per CPU and address family. Each CPU has a direct-mapped cache of its
/// own (its range of one array holding every CPU's): a key's hash picks its one slot, so a
/// hit costs an address computation and a key comparison, where a shared hash map costs a
/// hash of the key, a bucket walk and locking (about 15 ns a frame). Two live keys that share
/// a slot take turns, each asking the FIB when the other had the slot last. A slot is a cache
/// line (IPv4) or two (IPv6), aligned: 768 KiB per CPU per bond.
pub const ROUTE_CACHE_SLOTS: u32 = 1 << ROUTE_CACHE_BITS;

/// The slot of a key whose words fold to `x` (a multiplicative hash: the high bits of the
/// product depend on every bit of `x`).
#[inline(always)]
const fn slot_of(x: u64) -> u32 {
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - ROUTE_CACHE_BITS)) as u32
}

/// A route cache key: the inputs of one FIB lookup.
pub trait RouteKey: Copy {
    /// Its slot in the cache, below [`ROUTE_CACHE_SLOTS`]: a hash of the packet's fields
    /// only. The interface is compared but not hashed: the slot's address then does not wait
    /// for it (a chain of three loads from the XDP context), and one flow arriving on two
    /// LAN-side interfaces at once is rare.
    fn slot(&self) -> u32;
    /// Whether `other` is the same key (compared a word at a time).
    fn same(&self, other: &Self) -> bool;
}

/// One slot of a route cache: the key it answers for and the answer.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteSlot<K> {
    /// The lookup's inputs.
    pub key: K,
    /// The FIB's answer for them.
    pub hop: NextHop,
}

impl<K: RouteKey> RouteSlot<K> {
    /// Whether it holds a still valid answer for `key` (see [`NextHop::answers`]).
    #[inline(always)]
    pub fn answers(&self, key: &K, epoch: u32, now: u64, len: u16) -> bool {
        self.key.same(key) && self.hop.answers(epoch, now, len)
    }
}

/// Route cache key of an IPv4 packet: exactly what its FIB lookup is given.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouteKey4 {
    /// Interface the lookup is made for (where the frame arrived, for the kernel).
    pub ifindex: u32,
    /// Source address, as in memory.
    pub src: u32,
    /// Destination address, as in memory.
    pub dst: u32,
    /// Transport protocol.
    pub proto: u8,
    /// TOS.
    pub tos: u8,
    /// Zero.
    pub pad: [u8; 2],
}

/// Route cache key of an IPv6 packet: exactly what its FIB lookup is given.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouteKey6 {
    /// Interface the lookup is made for.
    pub ifindex: u32,
    /// Flow information (traffic class and flow label), as in memory.
    pub flowinfo: u32,
    /// Source address words, as in memory.
    pub src: [u32; 4],
    /// Destination address words, as in memory.
    pub dst: [u32; 4],
    /// Transport protocol (the first next header), widened to a word so that the key has no
    /// padding to clear (three bytes of it became a memset call, a loop in eBPF).
    pub proto: u32,
}

impl Route {
    /// Its IPv4 route cache key, for a lookup made for `ifindex`.
    #[inline(always)]
    pub const fn key4(&self, ifindex: u32) -> RouteKey4 {
        RouteKey4 {
            ifindex,
            src: self.src[0],
            dst: self.dst[0],
            proto: self.proto,
            tos: self.tos,
            pad: [0; 2],
        }
    }

    /// Its IPv6 route cache key, for a lookup made for `ifindex`.
    #[inline(always)]
    pub const fn key6(&self, ifindex: u32) -> RouteKey6 {
        RouteKey6 {
            ifindex,
            flowinfo: self.flowinfo,
            src: self.src,
            dst: self.dst,
            proto: self.proto as u32,
        }
    }
}

impl RouteKey4 {
    /// The key as four words (it has no padding: `pad` is a field).
    #[inline(always)]
    const fn words(&self) -> [u32; 4] {
        // SAFETY: repr(C), 16 bytes of fields without implicit padding.
        unsafe { core::mem::transmute::<RouteKey4, [u32; 4]>(*self) }
    }
}

impl RouteKey for RouteKey4 {
    #[inline(always)]
    fn slot(&self) -> u32 {
        let [_, src, dst, rest] = self.words();
        slot_of(((dst as u64) << 32 | src as u64) ^ rest as u64)
    }

    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        same_words(&self.words(), &other.words())
    }
}

impl RouteKey6 {
    /// The key as eleven words (it has no padding: `proto` is a whole word).
    #[inline(always)]
    const fn words(&self) -> [u32; 11] {
        // SAFETY: repr(C), 44 bytes of fields without implicit padding.
        unsafe { core::mem::transmute::<RouteKey6, [u32; 11]>(*self) }
    }
}

impl RouteKey for RouteKey6 {
    #[inline(always)]
    fn slot(&self) -> u32 {
        let w = self.words();
        let src = (w[2] ^ w[4]) as u64 | ((w[3] ^ w[5]) as u64) << 32;
        let dst = (w[6] ^ w[8]) as u64 | ((w[7] ^ w[9]) as u64) << 32;
        slot_of(src ^ dst.rotate_left(32) ^ (w[1] ^ w[10]) as u64)
    }

    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        same_words(&self.words(), &other.words())
    }
}

/// Whether two keys' words are all equal: their differences or-ed together, one branch
/// rather than one per word.
#[inline(always)]
fn same_words<const N: usize>(a: &[u32; N], b: &[u32; N]) -> bool {
    let mut diff = 0;
    let mut i = 0;
    while i < N {
        diff |= a[i] ^ b[i];
        i += 1;
    }
    diff == 0
}

/// A FIB answer the fast path keeps (route cache value): where frames of its key leave and
/// with which MACs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextHop {
    /// Outgoing interface.
    pub ifindex: u32,
    /// The next hop's MAC.
    pub dmac: [u8; 6],
    /// The outgoing interface's MAC.
    pub smac: [u8; 6],
    /// The longest packet (IP length) the kernel has said fits the route's MTU.
    pub max_len: u16,
    /// Zero.
    pub pad: u16,
    /// The route cache epoch it was looked up in.
    pub epoch: u32,
    /// When it stops being trusted, in kernel ticks (jiffies).
    pub expires: u64,
}

impl NextHop {
    /// Whether it still answers for a packet of `len` bytes (IP length) at `now` (jiffies),
    /// in route cache `epoch`: same epoch, not expired, and no longer than a packet the
    /// kernel accepted for the route (a longer one asks again, so the kernel checks the MTU).
    #[inline(always)]
    pub const fn answers(&self, epoch: u32, now: u64, len: u16) -> bool {
        self.epoch == epoch && now < self.expires && len <= self.max_len
    }
}

/// The route cache's invalidation counter (map value): the controller increments it on
/// every route, rule, neighbour and address change the kernel reports, which retires every
/// cached answer at once.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteCache {
    /// Current epoch.
    pub epoch: u32,
}

/// The route cache slot the last frame a CPU forwarded in one direction used (map value,
/// one per CPU and direction, a cache line each): the next frame checks it before hashing
/// its own key. Frames of one flow come in bursts, and this slot's address does not depend
/// on the frame, so it is read while the frame's headers are still on their way from memory;
/// a frame of another flow pays one failed key comparison more.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastRoute {
    /// The slot's index among the CPU's slots.
    pub slot: u32,
    /// Whether it is an IPv6 slot (else IPv4).
    pub ipv6: u32,
}

/// [`LastRoute`] entries per CPU: one for frames arriving on LAN-side interfaces, one for
/// frames arriving on members (a flow's two directions would otherwise take turns).
pub const LAST_ROUTES_PER_CPU: u32 = 2;

/// Whether `mode` with `policy` looks at transport ports, so that the later fragments of a
/// datagram (which carry none) would take another member than its first.
pub const fn uses_ports(mode: Mode, policy: HashPolicy) -> bool {
    match mode.info().ports {
        Ports::Never => false,
        Ports::ByPolicy => matches!(policy, HashPolicy::Layer34 | HashPolicy::Encap34),
        Ports::Always => true,
    }
}

/// Whether the XDP path forwards for `mode` (the others hand every packet to the kernel).
pub const fn accelerates(mode: Mode) -> bool {
    !matches!(mode.info().fast_path, FastPath::Pass)
}

/// Decides whether a frame may take the fast path (`Ok`: what the FIB lookup needs) or goes
/// to the kernel (`Err`: the counter saying why). `split_fragments`: the mode hashes ports,
/// so fragments must stay on the kernel's path.
#[inline(always)]
pub fn classify<P: PacketView + ?Sized>(pkt: &P, split_fragments: bool) -> Result<Route, Counter> {
    classify_then(pkt, split_fragments, Ok)
}

/// [`classify`], handing the route to `then`: called in one place per address family, so
/// that, inlined, each copy knows its family (no run-time family checks after this, and the
/// header checks made here stay known to the compiler in the rest of the path).
#[inline(always)]
pub fn classify_then<P: PacketView + ?Sized, R>(
    pkt: &P,
    split_fragments: bool,
    then: impl Fn(Route) -> Result<R, Counter>,
) -> Result<R, Counter> {
    let Some(eth) = pkt.window(0, ETH_HLEN) else {
        return Err(Counter::XdpPassMalformed);
    };
    if eth.u8::<0>() & 1 != 0 {
        // Broadcast and multicast: for the host (ARP, ND, IGMP, mDNS...), never forwarded here.
        return Err(Counter::XdpPassLocal);
    }
    match eth.be16::<12>() {
        0x0800 => then(ipv4(pkt, split_fragments)?),
        0x86dd => then(ipv6(pkt, split_fragments)?),
        _ => Err(Counter::XdpPassNotIp),
    }
}

#[inline(always)]
fn ipv4<P: PacketView + ?Sized>(pkt: &P, split_fragments: bool) -> Result<Route, Counter> {
    let Some(ip) = pkt.window(ETH_HLEN, 20) else {
        return Err(Counter::XdpPassMalformed);
    };
    let vihl = ip.u8::<0>();
    if vihl >> 4 != 4 || vihl & 0x0f < 5 {
        return Err(Counter::XdpPassMalformed);
    }
    if vihl & 0x0f != 5 {
        return Err(Counter::XdpPassOptions);
    }
    let tot_len = ip.be16::<2>();
    if tot_len < 20 || pkt.window(ETH_HLEN, tot_len as usize).is_none() {
        return Err(Counter::XdpPassMalformed);
    }
    if ip.u8::<8>() <= 1 {
        return Err(Counter::XdpPassTtl);
    }
    if split_fragments && ip.be16::<6>() & 0x3fff != 0 {
        return Err(Counter::XdpPassFragment);
    }
    Ok(Route {
        ipv6: false,
        proto: ip.u8::<9>(),
        tos: ip.u8::<1>(),
        flowinfo: 0,
        tot_len,
        src: [ip.le32::<12>(), 0, 0, 0],
        dst: [ip.le32::<16>(), 0, 0, 0],
    })
}

/// IPv6 next headers the fast path leaves to the kernel: hop-by-hop options (must be
/// processed by every router), routing, destination options.
const fn is_option_header(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 60)
}

#[inline(always)]
fn ipv6<P: PacketView + ?Sized>(pkt: &P, split_fragments: bool) -> Result<Route, Counter> {
    let Some(ip) = pkt.window(ETH_HLEN, 40) else {
        return Err(Counter::XdpPassMalformed);
    };
    if ip.u8::<0>() >> 4 != 6 {
        return Err(Counter::XdpPassMalformed);
    }
    let payload = ip.be16::<4>();
    if pkt.window(ETH_HLEN, 40 + payload as usize).is_none() {
        return Err(Counter::XdpPassMalformed);
    }
    let nh = ip.u8::<6>();
    if is_option_header(nh) {
        return Err(Counter::XdpPassOptions);
    }
    if ip.u8::<7>() <= 1 {
        return Err(Counter::XdpPassTtl);
    }
    if nh == 44 && split_fragments {
        return Err(Counter::XdpPassFragment);
    }
    if nh == 58 {
        // Neighbour discovery and router messages (133-137) are the host's.
        let Some(icmp) = pkt.window(ETH_HLEN + 40, 1) else {
            return Err(Counter::XdpPassMalformed);
        };
        if (133..=137).contains(&icmp.u8::<0>()) {
            return Err(Counter::XdpPassNeighbor);
        }
    }
    Ok(Route {
        ipv6: true,
        proto: nh,
        tos: 0,
        flowinfo: ip.le32::<0>() & u32::from_be(0x0fff_ffff),
        tot_len: payload.saturating_add(40),
        src: [
            ip.le32::<8>(),
            ip.le32::<12>(),
            ip.le32::<16>(),
            ip.le32::<20>(),
        ],
        dst: [
            ip.le32::<24>(),
            ip.le32::<28>(),
            ip.le32::<32>(),
            ip.le32::<36>(),
        ],
    })
}

/// The IPv4 header checksum after the TTL drops by one (RFC 1624 incremental update, as the
/// kernel's `ip_decrease_ttl`): `check` and the result are the field's big-endian value.
pub const fn checksum_after_ttl_decrement(check: u16) -> u16 {
    // TTL is the high byte of its 16-bit word: the word drops by 0x0100, so the one's
    // complement sum of the header does too, and its complement (the checksum) rises.
    let c = check as u32 + 0x0100;
    (c + (c >= 0xffff) as u32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Frame, csum};

    #[test]
    fn a_cached_next_hop_answers_only_in_its_epoch_before_expiry_and_within_its_length() {
        let hop = NextHop {
            max_len: 1500,
            epoch: 7,
            expires: 1_000,
            ..Default::default()
        };
        assert!(hop.answers(7, 999, 1500));
        assert!(hop.answers(7, 0, 60));
        assert!(!hop.answers(8, 999, 60), "a newer epoch retires it");
        assert!(!hop.answers(7, 1_000, 60), "expired");
        assert!(
            !hop.answers(7, 999, 1501),
            "longer than the kernel accepted"
        );
    }

    #[test]
    fn configurations_name_their_lan_program_and_what_the_fast_path_does() {
        use crate::config::{XDP_FORWARDS, XDP_PORTS};
        for mode in Mode::ALL {
            for policy in HashPolicy::ALL {
                let mut cfg = crate::BondConfig {
                    mode: mode as u32,
                    hash_policy: policy as u32,
                    ..Default::default()
                };
                cfg.recompute();
                let program = XDP_LAN_PROGRAMS[cfg.xdp_lan as usize];
                assert_eq!(
                    program,
                    lan_program_for(mode, policy),
                    "{mode:?} {policy:?}"
                );
                let want = if !accelerates(mode) {
                    0
                } else if uses_ports(mode, policy) {
                    XDP_FORWARDS | XDP_PORTS
                } else {
                    XDP_FORWARDS
                };
                assert_eq!(cfg.xdp_flags, want, "{mode:?} {policy:?}");
            }
        }
        // Numbers that are no mode: no fast path.
        for bad in [Mode::ALL.len() as u32 + 20, 1000, u32::MAX] {
            let mut cfg = crate::BondConfig {
                mode: bad,
                xdp_lan: 0,
                xdp_flags: XDP_FORWARDS,
                ..Default::default()
            };
            cfg.derive_fast_path();
            assert_eq!(
                (cfg.xdp_lan, cfg.xdp_flags),
                (lan_index(XDP_LAN_PASS), 0),
                "{bad}"
            );
        }
        for (i, name) in XDP_LAN_PROGRAMS.iter().enumerate() {
            assert_eq!(lan_index(name), i as u8);
        }
        // An unwritten configuration (all zeroes) names the program that forwards nothing.
        assert_eq!(crate::BondConfig::ZERO.xdp_lan, lan_index(XDP_LAN_PASS));
        assert_eq!(crate::BondConfig::ZERO.xdp_flags, 0);
    }

    #[test]
    fn a_route_slot_answers_only_for_its_own_key() {
        let key = RouteKey4 {
            ifindex: 3,
            src: 1,
            dst: 2,
            proto: 17,
            tos: 0,
            pad: [0; 2],
        };
        let slot = RouteSlot {
            key,
            hop: NextHop {
                max_len: 1500,
                epoch: 1,
                expires: 10,
                ..Default::default()
            },
        };
        assert!(slot.answers(&key, 1, 5, 60));
        for other in [
            RouteKey4 { ifindex: 4, ..key },
            RouteKey4 { src: 9, ..key },
            RouteKey4 { dst: 9, ..key },
            RouteKey4 { proto: 6, ..key },
            RouteKey4 { tos: 4, ..key },
        ] {
            assert!(!slot.answers(&other, 1, 5, 60), "{other:?}");
            assert!(!key.same(&other));
        }
        assert!(!slot.answers(&key, 2, 5, 60), "epoch");
        let k6 = RouteKey6 {
            ifindex: 3,
            flowinfo: 5,
            src: [1, 2, 3, 4],
            dst: [5, 6, 7, 8],
            proto: 17,
        };
        assert!(k6.same(&k6));
        for i in 0..11 {
            // Every word of the key takes part in the comparison.
            let mut w = k6.words();
            w[i] ^= 0x100;
            // SAFETY: any eleven words are a RouteKey6.
            let other: RouteKey6 = unsafe { core::mem::transmute(w) };
            assert!(!k6.same(&other), "word {i}");
        }
    }

    #[test]
    fn route_cache_slots_spread_keys_that_differ_in_any_input() {
        use std::collections::HashSet;
        let base = RouteKey4 {
            ifindex: 7,
            src: u32::from_le_bytes([198, 18, 10, 2]),
            dst: 0,
            proto: 17,
            tos: 0,
            pad: [0; 2],
        };
        // 1,000 destinations of one /16 from one host: as many slots as a uniform hash
        // would fill (about 885 of 4,096), all in range.
        let slots: HashSet<u32> = (0..1000u32)
            .map(|i| {
                let dst = u32::from_le_bytes([198, 19, (i >> 8) as u8, i as u8]);
                RouteKey4 { dst, ..base }.slot()
            })
            .collect();
        assert!(slots.iter().all(|&s| s < ROUTE_CACHE_SLOTS));
        assert!(slots.len() > 850, "{} slots", slots.len());
        // The same for sources, and the other inputs move a key too.
        let by_src: HashSet<u32> = (0..1000u32)
            .map(|i| {
                let src = u32::from_le_bytes([198, 18, (i >> 8) as u8, i as u8]);
                RouteKey4 { src, ..base }.slot()
            })
            .collect();
        assert!(by_src.len() > 850, "{} slots", by_src.len());
        // The interface is compared, not hashed.
        assert_eq!(base.slot(), RouteKey4 { ifindex: 8, ..base }.slot());
        assert!(!base.same(&RouteKey4 { ifindex: 8, ..base }));
        assert_ne!(base.slot(), RouteKey4 { tos: 0x10, ..base }.slot());
        let k6 = |i: u32| RouteKey6 {
            ifindex: 7,
            flowinfo: 0,
            src: [0xb80d_0120, 0, 0, 0x0200_0000],
            dst: [0xb80d_0120, 0, 0, i.to_be()],
            proto: 17,
        };
        let v6: HashSet<u32> = (0..1000).map(|i| k6(i).slot()).collect();
        assert!(v6.iter().all(|&s| s < ROUTE_CACHE_SLOTS));
        assert!(v6.len() > 850, "{} slots", v6.len());
    }

    #[test]
    fn route_keys_hold_every_lookup_input() {
        let r = Route {
            ipv6: false,
            proto: 17,
            tos: 0x10,
            flowinfo: 0,
            tot_len: 60,
            src: [1, 0, 0, 0],
            dst: [2, 0, 0, 0],
        };
        let k = r.key4(9);
        assert_eq!(
            (k.ifindex, k.src, k.dst, k.proto, k.tos),
            (9, 1, 2, 17, 0x10)
        );
        assert_ne!(r.key4(9), r.key4(10), "per interface");
        assert_ne!(r.key4(9), Route { tos: 0, ..r }.key4(9), "per TOS");
        let v6 = Route {
            ipv6: true,
            flowinfo: 0x1234,
            src: [1, 2, 3, 4],
            dst: [5, 6, 7, 8],
            ..r
        };
        let k = v6.key6(3);
        assert_eq!(
            (k.ifindex, k.flowinfo, k.src, k.dst, k.proto),
            (3, 0x1234, [1, 2, 3, 4], [5, 6, 7, 8], 17)
        );
        assert_eq!(core::mem::size_of::<RouteKey4>(), 16);
        assert_eq!(core::mem::size_of::<NextHop>(), 32);
        // A slot is one cache line (IPv4) or two (IPv6); a CPU's record of its last slot one.
        assert_eq!(core::mem::size_of::<RouteSlot<RouteKey4>>(), 64);
        assert_eq!(core::mem::size_of::<RouteSlot<RouteKey6>>(), 128);
        assert_eq!(core::mem::size_of::<LastRoute>(), 64);
    }

    #[test]
    fn every_mode_has_a_lan_program_running_the_same_selector_as_its_egress() {
        for mode in Mode::ALL {
            for policy in HashPolicy::ALL {
                let lan = lan_program_for(mode, policy);
                assert!(
                    XDP_LAN_PROGRAMS.contains(&lan),
                    "{mode:?} {policy:?}: {lan}"
                );
                if !accelerates(mode) {
                    assert_eq!(lan, XDP_LAN_PASS, "{mode:?}");
                    continue;
                }
                // xdp_lan_X runs the selector of egress_X (balance-alb's egress is
                // balance-tlb's plus its ARP rewrite: routed traffic is IP).
                let egress = match mode {
                    Mode::BalanceAlb => crate::modes::tlb::Tlb::PROGRAM,
                    _ => crate::modes::program_for(mode, policy).unwrap(),
                };
                assert_eq!(
                    lan.strip_prefix("xdp_lan_"),
                    egress.strip_prefix("egress_"),
                    "{mode:?} {policy:?}"
                );
            }
        }
        // Names fit the kernel's 15 characters, so they show whole in bpftool.
        assert!(XDP_LAN_PROGRAMS.iter().all(|p| p.len() <= 15));
    }

    const A: [u8; 4] = [198, 18, 10, 2];
    const B: [u8; 4] = [198, 18, 20, 2];

    /// The header checksum `h` should carry (its own checksum field counted as zero).
    fn ipv4_checksum(h: &[u8]) -> u16 {
        let mut h = h.to_vec();
        h[10..12].copy_from_slice(&[0, 0]);
        csum::finish(csum::sum(&h))
    }

    #[test]
    fn ttl_decrement_keeps_the_checksum_exact() {
        let mut rng = 0x1234_5678u32;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng
        };
        for _ in 0..20_000 {
            let mut h = [0u8; 20];
            for b in &mut h {
                *b = next() as u8;
            }
            h[0] = 0x45;
            h[8] = 2 + (next() % 254) as u8;
            let check = ipv4_checksum(&h);
            h[8] -= 1;
            assert_eq!(
                checksum_after_ttl_decrement(check),
                ipv4_checksum(&h),
                "{h:02x?}"
            );
        }
        // The carry edge cases, as the kernel's ip_decrease_ttl computes them.
        assert_eq!(checksum_after_ttl_decrement(0xfeff), 0x0000);
        assert_eq!(checksum_after_ttl_decrement(0xff00), 0x0001);
    }

    #[test]
    fn table_of_pass_reasons_and_routes() {
        let udp = Frame::eth(0x0800)
            .ipv4(A, B, 17, 0, 0)
            .ports(1, 2)
            .lengths()
            .build();
        let mut ttl1 = udp.clone();
        ttl1[TTL_OFFSET_V4] = 1;
        let mut bcast = udp.clone();
        bcast[0] = 0xff;
        let frag = Frame::eth(0x0800)
            .ipv4(A, B, 17, 0x2000, 0)
            .ports(1, 2)
            .lengths()
            .build();
        let later = Frame::eth(0x0800)
            .ipv4(A, B, 17, 0x0010, 0)
            .pad_to(60)
            .lengths()
            .build();
        let options = Frame::eth(0x0800)
            .ipv4(A, B, 6, 0, 8)
            .ports(1, 2)
            .lengths()
            .build();
        let v6 = |nh: u8, rest: &[u8]| {
            Frame::eth(0x86dd)
                .ipv6(1, 2, nh)
                .bytes(rest)
                .lengths()
                .build()
        };
        let mut truncated = udp.clone();
        truncated.truncate(30);
        // (what, frame, the mode hashes ports, expected)
        type Row = (&'static str, Vec<u8>, bool, Result<(), Counter>);
        let rows: Vec<Row> = vec![
            ("ipv4 udp", udp.clone(), true, Ok(())),
            (
                "arp",
                crate::testing::arp_request(A, B),
                true,
                Err(Counter::XdpPassLocal),
            ),
            ("broadcast", bcast, false, Err(Counter::XdpPassLocal)),
            (
                "vlan",
                Frame::eth(0x8100).pad_to(60).build(),
                false,
                Err(Counter::XdpPassNotIp),
            ),
            ("ttl 1", ttl1, false, Err(Counter::XdpPassTtl)),
            ("options", options, false, Err(Counter::XdpPassOptions)),
            (
                "first fragment, ports hashed",
                frag.clone(),
                true,
                Err(Counter::XdpPassFragment),
            ),
            ("first fragment, no ports", frag, false, Ok(())),
            (
                "later fragment, ports hashed",
                later,
                true,
                Err(Counter::XdpPassFragment),
            ),
            (
                "truncated",
                truncated,
                false,
                Err(Counter::XdpPassMalformed),
            ),
            ("ipv6 udp", v6(17, &[0, 1, 0, 2, 0, 8, 0, 0]), true, Ok(())),
            (
                "ipv6 hop-by-hop",
                v6(0, &[17, 0, 0, 0, 0, 0, 0, 0]),
                false,
                Err(Counter::XdpPassOptions),
            ),
            (
                "ipv6 fragment",
                v6(44, &[17, 0, 0, 1, 0, 0, 0, 1]),
                true,
                Err(Counter::XdpPassFragment),
            ),
            (
                "ipv6 neighbour solicitation",
                v6(58, &[135, 0, 0, 0, 0, 0, 0, 0]),
                false,
                Err(Counter::XdpPassNeighbor),
            ),
            (
                "ipv6 echo",
                v6(58, &[128, 0, 0, 0, 0, 0, 0, 0]),
                false,
                Ok(()),
            ),
        ];
        for (name, frame, ports, want) in rows {
            let got = classify(&frame[..], ports).map(|_| ());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn routes_carry_what_the_fib_lookup_needs() {
        let udp = Frame::eth(0x0800)
            .ipv4(A, B, 17, 0, 0)
            .ports(1, 2)
            .lengths()
            .build();
        let r = classify(&udp[..], false).unwrap();
        assert!(!r.ipv6);
        assert_eq!(r.proto, 17);
        assert_eq!(r.src[0].to_ne_bytes(), A);
        assert_eq!(r.dst[0].to_ne_bytes(), B);
        assert_eq!(r.tot_len as usize, udp.len() - ETH_HLEN);
    }

    #[test]
    fn port_hashing_modes_keep_fragments_off_the_fast_path() {
        assert!(uses_ports(Mode::BalanceXor, HashPolicy::Layer34));
        assert!(!uses_ports(Mode::BalanceXor, HashPolicy::Layer23));
        assert!(uses_ports(Mode::LoadAware, HashPolicy::Layer2));
        assert!(!uses_ports(Mode::BalanceRr, HashPolicy::Layer34));
        assert!(accelerates(Mode::BalanceXor));
        assert!(!accelerates(Mode::MultiWan));
        assert!(!accelerates(Mode::Custom));
    }
}
