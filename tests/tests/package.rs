//! The Debian package (`cargo xtask dist`), installed on this machine as a user would: dpkg
//! installs it, the installed binary runs and brings a bond up and down in a namespace, the
//! unit passes `systemd-analyze verify`, and `dpkg -r` then `dpkg -P` leave nothing behind.
//!
//! The package is `BONDXDP_DEB` (`cargo xtask test` builds it first) or, run alone, built
//! here with `cargo xtask dist`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use bondxdp_tests::{Pair, eventually};

const PACKAGE: &str = "bondxdp";

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn sh_ok(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed() -> bool {
    sh(&["dpkg-query", "-W", "-f=${Status}", PACKAGE])
        .stdout
        .starts_with(b"install ok installed")
}

/// The package to test.
fn deb() -> PathBuf {
    if let Some(deb) = std::env::var_os("BONDXDP_DEB") {
        return PathBuf::from(deb);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["xtask", "dist"])
        .output()
        .expect("cargo xtask dist");
    assert!(
        out.status.success(),
        "cargo xtask dist: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("the package's path").trim())
}

/// Purges the package when the test ends, however it ends, so the machine is left as found.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = sh(&["dpkg", "--purge", PACKAGE]);
    }
}

#[test]
fn the_package_installs_runs_and_removes_cleanly() {
    assert!(
        !installed() && !Path::new("/usr/bin/bondxdp").exists(),
        "bondxdp is already installed on this machine; the test would remove it"
    );
    let deb = deb();
    let info = sh_ok(&["dpkg-deb", "--field", deb.to_str().unwrap(), "Depends"]);
    // Only what the binary needs at run time: no compiler, LLVM or libbpf.
    for dep in info.split(',') {
        let name = dep.split_whitespace().next().unwrap_or("");
        assert!(
            ["libc6", "libgcc-s1"].contains(&name),
            "unexpected run-time dependency {dep:?} in {info:?}"
        );
    }
    let _purge = Purge;
    sh_ok(&["dpkg", "--install", deb.to_str().unwrap()]);
    assert!(installed());
    let files: Vec<String> = sh_ok(&["dpkg-query", "-L", PACKAGE])
        .lines()
        .map(str::to_string)
        .collect();
    for want in [
        "/usr/bin/bondxdp",
        "/usr/lib/systemd/system/bondxdp.service",
        "/etc/bondxdp/bondxdp.toml",
        "/usr/share/man/man8/bondxdp.8.gz",
        "/usr/share/man/man8/bondxdp-up.8.gz",
        "/usr/share/bash-completion/completions/bondxdp",
        "/usr/share/zsh/vendor-completions/_bondxdp",
        "/usr/share/fish/vendor_completions.d/bondxdp.fish",
        "/usr/share/doc/bondxdp/examples/bondxdp.toml",
    ] {
        assert!(files.iter().any(|f| f == want), "{want} not in {files:?}");
        assert!(Path::new(want).exists(), "{want} not installed");
    }
    let conffiles = sh_ok(&["dpkg-query", "-W", "-f=${Conffiles}", PACKAGE]);
    assert!(
        conffiles.contains("/etc/bondxdp/bondxdp.toml"),
        "the configuration is a conffile: {conffiles:?}"
    );
    let version = sh_ok(&["/usr/bin/bondxdp", "--version"]);
    assert_eq!(
        version.trim(),
        format!("bondxdp {}", env!("CARGO_PKG_VERSION"))
    );
    let man = sh_ok(&[
        "man",
        "-P",
        "cat",
        "-l",
        "/usr/share/man/man8/bondxdp-up.8.gz",
    ]);
    assert!(
        man.contains("--fail-over-mac"),
        "the man page documents up's options"
    );

    // The installed unit is valid (and verify does reject a broken one).
    sh_ok(&[
        "systemd-analyze",
        "verify",
        "/usr/lib/systemd/system/bondxdp.service",
    ]);
    let dir = std::env::temp_dir().join(format!("bondxdp-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("bondxdp.service");
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/bondxdp.service").unwrap();
    std::fs::write(
        &broken,
        unit.replace(
            "ExecStart=/usr/bin/bondxdp",
            "ExecStart=/usr/bin/bondxdp-missing",
        ),
    )
    .unwrap();
    assert!(
        !sh(&["systemd-analyze", "verify", broken.to_str().unwrap()])
            .status
            .success(),
        "systemd-analyze verify accepts a unit whose binary is missing"
    );
    let _ = std::fs::remove_dir_all(&dir);
    // The installed configuration bonds nothing until the user edits it.
    let config = std::fs::read_to_string("/etc/bondxdp/bondxdp.toml").unwrap();
    assert!(
        config.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "the packaged configuration is all comments"
    );

    // The installed binary (eBPF objects embedded) runs a bond.
    let p = Pair::new("pkg", 2);
    let out = p.a.exec(&[
        "/usr/bin/bondxdp",
        "up",
        "bond0",
        "--mode",
        "balance-rr",
        "-m",
        "a0",
        "-m",
        "a1",
    ]);
    assert!(out.status.success(), "installed up: {out:?}");
    p.a.ip(&["addr", "add", "198.18.0.1/24", "dev", "bond0"]);
    p.bond_side("b", &["--mode", "balance-rr"]);
    p.ping_ok();
    let out = p.a.exec(&["/usr/bin/bondxdp", "down", "bond0"]);
    assert!(out.status.success(), "installed down: {out:?}");
    assert!(eventually(2000, || !p.a.has_link("bond0")));

    // Removed: the binary and everything but the conffile go; purged: that goes too.
    sh_ok(&["dpkg", "--remove", PACKAGE]);
    assert!(!Path::new("/usr/bin/bondxdp").exists());
    assert!(
        Path::new("/etc/bondxdp/bondxdp.toml").exists(),
        "remove keeps conffiles"
    );
    sh_ok(&["dpkg", "--purge", PACKAGE]);
    assert!(!installed());
    let left: Vec<&String> = files
        .iter()
        .filter(|f| f.contains("bondxdp") && Path::new(f).exists())
        .collect();
    assert!(left.is_empty(), "left behind after purge: {left:?}");
    assert!(
        !Path::new("/etc/bondxdp").exists(),
        "/etc/bondxdp left behind"
    );
}
