//! The config file (`bondxdp::options::parse_config`): TOML from `bondxdp up --config`
//! and the controller's reload, through every option of the option table.
//!
//! Invariants: no panic; every bond that parses normalizes without panicking, and its
//! options read back (`get`) and set again (`set`) to the same values.
#![no_main]

use bondxdp::options::{BondOptions, OPTIONS, parse_config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = parse_config(text) else {
        return;
    };
    for bond in file.bonds {
        let mut spec = bond.spec;
        let _ = spec.normalize();
        let opts = &spec.options;
        let mut copy = BondOptions::default();
        for o in OPTIONS {
            let value = (o.get)(opts);
            if value.is_empty() {
                continue;
            }
            (o.set)(&mut copy, o.name, &value).unwrap_or_else(|e| {
                panic!("{} = {value:?} read back but not accepted: {e}", o.name)
            });
            assert_eq!((o.get)(&copy), value, "{} changed on the way back", o.name);
        }
    }
});
