//! `bondxdp-tun-relay NS_A DEV_A NS_B DEV_B [DELAY_MS]`: the raw-IP "modem" of the
//! multi-wan tests and lab (see `bondxdp_tests::tun`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = bondxdp_tests::tun::relay_main(&args) {
        eprintln!("bondxdp-tun-relay: {e}");
        std::process::exit(1);
    }
}
