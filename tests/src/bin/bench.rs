//! The benchmark runner behind `cargo xtask bench`: runs the sections, prints a markdown
//! table, writes JSON and PNG plots to the output directory. Needs root.

use std::path::PathBuf;

use bondxdp_tests::bench::{self, Machine, Report};

/// The sections, in the order they run.
const SECTIONS: [&str; 9] = [
    "prog",
    "capacity",
    "aggregation",
    "balance",
    "failover",
    "idle",
    "multiwan",
    "forwarding",
    "soak",
];

fn main() {
    let mut quick = false;
    let mut out = PathBuf::from("bench/results");
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            "--only" => {
                let section = args.next().expect("--only SECTION");
                if !SECTIONS.contains(&section.as_str()) {
                    eprintln!(
                        "bench: unknown section {section}; sections: {}",
                        SECTIONS.join(", ")
                    );
                    std::process::exit(2);
                }
                only.push(section);
            }
            "-h" | "--help" => {
                println!(
                    "bench [--quick] [--out DIR] [--only prog|capacity|aggregation|balance|failover|idle|multiwan|forwarding|soak]..."
                );
                return;
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let want = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let mut report = Report {
        machine: Machine::here(),
        quick,
        sections: Vec::new(),
    };
    let mut series = Vec::new();
    if want("prog") {
        eprintln!("== program cost");
        let (trials, repeat) = if quick { (3, 100_000) } else { (7, 1_000_000) };
        report.sections.push(bench::prog_cost::run(trials, repeat));
    }
    if want("capacity") {
        eprintln!("== raw capacity");
        let (trials, secs) = if quick { (1, 2) } else { (7, 3) };
        report.sections.push(bench::capacity::run(trials, secs));
    }
    if want("aggregation") {
        eprintln!("== aggregation on rate-limited links");
        let (trials, secs) = if quick { (1, 3) } else { (3, 8) };
        report.sections.push(bench::aggregation::run(trials, secs));
    }
    if want("balance") {
        eprintln!("== balancing over unequal links");
        let (trials, secs, warmup) = if quick { (1, 3, 2) } else { (3, 8, 3) };
        report
            .sections
            .push(bench::balance::run(trials, secs, warmup));
    }
    if want("forwarding") {
        eprintln!("== forwarding with the XDP fast path");
        let trials = if quick { 1 } else { 5 };
        report.sections.push(bench::forwarding::run(trials, quick));
    }
    if want("failover") {
        eprintln!("== failover");
        let trials = if quick { 2 } else { 5 };
        let (section, timeline) = bench::failover::run(trials);
        report.sections.push(section);
        series.push(timeline);
    }
    if want("idle") {
        eprintln!("== idle controller");
        let (trials, secs) = if quick { (2, 3) } else { (5, 10) };
        report.sections.push(bench::controller::run(trials, secs));
    }
    if want("multiwan") {
        eprintln!("== multi-wan");
        let (trials, secs, detections, repeat) = if quick {
            (1, 3, 2, 100_000)
        } else {
            (3, 6, 5, 1_000_000)
        };
        report
            .sections
            .push(bench::multiwan::run(trials, secs, detections, repeat));
    }
    if want("soak") {
        eprintln!("== soak");
        report
            .sections
            .push(bench::soak::run(if quick { 6 } else { 45 }));
    }
    std::fs::create_dir_all(&out).expect("output directory");
    let md = bench::render_markdown(&report);
    print!("{md}");
    std::fs::write(out.join("results.md"), &md).expect("write results.md");
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&report).expect("json"),
    )
    .expect("write results.json");
    for written in bench::plots::draw(&report, &series, &out) {
        eprintln!("wrote {}", written.display());
    }
}
