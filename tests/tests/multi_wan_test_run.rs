//! BPF_PROG_TEST_RUN tests of the multi-wan programs: crafted packets through the real
//! `egress_mwan` and `ingress_mwan`, the translated bytes checked field by field and every
//! checksum recomputed from scratch.

use bondxdp_common::{
    Counter, Mode,
    config::{LinkState, NAT_STICKY_HOST, UPLINK_V4, UPLINK_V6, Uplink},
    multi_wan::{self, Addr, FAMILY_V4, Flow, FlowKey, addr_from_bytes, tcp},
    testing::{csum, ip},
};
use bondxdp_tests::testrun::{Harness, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, with_harness};

const INSIDE: [u8; 4] = [198, 18, 0, 1];
const LAN_HOST: [u8; 4] = [198, 18, 0, 2];
const REMOTE: [u8; 4] = [198, 19, 0, 80];
const ROUTER: [u8; 4] = [198, 19, 0, 1];
const UPLINK: [[u8; 4]; 2] = [[198, 18, 10, 2], [198, 18, 20, 2]];
const GW_MAC: [[u8; 6]; 2] = [[2, 0, 0, 0, 0x10, 1], [2, 0, 0, 0, 0x20, 1]];
const UPLINK_MAC: [[u8; 6]; 2] = [[2, 0, 0, 0, 0x10, 2], [2, 0, 0, 0, 0x20, 2]];

fn v6(net: u8, last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[4] = net;
    a[15] = last;
    a
}

/// Two uplinks with both families, weights as given.
fn configure(h: &mut Harness, weights: [u16; 2]) {
    h.set(|c| {
        c.nat_port_min = 1024;
        c.nat_port_max = 65535;
        for slot in 0..2 {
            c.members[slot].mac = UPLINK_MAC[slot];
            c.uplinks[slot] = Uplink {
                addr4: u32::from_le_bytes(UPLINK[slot]),
                addr6: addr_from_bytes(&v6(0x10 * (slot as u8 + 1), 2)),
                gw_mac4: GW_MAC[slot],
                gw_mac6: GW_MAC[slot],
                pad2: 0,
                flags: UPLINK_V4 | UPLINK_V6,
                tier: 0,
                epoch: 1,
            };
            c.weights[slot] = weights[slot];
        }
    });
}

fn mwan<T: Send>(weights: [u16; 2], f: impl FnOnce(&mut Harness) -> T + Send) -> T {
    with_harness(2, Mode::MultiWan, |h| {
        configure(h, weights);
        f(h)
    })
}

fn parsed(frame: &[u8]) -> Flow {
    multi_wan::parse(frame, u16::from_be_bytes([frame[12], frame[13]]), 14).expect("parses")
}

fn a4(b: [u8; 4]) -> Addr {
    addr_from_bytes(&b)
}

/// Sends `frame` out and checks it left translated through one uplink; returns the slot and
/// the frame as it left.
fn out(h: &Harness, frame: &[u8]) -> (usize, Vec<u8>) {
    let o = h.egress(frame);
    assert_eq!(o.verdict, TC_ACT_REDIRECT, "{o:?}");
    let slot = o.tx_slot().expect("one uplink sent it");
    csum::verify(&o.data, 14).expect("checksums after egress translation");
    assert_eq!(
        &o.data[0..6],
        &GW_MAC[slot],
        "destination MAC: the gateway's"
    );
    assert_eq!(
        &o.data[6..12],
        &UPLINK_MAC[slot],
        "source MAC: the uplink's"
    );
    (slot, o.data)
}

/// Receives `frame` on uplink `slot`, checks it was translated back and handed to the bond.
fn back(h: &Harness, slot: usize, frame: &[u8]) -> Vec<u8> {
    let o = h.ingress(h.members[slot], frame);
    assert_eq!(o.verdict, TC_ACT_REDIRECT, "{o:?}");
    assert_eq!(o.rx, vec![(slot, 1)]);
    csum::verify(&o.data, 14).expect("checksums after ingress translation");
    assert_eq!(
        &o.data[0..6],
        &h.cfg.bond_mac,
        "delivered to the bond's MAC"
    );
    o.data
}

#[test]
fn tcp_flow_is_translated_out_and_back() {
    mwan([1, 1], |h| {
        let syn = ip::tcp(true, &INSIDE, &REMOTE, 40000, 443, tcp::SYN, b"");
        let (slot, sent) = out(h, &syn);
        let f = parsed(&sent);
        assert_eq!(
            f.key.src,
            a4(UPLINK[slot]),
            "source is the uplink's address"
        );
        assert_eq!(
            (f.key.sport, f.key.dport),
            (40000, 443),
            "a free port is kept"
        );
        assert_eq!(f.key.dst, a4(REMOTE));
        // Later packets of the flow take the same uplink.
        let ack = ip::tcp(true, &INSIDE, &REMOTE, 40000, 443, tcp::ACK, b"hello");
        assert_eq!(out(h, &ack).0, slot);
        // The reply comes back translated to the inside.
        let synack = ip::tcp(
            true,
            &REMOTE,
            &UPLINK[slot],
            443,
            40000,
            tcp::SYN | tcp::ACK,
            b"",
        );
        let got = parsed(&back(h, slot, &synack));
        assert_eq!((got.key.src, got.key.dst), (a4(REMOTE), a4(INSIDE)));
        assert_eq!((got.key.sport, got.key.dport), (443, 40000));
        let signals = h.maps.nat.signals(slot).unwrap();
        assert_eq!(
            (signals.new_flows, signals.syns, signals.syn_acks),
            (1, 1, 1)
        );
    });
}

#[test]
fn colliding_flows_get_distinct_ports_and_replies_find_their_own() {
    mwan([1, 0], |h| {
        // Two inside hosts, same source port, same remote endpoint, one uplink.
        let a = ip::udp(true, &INSIDE, &REMOTE, 5000, 53, b"a", false);
        let b = ip::udp(true, &LAN_HOST, &REMOTE, 5000, 53, b"b", false);
        let (_, sa) = out(h, &a);
        let (_, sb) = out(h, &b);
        let (pa, pb) = (parsed(&sa).key.sport, parsed(&sb).key.sport);
        assert_eq!(pa, 5000);
        assert_ne!(pb, 5000, "the second flow needs another port");
        assert!(pb >= 1024);
        for (port, inside) in [(pa, INSIDE), (pb, LAN_HOST)] {
            let reply = ip::udp(true, &REMOTE, &UPLINK[0], 53, port, b"r", false);
            let got = parsed(&back(h, 0, &reply));
            assert_eq!((got.key.dst, got.key.dport), (a4(inside), 5000));
        }
    });
}

#[test]
fn udp_without_checksum_stays_without() {
    mwan([1, 0], |h| {
        let f = ip::udp(true, &INSIDE, &REMOTE, 6000, 9, b"zero", true);
        let (_, sent) = out(h, &f);
        assert_eq!(&sent[40..42], &[0, 0], "UDP checksum left at zero");
        let reply = ip::udp(true, &REMOTE, &UPLINK[0], 9, 6000, b"z", true);
        let got = back(h, 0, &reply);
        assert_eq!(&got[40..42], &[0, 0]);
    });
}

#[test]
fn ping_identifiers_are_translated_like_ports() {
    mwan([1, 0], |h| {
        let (_, s1) = out(h, &ip::echo(true, &INSIDE, &REMOTE, 77, false));
        let (_, s2) = out(h, &ip::echo(true, &LAN_HOST, &REMOTE, 77, false));
        let (i1, i2) = (parsed(&s1).key.sport, parsed(&s2).key.sport);
        assert_eq!(i1, 77);
        assert_ne!(i2, 77);
        let got = parsed(&back(h, 0, &ip::echo(true, &REMOTE, &UPLINK[0], i2, true)));
        assert_eq!((got.key.dst, got.key.dport), (a4(LAN_HOST), 77));
    });
}

#[test]
fn fragmentation_needed_reaches_the_sender_with_the_quote_translated() {
    mwan([1, 0], |h| {
        // Two flows so the second one's port is translated (the harder case).
        out(
            h,
            &ip::udp(true, &INSIDE, &REMOTE, 7000, 4433, &[0; 64], false),
        );
        let (_, sent) = out(
            h,
            &ip::udp(true, &LAN_HOST, &REMOTE, 7000, 4433, &[0; 64], false),
        );
        let port = parsed(&sent).key.sport;
        assert_ne!(port, 7000);
        // A router beyond the uplink says "fragmentation needed", quoting what it got.
        let quoted = &sent[14..];
        for quote_len in [28, quoted.len()] {
            let err = ip::error(true, &ROUTER, &UPLINK[0], 3, 4, quoted, quote_len);
            let got = back(h, 0, &err);
            let f = parsed(&got);
            assert_eq!(f.key.dst, a4(LAN_HOST), "outer destination: the sender");
            let inner = f.inner.expect("still an ICMP error");
            assert_eq!(inner.key.src, a4(LAN_HOST), "quoted source: the sender");
            assert_eq!((inner.key.sport, inner.key.dport), (7000, 4433));
            if quote_len == quoted.len() {
                // The whole datagram is quoted: its own checksum must be right too.
                csum::verify(&got, 42).expect("quoted UDP checksum");
            }
        }
    });
}

#[test]
fn ipv6_flows_are_translated_and_packet_too_big_comes_back() {
    mwan([0, 1], |h| {
        let inside = v6(0, 1);
        let remote = v6(0xff, 0x80);
        let (slot, sent) = out(
            h,
            &ip::tcp(true, &inside, &remote, 41000, 443, tcp::SYN, b""),
        );
        assert_eq!(slot, 1);
        let uplink = v6(0x20, 2);
        let f = parsed(&sent);
        assert_eq!(f.key.src, addr_from_bytes(&uplink));
        let reply = ip::tcp(true, &remote, &uplink, 443, 41000, tcp::SYN | tcp::ACK, b"");
        assert_eq!(
            parsed(&back(h, 1, &reply)).key.dst,
            addr_from_bytes(&inside)
        );
        // ICMPv6 packet too big, quoting the segment as it left.
        let err = ip::error(
            true,
            &v6(0xff, 1),
            &uplink,
            2,
            0,
            &sent[14..],
            sent.len() - 14,
        );
        let got = back(h, 1, &err);
        let inner = parsed(&got).inner.unwrap();
        assert_eq!(inner.key.src, addr_from_bytes(&inside));
        csum::verify(&got, 14 + 48).expect("quoted TCP checksum");
        // Ping over IPv6 as well.
        let (_, s) = out(h, &ip::echo(true, &inside, &remote, 5, false));
        let id = parsed(&s).key.sport;
        back(h, 1, &ip::echo(true, &remote, &uplink, id, true));
    });
}

#[test]
fn ipv4_options_are_carried_and_checksummed() {
    mwan([1, 0], |h| {
        let mut f = ip::udp(true, &INSIDE, &REMOTE, 8000, 53, b"opt", false);
        f[14] = 0x46; // IHL 6: one word of options (NOPs)
        f.splice(34..34, [1u8, 1, 1, 0]);
        csum::fill(&mut f, 14, false);
        let (_, sent) = out(h, &f);
        let g = parsed(&sent);
        assert_eq!((g.l4_off, g.key.src), (38, a4(UPLINK[0])));
    });
}

#[test]
fn unknown_traffic_on_an_uplink_is_left_to_the_host() {
    mwan([1, 1], |h| {
        // Nobody inside asked for this: DHCP, the uplink's own sockets, a scan.
        let f = ip::udp(true, &REMOTE, &UPLINK[0], 67, 68, b"offer", false);
        let o = h.ingress(h.members[0], &f);
        assert_eq!(o.verdict, TC_ACT_OK);
        assert_eq!(o.data, f, "untouched");
        assert_eq!(o.counter(Counter::NatRxPassed), 1);
        assert!(o.rx.is_empty());
    });
}

#[test]
fn what_cannot_be_translated_is_dropped_and_counted() {
    mwan([1, 1], |h| {
        let arp = bondxdp_common::testing::arp_request(INSIDE, REMOTE);
        let cases: Vec<(&str, Vec<u8>, Counter)> = vec![
            ("ARP", arp, Counter::NatNotIp),
            (
                "truncated TCP",
                ip::tcp(true, &INSIDE, &REMOTE, 1, 2, 0, b"")[..40].to_vec(),
                Counter::NatMalformed,
            ),
            (
                "multicast",
                ip::udp(true, &INSIDE, &[224, 0, 0, 251], 5353, 5353, b"m", false),
                Counter::NatUntranslatable,
            ),
            (
                "link-local IPv6",
                ip::udp(
                    true,
                    &{
                        let mut a = [0u8; 16];
                        a[0] = 0xfe;
                        a[1] = 0x80;
                        a[15] = 1;
                        a
                    },
                    &v6(0xff, 1),
                    546,
                    547,
                    b"s",
                    false,
                ),
                Counter::NatUntranslatable,
            ),
            (
                "later fragment, first never seen",
                {
                    let mut f = ip::udp(true, &INSIDE, &REMOTE, 1, 2, &[0; 16], false);
                    f[21] = 0x10;
                    f
                },
                Counter::NatFragmentUnknown,
            ),
        ];
        for (what, frame, counter) in cases {
            let o = h.egress(&frame);
            assert_eq!(o.verdict, TC_ACT_SHOT, "{what}");
            assert_eq!(o.counter(counter), 1, "{what}: {:?}", o.counters);
            assert!(o.tx.is_empty(), "{what}");
        }
        // No uplink up: dropped, counted, and fine again once one returns.
        h.set(|c| {
            c.members[0].link = LinkState::Down as u8;
            c.members[1].link = LinkState::Down as u8;
        });
        let f = ip::udp(true, &INSIDE, &REMOTE, 9000, 53, b"x", false);
        let o = h.egress(&f);
        assert_eq!(
            (o.verdict, o.counter(Counter::NatNoUplink)),
            (TC_ACT_SHOT, 1)
        );
        h.set(|c| c.members[1].link = LinkState::Up as u8);
        assert_eq!(out(h, &f).0, 1);
    });
}

#[test]
fn a_failed_uplinks_flows_move_and_healthy_ones_stay() {
    mwan([1, 1], |h| {
        // Find one flow on each uplink.
        let mut on = [None, None];
        for port in 10000..10100u16 {
            let f = ip::udp(true, &INSIDE, &REMOTE, port, 443, b"q", false);
            let (slot, _) = out(h, &f);
            on[slot].get_or_insert(f);
            if on.iter().all(Option::is_some) {
                break;
            }
        }
        let [Some(f0), Some(f1)] = on else {
            panic!("both uplinks got flows")
        };
        // Uplink 0 fails: the controller marks it down and bumps its epoch.
        h.set(|c| {
            c.members[0].link = LinkState::Down as u8;
            c.uplinks[0].epoch += 1;
        });
        let o = h.egress(&f0);
        assert_eq!(o.tx_slot(), Some(1), "the failed uplink's flow moved");
        assert_eq!(parsed(&o.data).key.src, a4(UPLINK[1]));
        let o = h.egress(&f1);
        assert_eq!((o.tx_slot(), o.counter(Counter::NatNewFlow)), (Some(1), 0));
    });
}

#[test]
fn weights_share_new_flows() {
    mwan([1, 3], |h| {
        let mut count = [0usize; 2];
        for i in 0..400u16 {
            let f = ip::udp(true, &INSIDE, &REMOTE, 20000 + i, 53, b"w", false);
            count[out(h, &f).0] += 1;
        }
        // 1:3 of 400 is 100:300; the hash is good enough for +-40.
        assert!((60..=140).contains(&count[0]), "{count:?}");
    });
}

#[test]
fn sticky_host_keeps_a_destination_on_one_uplink() {
    mwan([1, 1], |h| {
        h.set(|c| c.nat_flags |= NAT_STICKY_HOST);
        let slots: std::collections::BTreeSet<usize> = (0..40u16)
            .map(|i| {
                out(
                    h,
                    &ip::tcp(true, &INSIDE, &REMOTE, 30000 + i, 443, tcp::SYN, b""),
                )
                .0
            })
            .collect();
        assert_eq!(slots.len(), 1, "every flow to one host on one uplink");
    });
}

#[test]
fn exhausted_ports_refuse_new_flows_and_keep_old_ones() {
    mwan([1, 0], |h| {
        h.set(|c| {
            c.nat_port_min = 40000;
            c.nat_port_max = 40000;
        });
        let first = ip::udp(true, &INSIDE, &REMOTE, 40000, 53, b"1", false);
        assert_eq!(parsed(&out(h, &first).1).key.sport, 40000);
        let second = ip::udp(true, &LAN_HOST, &REMOTE, 40000, 53, b"2", false);
        let o = h.egress(&second);
        assert_eq!(o.verdict, TC_ACT_SHOT);
        assert_eq!(o.counter(Counter::NatPortsExhausted), 1);
        // The old flow is unaffected.
        out(h, &first);
        // The flow table holds exactly the one flow.
        let flows: Vec<FlowKey> = h.maps.nat.flows.keys().map(|k| k.unwrap()).collect();
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].family, FAMILY_V4);
    });
}

/// Fragment `offset..offset+len` of the L4 payload of the IPv4 datagram in Ethernet frame
/// `whole`, with the more-fragments flag as given (header checksum recomputed).
fn fragment4(whole: &[u8], offset: usize, len: usize, more: bool) -> Vec<u8> {
    let l4 = &whole[34..];
    let mut f = whole[..34].to_vec();
    f.extend_from_slice(&l4[offset..(offset + len).min(l4.len())]);
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    let field = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    f[20..22].copy_from_slice(&field.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = csum::finish(csum::sum(&f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn ip_header_ok(f: &[u8]) -> bool {
    csum::finish(csum::sum(&f[14..34])) == 0
}

#[test]
fn fragments_follow_their_first_fragment_both_ways() {
    mwan([1, 1], |h| {
        // A 1,200-byte UDP datagram in two fragments, out.
        let whole = ip::udp(true, &INSIDE, &REMOTE, 5300, 53, &[9u8; 1192], false);
        let o = h.egress(&fragment4(&whole, 0, 600, true));
        assert_eq!(o.verdict, TC_ACT_REDIRECT, "{o:?}");
        let slot = o.tx_slot().unwrap();
        let first = o.data;
        assert_eq!(&first[26..30], &UPLINK[slot]);
        assert!(ip_header_ok(&first));
        let o = h.egress(&fragment4(&whole, 600, 600, false));
        assert_eq!(o.verdict, TC_ACT_REDIRECT, "{o:?}");
        assert_eq!(
            o.tx_slot(),
            Some(slot),
            "the later fragment follows the first"
        );
        assert_eq!(&o.data[26..30], &UPLINK[slot], "translated like the first");
        assert!(ip_header_ok(&o.data));
        // Reassembled, the datagram's UDP checksum is right.
        let mut joined = first.clone();
        joined.extend_from_slice(&o.data[34..]);
        let total = (joined.len() - 14) as u16;
        joined[16..18].copy_from_slice(&total.to_be_bytes());
        joined[20..22].copy_from_slice(&[0, 0]);
        joined[24..26].copy_from_slice(&[0, 0]);
        let c = csum::finish(csum::sum(&joined[14..34]));
        joined[24..26].copy_from_slice(&c.to_be_bytes());
        csum::verify(&joined, 14).expect("the reassembled datagram's checksums");
        // A reply in fragments, back: the later one finds the inside host too.
        let reply = ip::udp(true, &REMOTE, &UPLINK[slot], 53, 5300, &[7u8; 1192], false);
        let r1 = h.ingress(h.members[slot], &fragment4(&reply, 0, 600, true));
        assert_eq!(r1.verdict, TC_ACT_REDIRECT);
        assert_eq!(&r1.data[30..34], &INSIDE);
        let r2 = h.ingress(h.members[slot], &fragment4(&reply, 600, 600, false));
        assert_eq!(r2.verdict, TC_ACT_REDIRECT, "{r2:?}");
        assert_eq!(&r2.data[30..34], &INSIDE);
        assert!(ip_header_ok(&r2.data));
        // A later fragment of a datagram nobody started is the host's, untouched.
        let mut other = ip::udp(true, &REMOTE, &UPLINK[slot], 53, 9999, &[1u8; 1192], false);
        other[18..20].copy_from_slice(&[0x43, 0x21]); // another datagram: another IP id
        let stray = fragment4(&other, 600, 600, false);
        let o = h.ingress(h.members[slot], &stray);
        assert_eq!((o.verdict, o.data), (TC_ACT_OK, stray));
    });
}
