//! Port keys from link speed and duplex, laid out as the Linux bonding driver does so that a
//! partner sees the same keys from bondxdp as from a kernel bond:
//!
//! ```text
//!  15            6 5             1 0
//! +---------------+---------------+--------+
//! | user key (10) | speed code (5) | duplex |
//! +---------------+---------------+--------+
//! ```
//!
//! Ports whose keys differ (other speed, half duplex, other user key) never share an
//! aggregator.

/// Bit 0 of a key: the link is full duplex.
pub const KEY_DUPLEX: u16 = 0x0001;
/// Bits 1..5 of a key: the speed code.
pub const KEY_SPEED: u16 = 0x003e;
/// Bits 6..15 of a key: the administrator's key.
pub const KEY_USER: u16 = 0xffc0;
/// The largest user key (10 bits).
pub const MAX_USER_KEY: u16 = KEY_USER >> 6;

/// The speeds with a code, in Mbit/s; the code of `SPEEDS[i]` is `i + 1`.
const SPEEDS: [u32; 17] = [
    1, 10, 100, 1_000, 2_500, 5_000, 10_000, 14_000, 20_000, 25_000, 40_000, 50_000, 56_000,
    100_000, 200_000, 400_000, 800_000,
];

/// The 5-bit code of a link speed in Mbit/s; 0 for a speed without a code (unknown speeds,
/// and the link-down speed 0).
pub fn speed_code(speed_mbps: u32) -> u16 {
    SPEEDS
        .iter()
        .position(|&s| s == speed_mbps)
        .map_or(0, |i| i as u16 + 1)
}

/// The operational key of a port: `user_key` (10 bits, higher bits dropped), the speed code
/// and the duplex bit. A link that is down has speed code 0 and duplex 0.
pub fn port_key(user_key: u16, up: bool, speed_mbps: u32, full_duplex: bool) -> u16 {
    let user = (user_key & MAX_USER_KEY) << 6;
    if !up {
        return user;
    }
    user | (speed_code(speed_mbps) << 1) | u16::from(full_duplex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_the_kernel_lays_them_out() {
        let cases = [
            // (user key, up, speed, full duplex, key)
            (0, true, 1_000, true, 0x0009),
            (0, true, 10_000, true, 0x000f),
            (0, true, 100, false, 0x0006),
            (0, true, 25_000, true, 0x0015),
            (0, true, 800_000, true, 0x0023),
            (0, true, 1, true, 0x0003),
            (0, true, 12_345, true, 0x0001),
            (0, false, 10_000, true, 0x0000),
            (5, true, 1_000, true, 0x0149),
            (0x3ff, false, 0, false, 0xffc0),
            (0x7ff, true, 1_000, true, 0xffc9),
        ];
        for (user, up, speed, fd, key) in cases {
            assert_eq!(
                port_key(user, up, speed, fd),
                key,
                "{user} {up} {speed} {fd}"
            );
        }
        assert_ne!(
            port_key(0, true, 1_000, true),
            port_key(0, true, 10_000, true),
            "different speeds, different keys"
        );
    }
}
