//! Bad input: every refusal names the problem and leaves the host exactly as it was.

use bondxdp_tests::Netns;

/// A namespace with three veths (m0..m2) and what it looked like before the test.
struct Host {
    ns: Netns,
    before: Vec<bondxdp_tests::netns::LinkState>,
}

impl Host {
    fn new(tag: &str) -> Host {
        let ns = Netns::new(tag);
        for i in 0..3 {
            ns.ip(&[
                "link",
                "add",
                &format!("m{i}"),
                "type",
                "veth",
                "peer",
                "name",
                &format!("p{i}"),
            ]);
        }
        let before = ns.links();
        Host { ns, before }
    }

    /// Runs bondxdp, expects failure with `needle` in the message, and an unchanged host.
    fn refuses(&self, args: &[&str], needle: &str) {
        self.refuses_with(self.ns.bondxdp(args), args, needle);
    }

    fn refuses_with(&self, out: std::process::Output, args: &[&str], needle: &str) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in {stderr:?}"
        );
        assert_eq!(self.ns.links(), self.before, "{args:?} changed the host");
        assert!(
            !self.ns.pin_dir().join("bond1").exists(),
            "{args:?} left pins"
        );
        let dir = self.ns.pin_dir();
        assert!(
            !dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_some(),
            "{args:?} left an empty {}",
            dir.display()
        );
    }
}

/// A private BPF filesystem mounted world-writable and sticky like /sys/fs/bpf, unmounted on
/// drop.
struct PrivateBpffs {
    path: std::path::PathBuf,
}

impl PrivateBpffs {
    fn new(tag: &str) -> PrivateBpffs {
        let path = std::env::temp_dir().join(format!("bxt-bpffs-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(args[0])
                .args(&args[1..])
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        run(&["mount", "-t", "bpf", "bpf", path.to_str().unwrap()]);
        run(&["chmod", "1777", path.to_str().unwrap()]);
        PrivateBpffs { path }
    }

    /// Runs `args` as the unprivileged user nobody.
    fn as_nobody(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for PrivateBpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .output();
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[test]
fn invalid_arguments_are_refused_without_changes() {
    let h = Host::new("bad");
    let cases: &[(&[&str], &str)] = &[
        (
            &["up", "bond1", "--mode", "balance-rr", "-m", "nosuch0"],
            "\"nosuch0\" does not exist",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "balance-rr",
                "-m",
                "m0",
                "-m",
                "nosuch0",
            ],
            "does not exist",
        ),
        (&["up", "bond1", "--mode", "balance-rr"], "--member"),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "balance-rr",
                "-m",
                "m0",
                "-m",
                "m0",
            ],
            "given twice",
        ),
        (
            &["up", "bond1", "--mode", "balance-rr", "-m", "lo"],
            "loopback",
        ),
        (
            &["up", "bond1", "--mode", "9", "-m", "m0"],
            "invalid mode: \"9\"",
        ),
        (
            &["up", "bond1", "--mode", "fastest", "-m", "m0"],
            "expected one of",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "2",
                "--xmit-hash-policy",
                "layer9",
                "-m",
                "m0",
            ],
            "xmit_hash_policy",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "0",
                "--packets-per-slave",
                "70000",
                "-m",
                "m0",
            ],
            "out of range",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "0",
                "--packets-per-slave",
                "-1",
                "-m",
                "m0",
            ],
            "unexpected argument '-1'",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "1",
                "--primary",
                "m2",
                "-m",
                "m0",
                "-m",
                "m1",
            ],
            "not one of the members",
        ),
        (
            &["up", "bond1", "--mode", "0", "--primary", "m0", "-m", "m0"],
            "only meaningful in active-backup",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "0",
                "--mac",
                "zz:00:00:00:00:01",
                "-m",
                "m0",
            ],
            "aa:bb:cc:dd:ee:ff",
        ),
        (
            &[
                "up",
                "bond1",
                "--mode",
                "0",
                "--mac",
                "01:00:5e:00:00:01",
                "-m",
                "m0",
            ],
            "not a unicast",
        ),
        (
            &["up", "this-name-is-too-long", "--mode", "0", "-m", "m0"],
            "longer than 15",
        ),
        (
            &["up", "m1", "--mode", "0", "-m", "m0"],
            "\"m1\" already exists",
        ),
        (
            &["up", "bond1", "--mode", "0", "-m", "bond1"],
            "member of itself",
        ),
        (&["down", "bond1"], "not a bondxdp bond"),
        (&["down", "m0"], "not a bondxdp bond"),
        (&["status", "bond1"], "not a bondxdp bond"),
    ];
    for (args, needle) in cases {
        h.refuses(args, needle);
    }
}

#[test]
fn members_already_in_a_bond_or_enslaved_elsewhere_are_refused() {
    let h = Host::new("busy");
    h.ns.bondxdp_ok(&[
        "up",
        "bond0",
        "--mode",
        "balance-rr",
        "-m",
        "m0",
        "-m",
        "m1",
    ]);
    let before = h.ns.links();
    let check = |args: &[&str], needle: &str| {
        let out = h.ns.bondxdp(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in {stderr:?}"
        );
        assert_eq!(h.ns.links(), before, "{args:?} changed the host");
        assert!(!h.ns.pin_dir().join("bond1").exists());
    };
    check(
        &["up", "bond1", "--mode", "0", "-m", "m2", "-m", "m1"],
        "m1 is already a member of bond bond0",
    );
    check(
        &["up", "bond1", "--mode", "0", "-m", "bond0"],
        "is a bondxdp bond itself",
    );
    check(
        &["up", "bond0", "--mode", "0", "-m", "m2"],
        "\"bond0\" already exists",
    );
    // A member enslaved to a bridge.
    h.ns.ip(&["link", "add", "br0", "type", "bridge"]);
    h.ns.ip(&["link", "set", "p2", "master", "br0"]);
    let before = h.ns.links();
    let out = h.ns.bondxdp(&["up", "bond1", "--mode", "0", "-m", "p2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("p2 already has a master (br0)"));
    assert_eq!(h.ns.links(), before);
}

#[test]
fn missing_privileges_bpf_or_bpffs_are_refused() {
    let h = Host::new("priv");
    let bin = bondxdp_tests::bondxdp_bin();
    let exec = |prefix: &[&str], env: Option<(&str, &str)>| {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", h.ns.name()])
            .args(prefix)
            .arg(&bin);
        c.args(["up", "bond1", "--mode", "0", "-m", "m0"]);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let args = ["up", "bond1"];
    // Not root.
    h.refuses_with(
        exec(
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            None,
        ),
        &args,
        "must run as root",
    );
    // Root, but no CAP_BPF/CAP_SYS_ADMIN: bpf() is not available.
    h.refuses_with(
        exec(
            &[
                "setpriv",
                "--inh-caps=-bpf,-sys_admin",
                "--bounding-set=-bpf,-sys_admin",
            ],
            None,
        ),
        &args,
        "BPF is not available",
    );
    // No BPF filesystem where bondxdp is told to look.
    h.refuses_with(
        exec(&[], Some(("BONDXDP_BPFFS", "/tmp"))),
        &args,
        "no BPF filesystem",
    );
}

/// Issue 18, item 1: bpffs is world-writable and sticky, so an unprivileged user could create
/// bondxdp's directory first (then rename or plant entries in it). bondxdp refuses a
/// directory it does not own or that is a link, creates its own root-owned 0700, and never
/// removes it; a refused `up` leaves no namespace directory.
#[test]
fn pin_directory_taken_by_another_user_is_refused() {
    let h = Host::new("pinown");
    let fs = PrivateBpffs::new("own");
    let root = fs.path.join("bondxdp");
    let root_s = root.to_str().unwrap();
    let bin = bondxdp_tests::bondxdp_bin();
    let up = |fs: &PrivateBpffs, args: &[&str]| {
        std::process::Command::new("ip")
            .args(["netns", "exec", h.ns.name(), &bin])
            .args(args)
            .env("BONDXDP_BPFFS", &fs.path)
            .output()
            .unwrap()
    };
    let args = ["up", "bond1", "--mode", "0", "-m", "m0"];
    // Created first by someone else.
    assert!(fs.as_nobody(&["mkdir", root_s]).status.success());
    h.refuses_with(up(&fs, &args), &args, "owned by uid 65534, not root");
    assert!(fs.as_nobody(&["rmdir", root_s]).status.success());
    // A symbolic link planted in its place.
    assert!(fs.as_nobody(&["ln", "-s", "/tmp", root_s]).status.success());
    h.refuses_with(up(&fs, &args), &args, "symbolic link");
    assert!(fs.as_nobody(&["rm", root_s]).status.success());
    // Made by bondxdp: root's, 0700, nobody can add to it, and it outlives the last bond.
    let out = up(&fs, &args);
    assert!(out.status.success(), "{out:?}");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(&root).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o7777), (0, 0o700));
    let planted = format!("{root_s}/ns1");
    assert!(!fs.as_nobody(&["mkdir", &planted]).status.success());
    let out = up(&fs, &["down", "bond1"]);
    assert!(out.status.success(), "{out:?}");
    assert!(root.is_dir(), "the pin root was removed by the last down");
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "namespace dir left"
    );
    // A refused up (unknown member) leaves no namespace directory behind.
    let bad = ["up", "bond1", "--mode", "0", "-m", "nosuch0"];
    let out = up(&fs, &bad);
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "refused up left a directory"
    );
}
