//! What a failover tells the segment, sent by a task of its own so the bond's monitor never
//! waits for it: `num_grat_arp` rounds of gratuitous ARPs and unsolicited neighbour
//! advertisements `peer_notif_delay` ms apart, and `resend_igmp` IGMPv3 and MLDv2 membership
//! reports for the bond's IPv4 and IPv6 groups 200 ms apart (the kernel's spacing; its
//! NETDEV_RESEND_IGMP reaches both IGMP and MLD), all through the new active member.
//! A new failover cancels what the previous one had left to send, as the kernel restarts its
//! counters.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
    time::Duration,
};

use tokio::task::JoinHandle;

use super::{
    frames::{icmpv6_checksum, inet_checksum},
    packet_socket::PacketSocket,
};

/// The kernel's gap between IGMP report rounds (`bond_resend_igmp_join_requests_delayed`).
pub const IGMP_GAP: Duration = Duration::from_millis(200);

/// The gap between notification rounds when `peer_notif_delay` is 0.
const BACK_TO_BACK: Duration = Duration::from_millis(10);

/// One failover's announcements.
pub struct Announcement {
    /// The new active member's socket.
    pub socket: Arc<PacketSocket>,
    /// One round of peer notifications (a frame per address).
    pub notifications: Vec<Vec<u8>>,
    /// `num_grat_arp`.
    pub rounds: u32,
    /// `peer_notif_delay`.
    pub gap: Duration,
    /// One IGMP report for the bond's IPv4 groups (`None`: no groups).
    pub igmp: Option<Vec<u8>>,
    /// One MLD report for the bond's IPv6 groups (`None`: no groups or no link-local
    /// address to send it from).
    pub mld: Option<Vec<u8>>,
    /// `resend_igmp`.
    pub igmp_rounds: u32,
}

/// Sends announcements, one failover's at a time.
#[derive(Default)]
pub struct Notifier {
    task: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Starts sending `a`, abandoning what an earlier failover had left to send.
    pub fn start(&mut self, a: Announcement) {
        self.stop();
        self.task = Some(tokio::spawn(async move {
            let gap = if a.gap.is_zero() { BACK_TO_BACK } else { a.gap };
            let notify = async {
                for round in 0..a.rounds {
                    if round > 0 {
                        tokio::time::sleep(gap).await;
                    }
                    for frame in &a.notifications {
                        let _ = a.socket.send(frame);
                    }
                }
            };
            let igmp = async {
                let reports: Vec<&Vec<u8>> = a.igmp.iter().chain(&a.mld).collect();
                if reports.is_empty() {
                    return;
                }
                for round in 0..a.igmp_rounds {
                    if round > 0 {
                        tokio::time::sleep(IGMP_GAP).await;
                    }
                    for report in &reports {
                        let _ = a.socket.send(report);
                    }
                }
            };
            tokio::join!(notify, igmp);
        }));
    }

    /// Abandons what is left to send.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The IPv4 multicast groups `ifindex` has joined, from `/proc/net/igmp` (this network
/// namespace's), without 224.0.0.1 (all hosts: never reported).
pub fn joined_groups(ifindex: u32) -> Vec<Ipv4Addr> {
    std::fs::read_to_string("/proc/net/igmp")
        .map(|text| parse_proc_igmp(&text, ifindex))
        .unwrap_or_default()
}

/// Parses `/proc/net/igmp`: a device line (`Idx Device : Count Querier`) followed by one
/// line per group (the address as the host's integer rendering of its network-order bytes).
fn parse_proc_igmp(text: &str, ifindex: u32) -> Vec<Ipv4Addr> {
    let mut groups = Vec::new();
    let mut ours = false;
    for line in text.lines().skip(1) {
        if !line.starts_with(char::is_whitespace) {
            ours = line
                .split_whitespace()
                .next()
                .and_then(|i| i.parse::<u32>().ok())
                == Some(ifindex);
            continue;
        }
        if !ours {
            continue;
        }
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        if let Ok(v) = u32::from_str_radix(hex, 16) {
            let group = Ipv4Addr::from(v.to_ne_bytes());
            if group.is_multicast() && group != Ipv4Addr::new(224, 0, 0, 1) {
                groups.push(group);
            }
        }
    }
    groups
}

/// The IPv6 multicast groups `ifindex` has joined, from `/proc/net/igmp6`, without the
/// groups MLD never reports (RFC 3810 5.2.1: ff02::1, and interface-local scope).
pub fn joined_groups_v6(ifindex: u32) -> Vec<Ipv6Addr> {
    std::fs::read_to_string("/proc/net/igmp6")
        .map(|text| parse_proc_igmp6(&text, ifindex))
        .unwrap_or_default()
}

/// Parses `/proc/net/igmp6`: one line per group, `ifindex device group users flags timer`,
/// the group as 32 hex digits.
fn parse_proc_igmp6(text: &str, ifindex: u32) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let idx: u32 = fields.next()?.parse().ok()?;
            let hex = fields.nth(1)?;
            if idx != ifindex || hex.len() != 32 {
                return None;
            }
            let group = Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?);
            let scope = group.segments()[0] & 0x000f;
            (group.is_multicast()
                && scope > 1
                && group != Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1))
            .then_some(group)
        })
        .collect()
}

/// MLDv2's all-routers address, where version 2 reports go.
const MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// An MLDv2 report from `src` (the bond's link-local address; `mac`) listing every group as
/// "exclude nothing", as an Ethernet frame to ff02::16 with hop limit 1 and the Router Alert
/// hop-by-hop option (RFC 3810 5.2).
pub fn mldv2_report(mac: [u8; 6], src: Ipv6Addr, groups: &[Ipv6Addr]) -> Vec<u8> {
    let mut mld = vec![143, 0, 0, 0, 0, 0];
    mld.extend_from_slice(&(groups.len() as u16).to_be_bytes());
    for g in groups {
        // MODE_IS_EXCLUDE, no aux data, no sources.
        mld.extend_from_slice(&[2, 0, 0, 0]);
        mld.extend_from_slice(&g.octets());
    }
    let sum = icmpv6_checksum(&src, &MLDV2_ROUTERS, &mld);
    let dst = MLDV2_ROUTERS.octets();
    mld[2..4].copy_from_slice(&sum.to_be_bytes());
    // Hop-by-hop: next ICMPv6, 8 bytes, Router Alert (MLD), PadN.
    let hop_by_hop = [58, 0, 5, 2, 0, 0, 1, 0];
    let payload = (hop_by_hop.len() + mld.len()) as u16;
    let mut f = vec![0x33, 0x33, dst[12], dst[13], dst[14], dst[15]];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&payload.to_be_bytes());
    f.extend_from_slice(&[0, 1]); // next header hop-by-hop, hop limit 1
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&hop_by_hop);
    f.extend_from_slice(&mld);
    f
}

/// IGMPv3's all-routers address, where version 3 reports go.
const IGMPV3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// An IGMPv3 membership report from `src` (`mac`) listing every group as "exclude nothing"
/// (joined, any source), as an Ethernet frame to 224.0.0.22 with the Router Alert option.
pub fn igmpv3_report(mac: [u8; 6], src: Ipv4Addr, groups: &[Ipv4Addr]) -> Vec<u8> {
    let mut igmp = vec![0x22, 0, 0, 0, 0, 0];
    igmp.extend_from_slice(&(groups.len() as u16).to_be_bytes());
    for g in groups {
        // MODE_IS_EXCLUDE, no aux data, no sources.
        igmp.extend_from_slice(&[2, 0, 0, 0]);
        igmp.extend_from_slice(&g.octets());
    }
    let sum = inet_checksum(0, &igmp);
    igmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let dst = IGMPV3_ROUTERS.octets();
    let total = (24 + igmp.len()) as u16;
    let mut ip = vec![0x46, 0xc0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 1, 2, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&[0x94, 0x04, 0, 0]);
    let sum = inet_checksum(0, &ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = vec![0x01, 0x00, 0x5e, dst[1] & 0x7f, dst[2], dst[3]];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&igmp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_one_interface_from_proc() {
        let g = |a: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(a));
        let text = format!(
            "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
             1\tlo        :     1      V3\n\
             \t\t\t\t{}     1 0:00000000\t\t0\n\
             7\tbond0     :     2      V3\n\
             \t\t\t\t{}     1 0:00000000\t\t0\n\
             \t\t\t\t{}     1 0:00000000\t\t0\n",
            g([224, 0, 0, 1]),
            g([239, 1, 2, 3]),
            g([224, 0, 0, 1]),
        );
        assert_eq!(parse_proc_igmp(&text, 7), [Ipv4Addr::new(239, 1, 2, 3)]);
        assert!(parse_proc_igmp(&text, 1).is_empty());
    }

    #[test]
    fn ipv6_groups_of_one_interface_from_proc() {
        let text = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
                    7    bond0           ff020000000000000000000000000001     1 0000000C 0\n\
                    7    bond0           ff0200000000000000000001ff000001     1 00000004 0\n\
                    7    bond0           ff010000000000000000000000000001     1 00000008 0\n\
                    7    bond0           ff0e0000000000000000000000001234     1 00000004 0\n\
                    8    eth1            ff0e0000000000000000000000005678     1 00000004 0\n";
        assert_eq!(
            parse_proc_igmp6(text, 7),
            [
                "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap(),
                "ff0e::1234".parse().unwrap()
            ]
        );
        assert!(
            parse_proc_igmp6(text, 1).is_empty(),
            "ff02::1 is never reported"
        );
    }

    #[test]
    fn mld_report_checksum_verifies() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let groups: [Ipv6Addr; 2] = [
            "ff0e::1234".parse().unwrap(),
            "ff02::1:ff00:1".parse().unwrap(),
        ];
        let f = mldv2_report([2, 0, 0, 0, 0, 1], src, &groups);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 0x16]);
        assert_eq!(f[14 + 6], 0, "hop-by-hop");
        assert_eq!(f[14 + 7], 1, "hop limit 1");
        assert_eq!(&f[54..58], &[58, 0, 5, 2], "router alert");
        let mld = &f[62..];
        assert_eq!(mld[0], 143);
        assert_eq!(mld.len(), 8 + 2 * 20);
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
        assert_eq!(dst, MLDV2_ROUTERS);
        assert_eq!(icmpv6_checksum(&src, &dst, mld), 0);
    }

    #[test]
    fn report_checksums_verify() {
        let f = igmpv3_report(
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(198, 18, 0, 1),
            &[Ipv4Addr::new(239, 1, 2, 3), Ipv4Addr::new(239, 9, 9, 9)],
        );
        assert_eq!(&f[..6], &[0x01, 0x00, 0x5e, 0, 0, 22]);
        assert_eq!(f[14 + 9], 2, "IGMP");
        assert_eq!(inet_checksum(0, &f[14..38]), 0, "IP header");
        assert_eq!(inet_checksum(0, &f[38..]), 0, "IGMP");
        assert_eq!(f.len(), 14 + 24 + 8 + 16);
    }
}
