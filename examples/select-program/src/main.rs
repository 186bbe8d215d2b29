//! Selection programs for bondxdp's custom mode: how to write one in Rust.
//!
//! A selection program is a tc classifier that declares the two maps of the contract under
//! their names (bondxdp hands it the bond's own copies when it loads the object):
//! `SELECT_CTX`, where it reads the packet's [`SelectContext`] and writes its choice, and
//! `SELECT_PROGS`, through which it tail-calls bondxdp's `custom_finish` when done. The
//! choice is an index into `members` below `member_count`; bondxdp checks it, and sends
//! anything else through a fallback member (counted as `custom_bad_choice`).
//!
//! Build: `cargo build --release` of this crate for bpfel-unknown-none (bondxdp's build does
//! it; the object is embedded in bondxdp too, see `bondxdp example-select-program`). Use:
//! `bondxdp up bond0 --mode custom --select-program FILE.o:weighted_hash --member ...`.
//!
//! * [`weighted_hash`]: the example mode: every flow goes to one member, members get flows in
//!   proportion to their weights (`--weight IF=N`, or the controller's from `--speed`).
//! * [`last_member`], [`out_of_range`]: two more, used by bondxdp's tests (a live swap and
//!   a refused choice).
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::TC_ACT_SHOT,
    macros::{classifier, map},
    maps::{PerCpuArray, ProgramArray},
    programs::TcContext,
};
use bondxdp_common::modes::custom::{FINISH_SLOT, SELECT_PROGS_LEN, SelectContext};

/// The packet's context, filled by bondxdp; write the choice here.
#[map]
static SELECT_CTX: PerCpuArray<SelectContext> = PerCpuArray::with_max_entries(1, 0);

/// bondxdp's program array; slot `FINISH_SLOT` sends the packet where `choice` says.
#[map]
static SELECT_PROGS: ProgramArray = ProgramArray::with_max_entries(SELECT_PROGS_LEN, 0);

/// Runs `choose` on this packet's context, stores its answer and hands the packet back to
/// bondxdp. Every selection program ends this way.
#[inline(always)]
fn select(ctx: &TcContext, choose: impl FnOnce(&SelectContext) -> u32) -> i32 {
    let Some(sel) = SELECT_CTX.get_ptr_mut(0) else {
        return TC_ACT_SHOT;
    };
    // SAFETY: this CPU's entry; bondxdp filled it just before calling us.
    let sel = unsafe { &mut *sel };
    sel.choice = choose(sel);
    // SAFETY: a tail call; it does not return when it succeeds.
    unsafe { SELECT_PROGS.tail_call(ctx, FINISH_SLOT) };
    // Only if bondxdp's half is missing (never, while the bond exists).
    TC_ACT_SHOT
}

/// Weighted flow hash: the flow hash modulo the sum of the weights lands in one member's
/// share. A flow keeps its member while the weights stay; a member with weight 3
/// gets three times the flows of one with weight 1.
#[classifier]
pub fn weighted_hash(ctx: TcContext) -> i32 {
    select(&ctx, |sel| {
        if sel.weight_sum == 0 {
            // No weights: plain hash over the members.
            return if sel.member_count == 0 {
                0
            } else {
                sel.flow_hash % sel.member_count
            };
        }
        // The hash's position in [0, weight_sum). Modulo, not scaling: the kernel's hash
        // varies in its low bits (ports), its high bits are the addresses'.
        let point = sel.flow_hash % sel.weight_sum;
        let mut acc = 0u32;
        for (i, member) in sel.members.iter().enumerate() {
            if i as u32 >= sel.member_count {
                break;
            }
            acc += member.weight;
            if point < acc {
                return i as u32;
            }
        }
        0
    })
}

/// Test fixture: always the last eligible member.
#[classifier]
pub fn last_member(ctx: TcContext) -> i32 {
    select(&ctx, |sel| sel.member_count.wrapping_sub(1))
}

/// Test fixture: a choice past the end (bondxdp sends through the fallback member and counts
/// `custom_bad_choice`).
#[classifier]
pub fn out_of_range(ctx: TcContext) -> i32 {
    select(&ctx, |sel| sel.member_count)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
