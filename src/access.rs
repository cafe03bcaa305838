//! Access control: CIDR ranges and the ordered allow/deny rules (first match wins).
//! Pure: no I/O. IPv4-mapped IPv6 client addresses (`::ffff:a.b.c.d`) count as IPv4.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range: `addr/prefix`. The address is stored with the host bits cleared, so
/// `192.168.1.77/24` is accepted and becomes `192.168.1.0/24`. An IPv4-mapped IPv6 range
/// (`::ffff:10.0.0.0/104`) is stored as the IPv4 range it stands for (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    pub action: Action,
    pub cidr: Cidr,
}

impl Cidr {
    /// The range `addr/prefix` with host bits masked off; `None` when the prefix is longer
    /// than the address (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                let masked = u32::from(v4) & mask32(prefix);
                Some(Cidr {
                    addr: IpAddr::V4(Ipv4Addr::from(masked)),
                    prefix,
                })
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                    return Cidr::new(IpAddr::V4(v4), prefix - 96);
                }
                let masked = u128::from(v6) & mask128(prefix);
                Some(Cidr {
                    addr: IpAddr::V6(Ipv6Addr::from(masked)),
                    prefix,
                })
            }
            _ => None,
        }
    }

    /// A single address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr::new(addr, prefix).expect("full-length prefix is valid")
    }

    /// Whether `ip` is in this range; `::ffff:a.b.c.d` is treated as `a.b.c.d`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    /// `10.0.0.0/8`, `192.168.1.5` (= /32), `::1` (= /128), `fd00::/8`. Host bits beyond the
    /// prefix are accepted and masked off.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let expected =
            || "expected an IP address or a range like 10.0.0.0/8 or fd00::/8".to_string();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr: IpAddr = addr.parse().map_err(|_| expected())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("the prefix after / must be 0 to {max}")),
            },
        };
        Cidr::new(addr, prefix).ok_or_else(expected)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

/// 127.0.0.0/8 and ::1/128.
pub fn loopback() -> Vec<Cidr> {
    vec![
        Cidr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8).expect("valid"),
        Cidr::host(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]
}

/// Whether a client may connect: the first rule whose range contains `ip` decides. With no
/// rules at all only loopback is allowed; with rules of which none matches, `ip` is denied.
pub fn allowed(rules: &[AccessRule], ip: IpAddr) -> bool {
    if rules.is_empty() {
        return in_any(&loopback(), ip);
    }
    rules
        .iter()
        .find(|rule| rule.cidr.contains(ip))
        .is_some_and(|rule| rule.action == Action::Allow)
}

/// Whether `ip` is in any of `cidrs`.
pub fn in_any(cidrs: &[Cidr], ip: IpAddr) -> bool {
    cidrs.iter().any(|cidr| cidr.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        let cases = [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("192.168.1.5", "192.168.1.5/32"),
            (" 192.168.1.77/24 ", "192.168.1.0/24"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("::1", "::1/128"),
            ("[::1]", "::1/128"),
            ("fd00::/8", "fd00::/8"),
            ("fd12:3456::1/16", "fd12::/16"),
            ("::/0", "::/0"),
            ("::ffff:10.1.2.3/104", "10.0.0.0/8"),
            ("::ffff:10.1.2.3", "10.1.2.3/32"),
        ];
        for (input, shown) in cases {
            assert_eq!(cidr(input).to_string(), shown, "{input}");
        }
    }

    #[test]
    fn parse_errors() {
        for input in [
            "",
            "10.0.0/8",
            "10.0.0.0/33",
            "::1/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "a.b",
            "/8",
        ] {
            assert!(input.parse::<Cidr>().is_err(), "{input:?} should fail");
        }
    }

    #[test]
    fn contains() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.0.0.0/8", "::ffff:10.0.0.1", true),
            ("192.168.1.5", "192.168.1.5", true),
            ("192.168.1.5", "192.168.1.6", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false),
            ("::/0", "::1", true),
            ("::/0", "1.2.3.4", false),
            ("::1", "::1", true),
            ("::1", "127.0.0.1", false),
            ("fd00::/8", "fd12::5", true),
            ("fd00::/8", "fe80::1", false),
            ("127.0.0.0/8", "::ffff:127.0.0.1", true),
        ];
        for (range, addr, expected) in cases {
            assert_eq!(
                cidr(range).contains(ip(addr)),
                expected,
                "{range} contains {addr}"
            );
        }
    }

    #[test]
    fn rules() {
        let rule = |action, s: &str| AccessRule {
            action,
            cidr: cidr(s),
        };
        let rules = vec![
            rule(Action::Deny, "192.168.1.13"),
            rule(Action::Allow, "192.168.1.0/24"),
            rule(Action::Allow, "127.0.0.1"),
        ];
        let cases: [(&[AccessRule], &str, bool); 9] = [
            (&[], "127.0.0.1", true),
            (&[], "127.5.6.7", true),
            (&[], "::1", true),
            (&[], "::ffff:127.0.0.1", true),
            (&[], "192.168.1.1", false),
            (&rules, "192.168.1.13", false),
            (&rules, "192.168.1.14", true),
            (&rules, "127.0.0.1", true),
            (&rules, "::1", false),
        ];
        for (rules, addr, expected) in cases {
            assert_eq!(
                allowed(rules, ip(addr)),
                expected,
                "{addr} with {} rules",
                rules.len()
            );
        }
    }

    #[test]
    fn loopback_ranges() {
        let lo = loopback();
        assert!(in_any(&lo, ip("127.0.0.1")));
        assert!(in_any(&lo, ip("::1")));
        assert!(!in_any(&lo, ip("10.0.0.1")));
        assert!(!in_any(&[], ip("127.0.0.1")));
    }
}
