//! Division without a divide instruction: the kernel's `reciprocal_value`/`reciprocal_divide`
//! (lib/math/reciprocal_div.c), exact for every `u32` dividend. Userspace computes the
//! reciprocal of a divisor once (when the configuration changes); the data plane then turns
//! `a / d` and `a % d` into a multiply and two shifts, several times cheaper per packet than
//! a 32-bit `div`.

/// Precomputed reciprocal of a divisor `d` (> 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reciprocal {
    /// Multiplier.
    pub m: u32,
    /// First shift (0 or 1).
    pub sh1: u8,
    /// Second shift.
    pub sh2: u8,
    /// Padding; zero.
    pub pad: [u8; 2],
}

impl Reciprocal {
    /// The reciprocal of `d`; `d = 0` gives the zero value, which callers must not use.
    pub const fn new(d: u32) -> Reciprocal {
        if d == 0 {
            return Reciprocal {
                m: 0,
                sh1: 0,
                sh2: 0,
                pad: [0; 2],
            };
        }
        // l = fls(d - 1): the number of bits needed for d - 1.
        let l = 32 - (d - 1).leading_zeros();
        let m = ((1u64 << 32) * ((1u64 << l) - d as u64)) / d as u64 + 1;
        Reciprocal {
            m: m as u32,
            sh1: if l < 1 { l as u8 } else { 1 },
            sh2: if l >= 1 { (l - 1) as u8 } else { 0 },
            pad: [0; 2],
        }
    }

    /// `a / d`.
    #[inline(always)]
    pub const fn divide(&self, a: u32) -> u32 {
        let t = ((a as u64 * self.m as u64) >> 32) as u32;
        (t + ((a - t) >> (self.sh1 & 31))) >> (self.sh2 & 31)
    }

    /// `a % d`, given `d` itself.
    #[inline(always)]
    pub const fn remainder(&self, a: u32, d: u32) -> u32 {
        a - self.divide(a).wrapping_mul(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_edge_and_many_values() {
        let mut x: u32 = 0x1234_5678;
        for d in (1..=64).chain([255, 256, 1000, 65535, 65536, u32::MAX - 1, u32::MAX]) {
            let r = Reciprocal::new(d);
            for a in [
                0,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u32::MAX,
                u32::MAX - 1,
                u32::MAX / 2,
            ] {
                assert_eq!(r.divide(a), a / d, "{a} / {d}");
                assert_eq!(r.remainder(a, d), a % d, "{a} % {d}");
            }
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                assert_eq!(r.divide(x), x / d, "{x} / {d}");
                assert_eq!(r.remainder(x, d), x % d, "{x} % {d}");
            }
        }
    }
}
