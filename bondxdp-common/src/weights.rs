//! Weighted choice for new flows: a table of [`BUCKETS`] member slots in which every member
//! holds a share of buckets proportional to its weight. The data plane indexes it with a flow
//! hash (no division, one load); userspace rebuilds it when weights or link states change,
//! moving as few buckets as possible, so existing assignments that depend on the table (the
//! flows that are not yet pinned, the sticky hosts) change as little as possible.
//!
//! multi-wan places new flows with it; load-aware and balance-tlb place them by smooth
//! weighted round-robin (`modes::load_aware`) and fall back to it only without their credits.

use crate::types::MAX_MEMBERS;

/// Buckets in a table: a member's share is exact to 1/256 (0.4 %).
pub const BUCKETS: usize = 256;

/// Marks a bucket with no member (no member has a positive weight).
pub const NO_BUCKET: u8 = 0xff;

/// How many buckets each slot gets for `weights` (0: none): proportional, with the largest
/// remainders rounded up so the counts add up to [`BUCKETS`] exactly (ties to the lower slot).
pub fn shares(weights: &[u32; MAX_MEMBERS]) -> [u16; MAX_MEMBERS] {
    let total: u64 = weights.iter().map(|&w| w as u64).sum();
    let mut counts = [0u16; MAX_MEMBERS];
    if total == 0 {
        return counts;
    }
    let mut remainders = [0u64; MAX_MEMBERS];
    let mut given = 0usize;
    for slot in 0..MAX_MEMBERS {
        let exact = weights[slot] as u64 * BUCKETS as u64;
        counts[slot] = (exact / total) as u16;
        remainders[slot] = exact % total;
        given += counts[slot] as usize;
    }
    while given < BUCKETS {
        let mut best = MAX_MEMBERS;
        for slot in 0..MAX_MEMBERS {
            if weights[slot] > 0 && (best == MAX_MEMBERS || remainders[slot] > remainders[best]) {
                best = slot;
            }
        }
        counts[best] += 1;
        remainders[best] = 0;
        given += 1;
    }
    counts
}

/// Rebuilds `table` for `weights`, keeping every bucket whose member still has room in its
/// new share and handing the others out in slot order: the fewest buckets possible move.
/// Returns how many buckets changed hands.
pub fn rebuild(table: &mut [u8; BUCKETS], weights: &[u32; MAX_MEMBERS]) -> usize {
    let want = shares(weights);
    if want.iter().all(|&c| c == 0) {
        let moved = table.iter().filter(|&&b| b != NO_BUCKET).count();
        *table = [NO_BUCKET; BUCKETS];
        return moved;
    }
    let mut have = [0u16; MAX_MEMBERS];
    let mut free = [false; BUCKETS];
    for (i, bucket) in table.iter().enumerate() {
        let slot = *bucket as usize;
        if slot < MAX_MEMBERS && have[slot] < want[slot] {
            have[slot] += 1;
        } else {
            free[i] = true;
        }
    }
    let mut moved = 0;
    let mut next = 0usize;
    for (i, bucket) in table.iter_mut().enumerate() {
        if !free[i] {
            continue;
        }
        while have[next] >= want[next] {
            next += 1;
        }
        *bucket = next as u8;
        have[next] += 1;
        moved += 1;
    }
    moved
}

/// The bucket a flow with hash `hash` uses.
#[inline(always)]
pub const fn bucket_of(hash: u32) -> usize {
    // The high bits: the low ones also pick ports and hosts.
    (hash >> 24) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(w: &[u32]) -> [u32; MAX_MEMBERS] {
        let mut out = [0; MAX_MEMBERS];
        out[..w.len()].copy_from_slice(w);
        out
    }

    fn counts(table: &[u8; BUCKETS]) -> [usize; MAX_MEMBERS] {
        let mut c = [0; MAX_MEMBERS];
        for &b in table {
            if (b as usize) < MAX_MEMBERS {
                c[b as usize] += 1;
            }
        }
        c
    }

    #[test]
    fn shares_are_proportional_and_add_up() {
        assert_eq!(&shares(&weights(&[1, 1]))[..2], &[128, 128]);
        assert_eq!(&shares(&weights(&[1, 3]))[..2], &[64, 192]);
        // 256/3 = 85.33: one slot gets the extra bucket.
        let s = shares(&weights(&[1, 1, 1]));
        assert_eq!(s[..3].iter().sum::<u16>(), 256);
        assert!(s[..3].iter().all(|&c| c == 85 || c == 86));
        assert_eq!(shares(&weights(&[])), [0; MAX_MEMBERS]);
        assert_eq!(&shares(&weights(&[0, 5]))[..2], &[0, 256]);
    }

    #[test]
    fn every_share_is_within_one_percent_of_its_weight() {
        let cases: [&[u32]; 5] = [
            &[1, 2],
            &[1, 3],
            &[100, 250, 650],
            &[7, 11, 13, 17],
            &[1; 16],
        ];
        for w in cases {
            let mut table = [NO_BUCKET; BUCKETS];
            rebuild(&mut table, &weights(w));
            let total: u32 = w.iter().sum();
            let c = counts(&table);
            for (slot, &wt) in w.iter().enumerate() {
                let got = c[slot] as f64 / BUCKETS as f64;
                let want = wt as f64 / total as f64;
                assert!(
                    (got - want).abs() <= 0.01,
                    "weights {w:?}: slot {slot} {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn one_weight_changing_moves_only_what_it_must() {
        let mut table = [NO_BUCKET; BUCKETS];
        rebuild(&mut table, &weights(&[1, 1, 1, 1]));
        let before = table;
        // Slot 3 doubles: it gains 256*2/5 - 64 = 38 buckets (rounded); nothing else moves.
        let moved = rebuild(&mut table, &weights(&[1, 1, 1, 2]));
        let c = counts(&table);
        assert_eq!(moved, c[3] - 64);
        for i in 0..BUCKETS {
            if before[i] != table[i] {
                assert_eq!(table[i], 3, "only buckets moving to slot 3 change");
            }
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_buckets() {
        let mut table = [NO_BUCKET; BUCKETS];
        rebuild(&mut table, &weights(&[1, 1, 1]));
        let before = table;
        let moved = rebuild(&mut table, &weights(&[1, 0, 1]));
        assert_eq!(moved, before.iter().filter(|&&b| b == 1).count());
        for i in 0..BUCKETS {
            if before[i] != 1 {
                assert_eq!(
                    before[i], table[i],
                    "bucket {i} of a remaining member moved"
                );
            }
        }
        assert!(!table.contains(&1));
        // And it coming back takes its share again, from the others only as needed.
        let moved = rebuild(&mut table, &weights(&[1, 1, 1]));
        assert_eq!(counts(&table)[1], moved);
    }

    #[test]
    fn no_weight_no_buckets() {
        let mut table = [0u8; BUCKETS];
        assert_eq!(rebuild(&mut table, &weights(&[0, 0])), BUCKETS);
        assert!(table.iter().all(|&b| b == NO_BUCKET));
    }
}
