//! The TOML config file (`bondxdp run --config`): `[[bond]]` tables whose keys are the option
//! table's names, parsed by the same setter as `up` and `set`.

use super::*;

/// One bond of a config file: what to create and the addresses to give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondEntry {
    /// The bond.
    pub spec: BondSpec,
    /// Addresses for the bond interface.
    pub addresses: Vec<IpCidr>,
    /// `addresses` has `dhcp`: the controller leases the bond's IPv4 address.
    pub dhcp: bool,
    /// `addresses` has `slaac`: the bond takes IPv6 router advertisements (SLAAC address,
    /// default route) even where the host forwards (`accept_ra` 2).
    pub slaac: bool,
}

/// A parsed and validated config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its bonds.
    pub bonds: Vec<BondEntry>,
    /// Warnings (rounded delays).
    pub warnings: Vec<String>,
}

/// Reads and validates a config file.
pub fn load_config_file(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut file = parse_config(&text).map_err(|e| match e {
        Error::InvalidOption { what, message } => Error::InvalidOption {
            what: format!("{} in {}", what, path.display()),
            message,
        },
        other => other,
    })?;
    // Selection programs named relative to the file, not to wherever the controller runs.
    let dir = path.parent().unwrap_or(Path::new("."));
    for bond in &mut file.bonds {
        if let Some(program) = &mut bond.spec.options.select_program
            && Path::new(program.as_str()).is_relative()
        {
            *program = dir.join(program.as_str()).to_string_lossy().into_owned();
        }
    }
    Ok(file)
}

/// Parses a config file's text: `[[bond]]` tables with `name`, `members`, optional
/// `addresses`, and any option of the option table ([`super::OPTIONS`]).
pub fn parse_config(text: &str) -> Result<ConfigFile> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::invalid("TOML", e.to_string().trim().to_string()))?;
    let mut file = ConfigFile::default();
    for (key, value) in &table {
        if key != "bond" {
            return Err(Error::invalid(
                "config",
                format!("unknown top-level key {key:?}"),
            ));
        }
        let bonds = value.as_array().ok_or_else(|| {
            Error::invalid("config", "`bond` must be an array of tables: [[bond]]")
        })?;
        for bond in bonds {
            let bond = bond
                .as_table()
                .ok_or_else(|| Error::invalid("config", "each [[bond]] must be a table"))?;
            file.bonds.push(parse_bond(bond, &mut file.warnings)?);
        }
    }
    for (i, a) in file.bonds.iter().enumerate() {
        for b in &file.bonds[..i] {
            if a.spec.name == b.spec.name {
                return Err(Error::invalid(
                    "config",
                    format!("bond {} is defined twice", a.spec.name),
                ));
            }
            if let Some(m) = a.spec.members.iter().find(|m| b.spec.members.contains(m)) {
                return Err(Error::invalid(
                    "config",
                    format!(
                        "{m} is a member of both {} and {}",
                        b.spec.name, a.spec.name
                    ),
                ));
            }
        }
    }
    Ok(file)
}

fn parse_bond(t: &toml::Table, warnings: &mut Vec<String>) -> Result<BondEntry> {
    let name = t
        .get("name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::invalid("config", "every [[bond]] needs name = \"...\""))?
        .to_string();
    let ctx = |e: Error| match e {
        Error::InvalidOption { what, message } => Error::InvalidOption {
            what: format!("{what} of bond {name}"),
            message,
        },
        other => other,
    };
    let strings = |key: &str| -> Result<Vec<String>> {
        match t.get(key) {
            None => Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_str().map(String::from)).collect())
                .ok_or_else(|| Error::invalid(key, "must be a list of strings")),
        }
    };
    let members = strings("members").map_err(ctx)?;
    let mut dhcp = false;
    let mut slaac = false;
    let mut addresses = Vec::new();
    for a in strings("addresses").map_err(ctx)? {
        match a.as_str() {
            "dhcp" => dhcp = true,
            "slaac" => slaac = true,
            _ => addresses.push(
                a.parse::<IpCidr>()
                    .map_err(|_| {
                        Error::invalid(
                            "addresses",
                            format!("{a:?} is neither ADDRESS/PREFIX, `dhcp` nor `slaac`"),
                        )
                    })
                    .map_err(ctx)?,
            ),
        }
    }
    let mut spec = BondSpec {
        name: name.clone(),
        members,
        options: BondOptions::default(),
    };
    for (key, value) in t {
        if matches!(key.as_str(), "name" | "members" | "addresses") {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| match x {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Ok(other.to_string()),
                })
                .collect::<Result<Vec<_>>>()?
                .join(","),
            other => {
                return Err(ctx(Error::invalid(
                    key,
                    format!("unsupported value {other}"),
                )));
            }
        };
        set_option(&mut spec.options, key, &text).map_err(ctx)?;
    }
    warnings.extend(
        spec.normalize()
            .into_iter()
            .map(|w| format!("bond {name}: {w}")),
    );
    spec.validate()?;
    if (dhcp || slaac) && spec.options.mode.is_multi_uplink() {
        return Err(ctx(Error::invalid(
            "addresses",
            "dhcp and slaac are for link-aggregation bonds; multi-wan uplinks keep their own",
        )));
    }
    Ok(BondEntry {
        spec,
        addresses,
        dhcp,
        slaac,
    })
}
