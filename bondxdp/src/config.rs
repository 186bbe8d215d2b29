//! What a bond is asked to be: its name, members and options, validated before anything on
//! the host is touched. Option names and values follow the kernel bonding driver.

use bondxdp_common::{HashPolicy, MAX_MEMBERS, Mode};

use crate::error::{Error, Result};

/// Modes whose data plane exists in this version.
pub const SUPPORTED_MODES: [Mode; 4] = [
    Mode::BalanceRr,
    Mode::ActiveBackup,
    Mode::BalanceXor,
    Mode::Broadcast,
];

/// Options of one bond (kernel names in parentheses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondOptions {
    /// Bonding mode (`mode`).
    pub mode: Mode,
    /// Transmit hash policy for hashing modes (`xmit_hash_policy`).
    pub xmit_hash_policy: HashPolicy,
    /// balance-rr: packets per member before moving on; 0 = random (`packets_per_slave`).
    pub packets_per_slave: u32,
    /// active-backup: the preferred member (`primary`).
    pub primary: Option<String>,
    /// Members keep their own MAC addresses; frames are rewritten per member instead.
    pub keep_member_macs: bool,
    /// Deliver frames received on inactive members too (`all_slaves_active`).
    pub all_slaves_active: bool,
    /// The bond's MAC address (default: the first member's, as the kernel does).
    pub mac: Option<[u8; 6]>,
}

impl Default for BondOptions {
    fn default() -> Self {
        BondOptions {
            mode: Mode::BalanceRr,
            xmit_hash_policy: HashPolicy::Layer2,
            packets_per_slave: 1,
            primary: None,
            keep_member_macs: false,
            all_slaves_active: false,
            mac: None,
        }
    }
}

/// A bond to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondSpec {
    /// Name of the logical interface.
    pub name: String,
    /// Member interfaces, in order (the order decides slots and the default active member).
    pub members: Vec<String>,
    /// Options.
    pub options: BondOptions,
}

impl BondSpec {
    /// Checks everything that can be checked without looking at the host.
    pub fn validate(&self) -> Result<()> {
        validate_ifname("bond name", &self.name)?;
        if self.members.is_empty() {
            return Err(Error::invalid(
                "members",
                "a bond needs at least one --member",
            ));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(Error::invalid(
                "members",
                format!(
                    "at most {MAX_MEMBERS} members per bond, got {}",
                    self.members.len()
                ),
            ));
        }
        for (i, member) in self.members.iter().enumerate() {
            validate_ifname("member", member)?;
            if self.members[..i].contains(member) {
                return Err(Error::invalid(
                    "members",
                    format!("{member} is given twice"),
                ));
            }
            if *member == self.name {
                return Err(Error::invalid(
                    "members",
                    format!("{member} cannot be a member of itself"),
                ));
            }
        }
        let opts = &self.options;
        if !SUPPORTED_MODES.contains(&opts.mode) {
            return Err(Error::invalid(
                "mode",
                format!(
                    "{} ({}) is not supported yet; supported: {}",
                    opts.mode.name(),
                    opts.mode as u32,
                    SUPPORTED_MODES.map(|m| m.name()).join(", ")
                ),
            ));
        }
        if opts.packets_per_slave > 65535 {
            return Err(Error::invalid(
                "packets_per_slave",
                format!("{} is out of range 0-65535", opts.packets_per_slave),
            ));
        }
        if let Some(primary) = &opts.primary {
            if !opts.mode.uses_active() {
                return Err(Error::invalid(
                    "primary",
                    format!(
                        "only meaningful in active-backup mode, not {}",
                        opts.mode.name()
                    ),
                ));
            }
            if !self.members.contains(primary) {
                return Err(Error::invalid(
                    "primary",
                    format!("{primary} is not one of the members"),
                ));
            }
        }
        if let Some(mac) = opts.mac
            && (mac[0] & 1 == 1 || mac == [0; 6])
        {
            return Err(Error::invalid(
                "mac",
                format!("{} is not a unicast address", format_mac(&mac)),
            ));
        }
        Ok(())
    }
}

/// Checks an interface name the way the kernel does (`dev_valid_name`).
pub fn validate_ifname(what: &str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(what, format!("{name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > 15 {
        return bad("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("is not a valid interface name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return bad("contains '/', ':' or whitespace");
    }
    Ok(())
}

/// Parses a mode name or kernel number.
pub fn parse_mode(s: &str) -> Result<Mode> {
    Mode::parse(s).ok_or_else(|| {
        Error::invalid(
            "mode",
            format!(
                "{s:?}; expected one of {} or 0-6",
                Mode::ALL.map(|m| m.name()).join(", ")
            ),
        )
    })
}

/// Parses a hash policy name or kernel number.
pub fn parse_hash_policy(s: &str) -> Result<HashPolicy> {
    HashPolicy::parse(s).ok_or_else(|| {
        Error::invalid(
            "xmit_hash_policy",
            format!(
                "{s:?}; expected one of {} or 0-5",
                HashPolicy::ALL.map(|p| p.name()).join(", ")
            ),
        )
    })
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(Error::invalid(
            "mac",
            format!("{s:?} is not of the form aa:bb:cc:dd:ee:ff"),
        ));
    }
    for (byte, part) in mac.iter_mut().zip(parts) {
        *byte = u8::from_str_radix(part, 16)
            .ok()
            .filter(|_| part.len() == 2)
            .ok_or_else(|| {
                Error::invalid("mac", format!("{s:?} is not of the form aa:bb:cc:dd:ee:ff"))
            })?;
    }
    Ok(mac)
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(members: &[&str]) -> BondSpec {
        BondSpec {
            name: "bond0".into(),
            members: members.iter().map(|s| s.to_string()).collect(),
            options: BondOptions::default(),
        }
    }

    fn err(spec: BondSpec) -> String {
        spec.validate().unwrap_err().to_string()
    }

    #[test]
    fn valid_spec() {
        spec(&["eth0", "eth1"]).validate().unwrap();
    }

    #[test]
    fn member_list_errors() {
        assert!(err(spec(&[])).contains("at least one"));
        assert!(err(spec(&["eth0", "eth0"])).contains("given twice"));
        assert!(err(spec(&["bond0"])).contains("member of itself"));
        let many: Vec<String> = (0..17).map(|i| format!("eth{i}")).collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert!(err(spec(&refs)).contains("at most 16"));
    }

    #[test]
    fn name_errors() {
        let mut s = spec(&["eth0"]);
        s.name = "a-name-that-is-too-long".into();
        assert!(err(s.clone()).contains("longer than 15"));
        s.name = "bad/name".into();
        assert!(err(s.clone()).contains("contains"));
        s.name = String::new();
        assert!(err(s).contains("empty"));
    }

    #[test]
    fn option_errors() {
        let mut s = spec(&["eth0", "eth1"]);
        s.options.mode = Mode::BalanceAlb;
        assert!(err(s.clone()).contains("not supported yet"));
        s.options.mode = Mode::BalanceRr;
        s.options.packets_per_slave = 65536;
        assert!(err(s.clone()).contains("out of range"));
        s.options.packets_per_slave = 1;
        s.options.primary = Some("eth1".into());
        assert!(err(s.clone()).contains("only meaningful in active-backup"));
        s.options.mode = Mode::ActiveBackup;
        s.validate().unwrap();
        s.options.primary = Some("eth9".into());
        assert!(err(s.clone()).contains("not one of the members"));
        s.options.primary = None;
        s.options.mac = Some([1, 0, 0, 0, 0, 1]);
        assert!(err(s).contains("not a unicast"));
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_mode("balance-xor").unwrap(), Mode::BalanceXor);
        assert_eq!(parse_mode("3").unwrap(), Mode::Broadcast);
        assert!(
            parse_mode("fastest")
                .unwrap_err()
                .to_string()
                .contains("expected one of")
        );
        assert_eq!(parse_hash_policy("layer3+4").unwrap(), HashPolicy::Layer34);
        assert!(parse_hash_policy("layer9").is_err());
        assert_eq!(
            parse_mac("02:00:5e:10:00:01").unwrap(),
            [2, 0, 0x5e, 0x10, 0, 1]
        );
        assert!(parse_mac("02:00:5e:10:00").is_err());
        assert!(parse_mac("02:00:5e:10:00:zz").is_err());
        assert!(parse_mac("2:0:5e:10:0:1").is_err());
        assert_eq!(format_mac(&[2, 0, 0x5e, 0x10, 0, 1]), "02:00:5e:10:00:01");
    }
}
