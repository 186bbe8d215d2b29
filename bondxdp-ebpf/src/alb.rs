//! balance-alb's data plane: the ARP the host sends is rewritten to carry its client's member
//! MAC and sent through that member; the replies peers send fill in their MACs (the logic is
//! `bondxdp_common::modes::alb`; everything else transmits as balance-tlb).

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, TC_ACT_SHOT},
    helpers::bpf_redirect,
    macros::map,
    maps::{Array, HashMap},
    programs::TcContext,
};
use bondxdp_common::{
    BondConfig, Counter, MAX_MEMBERS,
    modes::{
        TxEnv,
        alb::{self, ARP_SHA_OFFSET, ArpTx, Client, MAX_CLIENTS},
        tlb::Tlb,
    },
    packet::{Bytes, PacketView},
};

use crate::{
    egress, maps,
    skb::{Env, SkbView},
};

/// balance-alb: the client table, by peer IPv4 address (big-endian `u32`); the controller
/// reads it, moves clients between members and clears their `CLIENT_NTT` flags. Not
/// preallocated: entries take memory only as balance-alb learns clients (none in other modes).
#[map]
pub static ALB_CLIENTS: HashMap<u32, Client> =
    HashMap::with_max_entries(MAX_CLIENTS, BPF_F_NO_PREALLOC);

/// balance-alb: the round-robin counter that deals new clients out over the members (one for
/// the bond, shared by every CPU, as the kernel's `rlb_next_rx_slave`).
#[map]
static ALB_NEXT: Array<u64> = Array::with_max_entries(1, 0);

/// The next value of [`ALB_NEXT`]: a plain read, then the instruction set's atomic add (the
/// target has no fetch-and-add LLVM selects); two CPUs may read the same value at the same
/// moment, which only puts two new clients on one member.
#[inline(always)]
fn next_client() -> u32 {
    match ALB_NEXT.get_ptr_mut(0) {
        // SAFETY: a map value pointer, valid and 8-byte aligned for this program run; the
        // instruction only adds to the location.
        Some(p) => unsafe {
            let v = core::ptr::read_volatile(p);
            core::arch::asm!(
                "lock *(u64 *)({p} + 0) += {d}",
                p = in(reg) p,
                d = in(reg) 1u64,
                options(nostack)
            );
            v as u32
        },
        None => 0,
    }
}

/// Entry point: every packet the stack sends through a balance-alb bond.
#[inline(always)]
pub fn egress(ctx: &TcContext) -> i32 {
    // SAFETY: reading a __sk_buff field.
    let proto = u16::from_be(unsafe { (*ctx.skb.skb).protocol } as u16);
    if proto == alb::ETH_P_ARP
        && let Some(cfg) = maps::config()
        && let Some(verdict) = arp_out(ctx, cfg)
    {
        return verdict;
    }
    egress::bond_egress::<Tlb>(ctx)
}

/// An ARP packet the host sends: `Some(verdict)` when it was sent through its client's member.
#[inline(always)]
fn arp_out(ctx: &TcContext, cfg: &BondConfig) -> Option<i32> {
    let pkt = SkbView::new(ctx);
    let arp = alb::parse_arp(&pkt)?;
    let w = pkt.window(0, 6)?;
    let dst = [
        w.u8::<0>(),
        w.u8::<1>(),
        w.u8::<2>(),
        w.u8::<3>(),
        w.u8::<4>(),
        w.u8::<5>(),
    ];
    let key = u32::from_be_bytes(arp.tpa);
    // A copy of the entry, taken at once; a default one (never read) when there is none, so no
    // uninitialised bytes travel through registers (the verifier refuses to read them).
    // SAFETY: a map value read once, under RCU.
    let (found, entry) = match unsafe { ALB_CLIENTS.get(key) } {
        Some(c) => (true, *c),
        None => (false, Client::default()),
    };
    let existing = if found { Some(&entry) } else { None };
    // The shared counter moves only for a new assignment, so peers are dealt out in turn.
    let keeps = found && alb::transmitting(cfg, entry.slot);
    let rr = if keeps { 0 } else { next_client() };
    let now = Env.now_ns();
    match alb::plan_arp_tx(cfg, &arp, dst, existing, rr, now) {
        ArpTx::Unchanged => None,
        ArpTx::Request { key, client } => {
            maps::count(Counter::RlbArpRequest);
            if !found {
                let _ = ALB_CLIENTS.insert(key, client, 0);
            }
            None
        }
        ArpTx::Rewrite { key, client } => {
            let member = cfg.members[client.slot as usize & (MAX_MEMBERS - 1)];
            if member.ifindex == 0 {
                return None;
            }
            if ctx.store(6, &member.mac, 0).is_err()
                || ctx.store(ARP_SHA_OFFSET, &member.mac, 0).is_err()
            {
                maps::count(Counter::DropRewriteFailed);
                return Some(TC_ACT_SHOT);
            }
            if !found || entry != client {
                let _ = ALB_CLIENTS.insert(key, client, 0);
            }
            maps::count(Counter::RlbArpRewritten);
            maps::count_tx(client.slot as u32, ctx.len());
            // SAFETY: plain helper call.
            Some(unsafe { bpf_redirect(member.ifindex, 0) as i32 })
        }
    }
}

/// A frame a member received: a peer's ARP reply fills in (or changes) its client's MAC.
#[inline(always)]
pub fn learn(ctx: &TcContext) {
    let pkt = SkbView::new(ctx);
    let Some(arp) = alb::parse_arp(&pkt) else {
        return;
    };
    let key = u32::from_be_bytes(arp.spa);
    // SAFETY: a copy of the value, taken at once.
    let Some(existing) = (unsafe { ALB_CLIENTS.get(key) }).copied() else {
        return;
    };
    if let Some(client) = alb::learn(&existing, &arp, Env.now_ns()) {
        let _ = ALB_CLIENTS.insert(key, client, 0);
    }
}
