//! The option table's value parsers (`bondxdp::options::OPTIONS`): what `bondxdp set KEY=VALUE`,
//! `bondxdp up --KEY VALUE` and config files hand them.
//!
//! Input: byte 0 picks the option, the rest is the value text.
//!
//! Invariants: no panic; a value that is accepted reads back (`get`) as a value that is
//! accepted again and reads back the same (set/get is a fixed point after one round).
#![no_main]

use bondxdp::options::{BondOptions, OPTIONS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    let o = &OPTIONS[pick as usize % OPTIONS.len()];
    let mut opts = BondOptions::default();
    if (o.set)(&mut opts, o.name, value).is_err() {
        return;
    }
    let shown = (o.get)(&opts);
    let mut again = BondOptions::default();
    (o.set)(&mut again, o.name, &shown)
        .unwrap_or_else(|e| panic!("{} = {value:?} shows as {shown:?}, refused: {e}", o.name));
    assert_eq!(
        (o.get)(&again),
        shown,
        "{} = {value:?}: not a fixed point",
        o.name
    );
});
