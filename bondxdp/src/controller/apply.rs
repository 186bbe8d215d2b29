//! Making the host match a config file: bonds created, options and members updated,
//! addresses added; bonds the previous version of the file had and this one drops are
//! brought down.

use tracing::{info, warn};

use crate::{
    bond,
    error::Result,
    netdev::Netlink,
    options::{BondEntry, ConfigFile},
    pins::BondPaths,
};

/// Applies `file`; `previous` is the file applied before (on reload).
pub async fn apply(file: &ConfigFile, previous: Option<&ConfigFile>) -> Result<()> {
    for w in &file.warnings {
        warn!("{w}");
    }
    if let Some(previous) = previous {
        for old in &previous.bonds {
            if !file.bonds.iter().any(|b| b.spec.name == old.spec.name)
                && BondPaths::current(&old.spec.name)?.exists()
            {
                info!(bond = %old.spec.name, "removed from the config; bringing it down");
                bond::down(&old.spec.name).await?;
            }
        }
    }
    let nl = Netlink::connect()?;
    for entry in &file.bonds {
        apply_bond(&nl, entry).await?;
    }
    Ok(())
}

async fn apply_bond(nl: &Netlink, entry: &BondEntry) -> Result<()> {
    let spec = &entry.spec;
    if !BondPaths::current(&spec.name)?.exists() {
        bond::up(spec).await?;
    } else {
        bond::reconfigure(spec).await?;
    }
    let bond = nl.require(&spec.name).await?;
    let have = nl.addresses(bond.index).await?;
    for cidr in &entry.addresses {
        if !have.iter().any(|h| h.addr == cidr.addr) {
            nl.add_address(bond.index, *cidr).await?;
        }
    }
    Ok(())
}
