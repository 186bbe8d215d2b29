//! The pinned toolchains and the one pairing that breaks eBPF builds.
//!
//! Every compiler the build uses is named once in the repository: the userspace Rust in the
//! root `rust-toolchain.toml`, and the eBPF Rust, bpf-linker and LLVM in the root
//! `Cargo.toml` under `[workspace.metadata.toolchain]`. This file reads them, and checks what
//! broke new machines before: bpf-linker reads the bitcode rustc writes, so the eBPF rustc's
//! LLVM major must not be newer than the LLVM bpf-linker was built against (an LLVM-22 linker
//! on LLVM-23 output fails with "Invalid record" from deep inside the build).
//!
//! Shared word for word by `cargo xtask setup` and `bondxdp/build.rs` (which includes this file
//! with `#[path]`), so a plain `cargo build` checks the same things setup does. It therefore
//! depends on nothing but `std` and `toml`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pins of `[workspace.metadata.toolchain]` (and the userspace Rust of
/// `rust-toolchain.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    /// Rust that builds userspace (`rust-toolchain.toml`'s `channel`).
    pub userspace_rust: String,
    /// Rust that builds the eBPF objects, passed to aya-build (`rustup run <this>`).
    pub ebpf_rust: String,
    /// bpf-linker's exact version.
    pub bpf_linker: String,
    /// LLVM major bpf-linker is built against: Debian's `llvm-<N>-dev`, the crate feature
    /// `llvm-<N>`, the prefix `/usr/lib/llvm-<N>`.
    pub llvm: u32,
    /// cargo-deb's exact version (`cargo xtask dist`).
    pub cargo_deb: String,
}

impl Pins {
    /// Reads the pins from the workspace at `root`.
    pub fn load(root: &Path) -> Result<Pins, String> {
        let read = |name: &str| {
            let path = root.join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))
                .and_then(|text| {
                    text.parse::<toml::Table>()
                        .map_err(|e| format!("parsing {}: {e}", path.display()))
                })
        };
        Pins::from_tables(&read("rust-toolchain.toml")?, &read("Cargo.toml")?)
    }

    /// The pins from the parsed `rust-toolchain.toml` and root `Cargo.toml`.
    pub fn from_tables(
        toolchain_file: &toml::Table,
        manifest: &toml::Table,
    ) -> Result<Pins, String> {
        let userspace_rust = toolchain_file
            .get("toolchain")
            .and_then(|t| t.get("channel"))
            .and_then(|c| c.as_str())
            .ok_or("rust-toolchain.toml: no [toolchain] channel")?
            .to_string();
        let meta = manifest
            .get("workspace")
            .and_then(|w| w.get("metadata"))
            .and_then(|m| m.get("toolchain"))
            .ok_or("Cargo.toml: no [workspace.metadata.toolchain]")?;
        let text = |key: &str| {
            meta.get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or(format!("[workspace.metadata.toolchain]: no string `{key}`"))
        };
        let llvm = meta
            .get("llvm")
            .and_then(|v| v.as_integer())
            .and_then(|v| u32::try_from(v).ok())
            .ok_or("[workspace.metadata.toolchain]: no integer `llvm`")?;
        let pins = Pins {
            userspace_rust,
            ebpf_rust: text("ebpf-rust")?,
            bpf_linker: text("bpf-linker")?,
            llvm,
            cargo_deb: text("cargo-deb")?,
        };
        for (what, toolchain) in [
            ("rust-toolchain.toml channel", &pins.userspace_rust),
            ("ebpf-rust", &pins.ebpf_rust),
        ] {
            if !is_exact_version(toolchain) {
                return Err(format!(
                    "{what} is {toolchain:?}: pin an exact release (\"1.98.0\"), never a \
                     channel that moves"
                ));
            }
        }
        for (what, version) in [
            ("bpf-linker", &pins.bpf_linker),
            ("cargo-deb", &pins.cargo_deb),
        ] {
            if !is_exact_version(version) {
                return Err(format!(
                    "{what} is {version:?}: pin an exact version (\"0.13.0\")"
                ));
            }
        }
        Ok(pins)
    }

    /// Debian's package with the LLVM bpf-linker links against.
    pub fn llvm_package(&self) -> String {
        format!("llvm-{}-dev", self.llvm)
    }

    /// Where Debian installs that LLVM (bpf-linker's `LLVM_PREFIX`).
    pub fn llvm_prefix(&self) -> String {
        format!("/usr/lib/llvm-{}", self.llvm)
    }

    /// The command that installs the pinned bpf-linker (what setup runs).
    pub fn bpf_linker_install_command(&self) -> String {
        format!(
            "LLVM_PREFIX={prefix} PATH={prefix}/bin:$PATH cargo install bpf-linker --force \
             --version ={version} --no-default-features --features llvm-{llvm}",
            prefix = self.llvm_prefix(),
            version = self.bpf_linker,
            llvm = self.llvm,
        )
    }
}

/// Whether `v` is one exact release, `MAJOR.MINOR.PATCH`, all digits: the only form a pin may
/// take (a channel such as `stable` or `1.98` moves; the eBPF Rust is an exact stable built
/// with `RUSTC_BOOTSTRAP=1`).
pub fn is_exact_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The LLVM major of `rustc -vV` output (its line `LLVM version: 22.1.8`).
pub fn rustc_llvm_major(rustc_vv: &str) -> Option<u32> {
    rustc_vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version:"))
        .and_then(|v| v.trim().split('.').next()?.parse().ok())
}

/// The LLVM major a dynamically linked bpf-linker needs, from `readelf -d` output
/// (`Shared library: [libLLVM.so.22.1]`, or `[libLLVM-22.so]` as older LLVMs named it).
pub fn needed_llvm_major(readelf_d: &str) -> Option<u32> {
    readelf_d.lines().find_map(|l| {
        let lib = l.split_once("[libLLVM")?.1;
        let digits: String = lib
            .trim_start_matches(['.', '-'])
            .trim_start_matches("so.")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// Checks that bpf-linker (built against LLVM `linker_llvm`) can read what the eBPF rustc
/// (LLVM `rustc_llvm`) writes. The error names both and says how to fix it.
pub fn check_pairing(pins: &Pins, rustc_llvm: u32, linker_llvm: u32) -> Result<(), String> {
    if rustc_llvm <= linker_llvm {
        return Ok(());
    }
    Err(format!(
        "the eBPF toolchain {tc} uses LLVM {rustc_llvm}, newer than the LLVM {linker_llvm} \
         bpf-linker was built against: bpf-linker cannot read its output (\"Invalid record\").\n\
         Either pin an eBPF Rust whose LLVM is at most {linker_llvm} (`ebpf-rust` in \
         Cargo.toml's [workspace.metadata.toolchain]; `rustup run TOOLCHAIN rustc -vV` shows its \
         LLVM), or move `llvm` to {rustc_llvm} and rebuild the linker:\n  {install}",
        tc = pins.ebpf_rust,
        install = Pins {
            llvm: rustc_llvm,
            ..pins.clone()
        }
        .bpf_linker_install_command(),
    ))
}

/// What was found of a bpf-linker executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linker {
    /// Where it is.
    pub path: PathBuf,
    /// Its version (`bpf-linker --version`'s second word).
    pub version: String,
    /// The LLVM major it links against, when it is linked dynamically.
    pub llvm: Option<u32>,
}

impl Linker {
    /// Inspects the bpf-linker at `path` (`None` if it does not run).
    pub fn inspect(path: &Path) -> Option<Linker> {
        let out = Command::new(path).arg("--version").output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.split_whitespace().nth(1)?.to_string();
        let llvm = Command::new("readelf")
            .arg("-d")
            .arg(path)
            .output()
            .ok()
            .and_then(|o| needed_llvm_major(&String::from_utf8_lossy(&o.stdout)));
        Some(Linker {
            path: path.to_path_buf(),
            version,
            llvm,
        })
    }

    /// Why this linker is not the pinned one (`None` if it is).
    pub fn mismatch(&self, pins: &Pins) -> Option<String> {
        if self.version != pins.bpf_linker {
            return Some(format!(
                "{} is bpf-linker {}, not the pinned {}",
                self.path.display(),
                self.version,
                pins.bpf_linker
            ));
        }
        match self.llvm {
            Some(llvm) if llvm == pins.llvm => None,
            Some(llvm) => Some(format!(
                "{} is built against LLVM {llvm}, not the pinned LLVM {}",
                self.path.display(),
                pins.llvm
            )),
            None => Some(format!(
                "{} does not link a shared libLLVM: its LLVM cannot be checked",
                self.path.display()
            )),
        }
    }
}

/// Where `cargo install` puts bpf-linker: `$CARGO_HOME/bin` (`~/.cargo/bin` by default).
pub fn cargo_bin_dir(cargo_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match (cargo_home, home) {
        (Some(c), _) if !c.is_empty() => Some(Path::new(c).join("bin")),
        (_, Some(h)) if !h.is_empty() => Some(Path::new(h).join(".cargo/bin")),
        _ => None,
    }
}

/// The first executable called `name` on a `PATH`-style list.
pub fn find_on_path(name: &str, path: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The LLVM major of the pinned eBPF rustc: runs `rustup run <ebpf-rust> rustc -vV` with
/// `rustup` (a `Command` for it, set up with the environment to ask in).
pub fn ebpf_rustc_llvm(pins: &Pins, mut rustup: Command) -> Result<u32, String> {
    let out = rustup
        .args(["run", &pins.ebpf_rust, "rustc", "-vV"])
        .env_remove("RUSTC")
        .output()
        .map_err(|e| format!("running rustup: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the eBPF toolchain {} is not installed (run `cargo xtask setup`, or `rustup \
             toolchain install {} --profile minimal -c rust-src --no-self-update`): {}",
            pins.ebpf_rust,
            pins.ebpf_rust,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    rustc_llvm_major(&String::from_utf8_lossy(&out.stdout)).ok_or(format!(
        "`rustup run {} rustc -vV` names no LLVM version",
        pins.ebpf_rust
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(ebpf_rust: &str, llvm: u32) -> Pins {
        Pins {
            userspace_rust: "1.98.0".into(),
            ebpf_rust: ebpf_rust.into(),
            bpf_linker: "0.13.0".into(),
            llvm,
            cargo_deb: "3.8.0".into(),
        }
    }

    fn tables(channel: &str, ebpf: &str, linker: &str) -> Result<Pins, String> {
        let file: toml::Table = format!("[toolchain]\nchannel = \"{channel}\"\n")
            .parse()
            .unwrap();
        let manifest: toml::Table = format!(
            "[workspace.metadata.toolchain]\nebpf-rust = \"{ebpf}\"\nbpf-linker = \"{linker}\"\n\
             llvm = 22\ncargo-deb = \"3.8.0\"\n"
        )
        .parse()
        .unwrap();
        Pins::from_tables(&file, &manifest)
    }

    #[test]
    fn only_exact_releases_count_as_pins() {
        for exact in ["1.98.0", "1.100.12", "0.13.0"] {
            assert!(is_exact_version(exact), "{exact}");
        }
        for moving in [
            "stable",
            "1.98",
            "1",
            "nightly-2026-05-19",
            "1.98.0-x86_64-unknown-linux-gnu",
            "1..0",
            "",
        ] {
            assert!(!is_exact_version(moving), "{moving}");
        }
    }

    #[test]
    fn pins_refuse_channels() {
        assert_eq!(tables("1.98.0", "1.98.0", "0.13.0"), Ok(pins("1.98.0", 22)));
        for (channel, ebpf, linker, complaint) in [
            ("stable", "1.98.0", "0.13.0", "rust-toolchain.toml channel"),
            ("1.98.0", "stable", "0.13.0", "ebpf-rust"),
            ("1.98.0", "1.98.0", "0.13", "bpf-linker"),
        ] {
            let err = tables(channel, ebpf, linker).unwrap_err();
            assert!(err.contains(complaint), "{err}");
        }
        let no_meta: toml::Table = "[workspace]\n".parse().unwrap();
        let file: toml::Table = "[toolchain]\nchannel = \"1.98.0\"\n".parse().unwrap();
        assert!(Pins::from_tables(&file, &no_meta).is_err());
    }

    #[test]
    fn llvm_major_from_rustc() {
        let vv = "rustc 1.98.0 (88d9e12ae 2026-08-18)\nbinary: rustc\nhost: \
                  x86_64-unknown-linux-gnu\nrelease: 1.98.0\nLLVM version: 22.1.8\n";
        assert_eq!(rustc_llvm_major(vv), Some(22));
        assert_eq!(rustc_llvm_major("LLVM version: 23.1\n"), Some(23));
        assert_eq!(rustc_llvm_major("rustc 1.98.0\n"), None);
    }

    #[test]
    fn llvm_major_from_readelf() {
        let dynamic = " 0x0000000000000001 (NEEDED)             Shared library: [libLLVM.so.22.1]\n \
                       0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n";
        assert_eq!(needed_llvm_major(dynamic), Some(22));
        assert_eq!(
            needed_llvm_major(" (NEEDED) Shared library: [libLLVM-17.so]\n"),
            Some(17)
        );
        assert_eq!(
            needed_llvm_major(" (NEEDED) Shared library: [libc.so.6]\n"),
            None
        );
    }

    #[test]
    fn pairing_allows_older_or_equal_rustc_llvm_only() {
        let p = pins("1.99.1", 22);
        assert!(check_pairing(&p, 22, 22).is_ok());
        assert!(check_pairing(&p, 21, 22).is_ok());
        let err = check_pairing(&p, 23, 22).unwrap_err();
        for part in [
            "1.99.1",
            "LLVM 23",
            "LLVM 22",
            "--features llvm-23",
            "/usr/lib/llvm-23",
        ] {
            assert!(err.contains(part), "{part} missing from: {err}");
        }
    }

    #[test]
    fn a_linker_is_the_pinned_one_only_by_version_and_llvm() {
        let p = pins("1.98.0", 22);
        let linker = |version: &str, llvm| Linker {
            path: "/x/bpf-linker".into(),
            version: version.into(),
            llvm,
        };
        assert_eq!(linker("0.13.0", Some(22)).mismatch(&p), None);
        assert!(
            linker("0.12.0", Some(22))
                .mismatch(&p)
                .unwrap()
                .contains("0.12.0")
        );
        assert!(
            linker("0.13.0", Some(21))
                .mismatch(&p)
                .unwrap()
                .contains("LLVM 21")
        );
        assert!(linker("0.13.0", None).mismatch(&p).is_some());
    }

    /// The repository's own pins: exact, and paired. Fails when someone moves the eBPF Rust to
    /// one whose LLVM is newer than the linker's (or the other way round) without the other
    /// pin; needs the pinned eBPF toolchain installed (`cargo xtask setup`).
    #[test]
    fn repository_pins_pair() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let pins = Pins::load(&root).expect("the repository's pins");
        let llvm = ebpf_rustc_llvm(&pins, Command::new("rustup")).expect("the eBPF rustc");
        check_pairing(&pins, llvm, pins.llvm).expect("pinned eBPF rustc and bpf-linker pair");
    }

    /// The toolchain document (docs/toolchain.md) names what is pinned.
    #[test]
    fn toolchain_doc_names_the_pins() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let pins = Pins::load(&root).unwrap();
        let doc = std::fs::read_to_string(root.join("docs/toolchain.md")).unwrap();
        for pin in [
            format!("Rust {}", pins.userspace_rust),
            format!("Rust {}", pins.ebpf_rust),
            format!("bpf-linker {}", pins.bpf_linker),
            pins.llvm_package(),
        ] {
            assert!(doc.contains(&pin), "docs/toolchain.md lacks {pin:?}");
        }
    }
}
