//! Making the host match a config file: bonds created, options and members updated,
//! addresses added (`slaac`: router advertisements taken; `dhcp` is [`super::dhcp`]'s); bonds
//! the previous version of the file had and this one drops are brought down.

use tracing::{info, warn};

use crate::{
    bond,
    error::Result,
    netdev::Netlink,
    options::{BondEntry, ConfigFile},
    pins::BondPaths,
};

/// Applies `file`; `previous` is the file applied before (on reload). All or nothing: the
/// whole file is checked against the host first, and if creating a bond still fails, the
/// bonds this call created are taken down again.
pub async fn apply(file: &ConfigFile, previous: Option<&ConfigFile>) -> Result<()> {
    for w in &file.warnings {
        warn!("{w}");
    }
    let leaving = check(file, previous).await?;
    for name in &leaving {
        if BondPaths::current(name)?.exists() {
            info!(bond = %name, "removed from the config; bringing it down");
            bond::down(name).await?;
        }
    }
    let nl = Netlink::connect()?;
    let mut created: Vec<String> = Vec::new();
    for entry in &file.bonds {
        let new = !BondPaths::current(&entry.spec.name)?.exists();
        if let Err(e) = apply_bond(&nl, entry).await {
            for name in created.iter().rev() {
                if let Err(undo) = bond::down(name).await {
                    warn!(bond = %name, "taking the new bond down again: {undo}");
                }
            }
            return Err(e);
        }
        if new {
            created.push(entry.spec.name.clone());
        }
    }
    Ok(())
}

/// Checks `file` against the host without changing anything; returns the bonds applying it
/// would bring down (those `previous` has and `file` drops).
pub async fn check(file: &ConfigFile, previous: Option<&ConfigFile>) -> Result<Vec<String>> {
    let leaving: Vec<String> = previous
        .map(|p| {
            p.bonds
                .iter()
                .map(|b| b.spec.name.clone())
                .filter(|name| !file.bonds.iter().any(|b| b.spec.name == *name))
                .collect()
        })
        .unwrap_or_default();
    let specs: Vec<&_> = file.bonds.iter().map(|b| &b.spec).collect();
    bond::check_against_host(&specs, &leaving).await?;
    Ok(leaving)
}

async fn apply_bond(nl: &Netlink, entry: &BondEntry) -> Result<()> {
    let spec = &entry.spec;
    if !BondPaths::current(&spec.name)?.exists() {
        bond::up(spec).await?;
    } else {
        bond::reconfigure(spec).await?;
    }
    let bond = nl.require(&spec.name).await?;
    if entry.slaac {
        // Router advertisements even where the host forwards (a router's WAN bond).
        for (key, value) in [("accept_ra", "2"), ("autoconf", "1")] {
            let path = format!("/proc/sys/net/ipv6/conf/{}/{key}", spec.name);
            std::fs::write(&path, value)
                .map_err(|e| crate::error::Error::io(format!("writing {path}"), e))?;
        }
    }
    let have = nl.addresses(bond.index).await?;
    for cidr in &entry.addresses {
        if !have.iter().any(|h| h.addr == cidr.addr) {
            nl.add_address(bond.index, *cidr).await?;
        }
    }
    Ok(())
}
