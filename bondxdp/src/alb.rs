//! balance-alb's client table as userspace sees it: read for `status`, changed by the
//! controller (`controller/alb.rs`).

use std::net::Ipv4Addr;

use aya::maps::{HashMap, Map, MapData};
use bondxdp_common::modes::alb::{CLIENTS_MAP, Client};

use crate::{error::Result, pins::BondPaths};

/// The pinned client table of a bond (`None`: the bond has none, e.g. made by an older
/// bondxdp).
pub struct Clients {
    map: HashMap<MapData, u32, Client>,
}

impl Clients {
    /// Opens the bond's client table.
    pub fn open(paths: &BondPaths) -> Result<Option<Clients>> {
        let path = paths.map(CLIENTS_MAP);
        if !path.exists() {
            return Ok(None);
        }
        let data = MapData::from_pin(path)?;
        let map = HashMap::try_from(Map::from_map_data(data)?)?;
        Ok(Some(Clients { map }))
    }

    /// Every client, by peer address (sorted).
    pub fn all(&self) -> Vec<(u32, Client)> {
        let mut v: Vec<(u32, Client)> = self.map.iter().filter_map(|r| r.ok()).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Writes one client back.
    pub fn set(&mut self, key: u32, client: &Client) -> Result<()> {
        self.map.insert(key, client, 0)?;
        Ok(())
    }
}

/// A client's peer address.
pub fn peer_ip(key: u32) -> Ipv4Addr {
    Ipv4Addr::from(key)
}
