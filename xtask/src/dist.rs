//! `cargo xtask dist`: the Debian package, built by cargo-deb (pinned in Cargo.toml's
//! `[workspace.metadata.toolchain]`, installed here when missing).
//!
//! The package holds the release binary (its eBPF objects are embedded: the target needs no
//! compiler, LLVM or bpf-linker), the systemd unit, an example `/etc/bondxdp/bondxdp.toml`
//! (a conffile, every bond commented out so installing changes nothing), man pages generated
//! from the CLI definition (`bondxdp manpages`), shell completions (`bondxdp completions`),
//! and the NetworkManager example. What cargo-deb packages from `target/dist/` is made here
//! first; `bondxdp/Cargo.toml`'s `[package.metadata.deb]` says where each file goes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::{
    setup::Rust,
    toolchain::Pins,
    util::{output, run, step, workspace_root},
};

/// Where the files cargo-deb packages are generated, and where the package goes.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("target/dist")
}

/// Builds the package; returns its path.
pub fn dist() -> Result<PathBuf> {
    let root = workspace_root();
    let pins = Pins::load(&root).map_err(|e| anyhow!(e))?;
    let rust = Rust::from_env();
    let cargo_deb = install_cargo_deb(&rust, &pins)?;
    step("building bondxdp (release)");
    run(rust.cmd("cargo").current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "bondxdp",
        "--bin",
        "bondxdp",
    ]))?;
    let dir = dist_dir(&root);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    step("generating man pages, completions, the unit and the example configuration");
    let bin = root.join("target/release/bondxdp");
    let man = dir.join("man");
    run(std::process::Command::new(&bin).arg("manpages").arg(&man))?;
    // Debian installs man pages compressed (-n: no timestamp, so builds are reproducible).
    for page in std::fs::read_dir(&man)? {
        run(std::process::Command::new("gzip")
            .args(["-9", "-n"])
            .arg(page?.path()))?;
    }
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in [
        ("bash", "bondxdp"),
        ("zsh", "_bondxdp"),
        ("fish", "bondxdp.fish"),
    ] {
        let script = output(std::process::Command::new(&bin).args(["completions", shell]))?;
        std::fs::write(completions.join(file), script)?;
    }
    let unit = std::fs::read_to_string(root.join("contrib/systemd/bondxdp.service"))?;
    std::fs::write(dir.join("bondxdp.service"), packaged_unit(&unit)?)?;
    let example = std::fs::read_to_string(root.join("examples/bondxdp.toml"))?;
    std::fs::write(dir.join("bondxdp.toml"), packaged_config(&example))?;
    step(&format!("packaging with cargo-deb {}", pins.cargo_deb));
    run(rust
        .cmd(cargo_deb.to_str().expect("UTF-8 path"))
        .current_dir(&root)
        .args(["-p", "bondxdp", "--no-build", "--output"])
        .arg(&dir))?;
    let deb = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| anyhow!("cargo-deb wrote no .deb into {}", dir.display()))?;
    println!("{}", deb.display());
    Ok(deb)
}

/// The pinned cargo-deb in `$CARGO_HOME/bin`, installed when missing or another version.
fn install_cargo_deb(rust: &Rust, pins: &Pins) -> Result<PathBuf> {
    let path = rust.cargo_bin().join("cargo-deb");
    let version = |p: &Path| {
        output(rust.cmd(p.to_str().expect("UTF-8 path")).arg("--version")).unwrap_or_default()
    };
    if path.exists() && version(&path).split_whitespace().nth(1) == Some(&pins.cargo_deb) {
        return Ok(path);
    }
    step(&format!("installing cargo-deb {}", pins.cargo_deb));
    run(rust
        .cmd("cargo")
        .args([
            "install",
            "cargo-deb",
            "--force",
            "--locked",
            "--version",
            &format!("={}", pins.cargo_deb),
        ])
        // Outside the workspace, so its rust-toolchain.toml does not apply.
        .current_dir(std::env::temp_dir()))
    .context("installing cargo-deb")?;
    let got = version(&path);
    if got.split_whitespace().nth(1) != Some(&pins.cargo_deb) {
        bail!(
            "{} says {got:?} after installing cargo-deb {}",
            path.display(),
            pins.cargo_deb
        );
    }
    Ok(path)
}

/// contrib's unit, for the packaged binary's path (`/usr/bin`, not `/usr/local/bin`).
fn packaged_unit(unit: &str) -> Result<String> {
    const FROM: &str = "/usr/local/bin/bondxdp";
    if !unit.contains(FROM) {
        bail!("contrib/systemd/bondxdp.service no longer runs {FROM}");
    }
    Ok(unit.replace(FROM, "/usr/bin/bondxdp").replace(
        "# healthy. Install the binary as /usr/local/bin/bondxdp, then:",
        "# healthy. Edit /etc/bondxdp/bondxdp.toml, then:",
    ))
}

/// The example configuration with every setting commented out: installing the package must
/// not bond anything; the user uncomments and edits.
fn packaged_config(example: &str) -> String {
    let mut out = String::from(
        "# Installed by the bondxdp package: every bond below is commented out. Uncomment and\n\
         # edit one, then `systemctl enable --now bondxdp` (or `systemctl reload bondxdp`).\n\
         # Reference: man bondxdp-run, /usr/share/doc/bondxdp.\n#\n",
    );
    for line in example.lines() {
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
        } else {
            out.push_str("# ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packaged_config_bonds_nothing() {
        let root = workspace_root();
        let example = std::fs::read_to_string(root.join("examples/bondxdp.toml")).unwrap();
        let packaged = packaged_config(&example);
        assert!(example.lines().any(|l| l.starts_with("[[bond]]")));
        let table: toml::Table = packaged.parse().expect("still TOML");
        assert!(table.is_empty(), "every setting commented out: {table:?}");
    }

    #[test]
    fn packaged_unit_runs_the_packaged_binary() {
        let root = workspace_root();
        let unit = std::fs::read_to_string(root.join("contrib/systemd/bondxdp.service")).unwrap();
        let packaged = packaged_unit(&unit).unwrap();
        assert!(packaged.contains("ExecStart=/usr/bin/bondxdp run --config"));
        assert!(!packaged.contains("/usr/local/bin"));
    }
}
