//! custom mode: a user's selection program (the example crate's, examples/select-program)
//! chooses members by weight, is swapped while traffic flows without losing a packet, and
//! bad programs or bad choices are refused or counted.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bondxdp_tests::{
    Netns, Pair,
    netns::{ADDR_A, ADDR_B},
    traffic::{udp_burst, udp_stream},
};

/// The example object, written out by `bondxdp example-select-program`; removed on drop.
struct Object(PathBuf);

impl Object {
    fn write(ns: &Netns, tag: &str) -> Object {
        let path = std::env::temp_dir().join(format!("bondxdp-{tag}-{}.o", std::process::id()));
        let out = ns.bondxdp_ok(&["example-select-program", path.to_str().unwrap()]);
        assert!(out.contains("weighted_hash"), "{out}");
        Object(path)
    }

    fn with(&self, program: &str) -> String {
        format!("{}:{program}", self.0.display())
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tx_packets(ns: &Netns) -> Vec<u64> {
    ns.status("bond0")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tx_packets"].as_u64().unwrap())
        .collect()
}

fn event(ns: &Netns, name: &str) -> u64 {
    ns.status("bond0")["events"][name].as_u64().unwrap_or(0)
}

/// One datagram from each of `flows` source ports; returns what each member of A sent.
fn flows_from(p: &Pair, first_port: u16, flows: u16) -> Vec<u64> {
    let before = tx_packets(&p.a);
    let dst: SocketAddr = format!("{ADDR_B}:9").parse().unwrap();
    for port in first_port..first_port + flows {
        let src: SocketAddr = format!("{ADDR_A}:{port}").parse().unwrap();
        udp_burst(&p.a, src, dst, 1, 32);
    }
    std::thread::sleep(Duration::from_millis(100));
    tx_packets(&p.a)
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect()
}

#[test]
fn a_selection_program_chooses_by_weight_and_is_swapped_live_without_loss() {
    let p = Pair::new("cmode", 2);
    let obj = Object::write(&p.a, "cmode");
    p.bond_side(
        "a",
        &[
            "--mode",
            "custom",
            "--select-program",
            &obj.with("weighted_hash"),
            "--xmit-hash-policy",
            "layer3+4",
            "--weight",
            "a0=1",
            "--weight",
            "a1=3",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let status = p.a.status("bond0");
    assert_eq!(status["mode"], "custom", "{status}");
    assert!(
        status["select_program"]
            .as_str()
            .unwrap()
            .ends_with(":weighted_hash"),
        "{status}"
    );

    // weighted_hash: flows to members 1:3 (ARP and ping are a handful of packets more).
    let sent = flows_from(&p, 20000, 800);
    let share = sent[1] as f64 / (sent[0] + sent[1]) as f64;
    eprintln!("weighted_hash, weights 1:3, 800 flows: {sent:?}, share {share:.3}");
    assert!((0.69..=0.81).contains(&share), "{sent:?}: share {share:.3}");
    assert_eq!(event(&p.a, "custom_bad_choice"), 0);
    assert_eq!(event(&p.a, "custom_no_program"), 0);

    // Swapped three times while a stream flows: not one datagram lost.
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        format!("{ADDR_A}:7000").parse().unwrap(),
        format!("{ADDR_B}:7001").parse().unwrap(),
        2000,
        Duration::from_millis(1500),
        || {
            for program in ["last_member", "weighted_hash", "last_member"] {
                std::thread::sleep(Duration::from_millis(300));
                p.a.bondxdp_ok(&[
                    "set",
                    "bond0",
                    &format!("select-program={}", obj.with(program)),
                ]);
            }
        },
    );
    eprintln!("stream across three swaps: {report:?}");
    assert!(report.sent > 2000, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");

    // last_member's choices show in the counters: every flow on the last member.
    let sent = flows_from(&p, 21000, 200);
    assert!(sent[0] <= 5 && sent[1] >= 200, "{sent:?}");

    // A program that chooses past the end: the fallback member sends, and it is counted.
    p.a.bondxdp_ok(&[
        "set",
        "bond0",
        &format!("select-program={}", obj.with("out_of_range")),
    ]);
    let before = event(&p.a, "custom_bad_choice");
    let rx_before: u64 = p.b_rx().iter().sum();
    let sent = flows_from(&p, 22000, 100);
    let rx: u64 = p.b_rx().iter().sum::<u64>() - rx_before;
    assert!(event(&p.a, "custom_bad_choice") - before >= 100);
    assert!(rx >= 100, "fallback delivered {rx} of 100");
    assert!(
        sent[0] > 10 && sent[1] > 10,
        "fallback hashes flows: {sent:?}"
    );
}

#[test]
fn bad_selection_programs_are_refused_and_change_nothing() {
    let p = Pair::new("cmbad", 2);
    let obj = Object::write(&p.a, "cmbad");
    let links_before = p.a.links();
    let up = |extra: &[&str]| {
        let mut args = vec!["up", "bond0"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-m", "a0", "-m", "a1"]);
        let out = p.a.bondxdp(&args);
        assert!(!out.status.success(), "{extra:?} was accepted");
        assert!(!p.a.has_link("bond0"), "{extra:?} left a bond behind");
        assert!(
            !p.a.pin_dir().join("bond0").exists(),
            "{extra:?} left its pin directory behind"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let garbage = std::env::temp_dir().join(format!("bondxdp-garbage-{}.o", std::process::id()));
    std::fs::write(&garbage, b"not an ELF object").unwrap();
    let garbage = Object(garbage);
    for (extra, expect) in [
        (vec!["--mode", "custom"], "needs --select-program"),
        (
            vec!["--mode", "custom", "--select-program", "/nonexistent/sel.o"],
            "cannot open /nonexistent/sel.o",
        ),
        (
            vec!["--mode", "custom", "--select-program", &garbage.with("x")],
            "not a loadable eBPF object",
        ),
        (
            vec![
                "--mode",
                "custom",
                "--select-program",
                &obj.0.to_str().unwrap(),
            ],
            "several classifiers",
        ),
        (
            vec!["--mode", "custom", "--select-program", &obj.with("nope")],
            "no tc classifier \"nope\"",
        ),
        (
            vec![
                "--mode",
                "balance-xor",
                "--select-program",
                &obj.with("last_member"),
            ],
            "only meaningful in custom mode",
        ),
    ] {
        let err = up(&extra);
        assert!(err.contains(expect), "{extra:?}: {err}");
    }
    assert_eq!(p.a.links(), links_before, "the members were left changed");
    let left: Vec<_> = std::fs::read_dir(p.a.pin_dir().join("bond0"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "pins left behind: {left:?}");

    // On a running bond, a bad program changes nothing: the old one keeps sending.
    p.bond_side(
        "a",
        &[
            "--mode",
            "custom",
            "--select-program",
            &obj.with("last_member"),
        ],
    );
    p.bond_side("b", &["--mode", "balance-rr"]);
    p.ping_ok();
    let out = p.a.bondxdp(&[
        "set",
        "bond0",
        &format!("select-program={}", garbage.with("x")),
    ]);
    assert!(!out.status.success());
    assert!(
        p.a.status("bond0")["select_program"]
            .as_str()
            .unwrap()
            .ends_with(":last_member")
    );
    let sent = flows_from(&p, 23000, 50);
    assert!(sent[0] <= 3 && sent[1] >= 50, "{sent:?}");

    // Leaving custom mode unloads the program (with a warning); coming back needs one.
    let out = p.a.bondxdp(&["set", "bond0", "mode=balance-rr"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unloaded"));
    assert!(p.a.status("bond0").get("select_program").is_none());
    let out = p.a.bondxdp(&["set", "bond0", "mode=custom"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --select-program"));
    p.ping_ok();
}
