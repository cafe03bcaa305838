//! Parsers for single INI values: durations, sizes, booleans, addresses, CIDRs, enums.
//! Each returns `Err(what was expected)`; the caller adds the line and the key.

use super::{BareNewline, HostPort, IpFamily, RelayAuth, RelayTls, TlsLevel};
use crate::access::Cidr;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const DURATION_HINT: &str = "expected a duration like 90 (seconds), 30s, 5m, 4h or 2d";

/// `max_rate`: at most `count` messages each `per` (a minute or an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The even spacing of messages at this rate.
    pub fn spacing(self) -> Duration {
        self.per / self.count.max(1)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.per.as_secs() == 60 { "m" } else { "h" };
        write!(f, "{}/{unit}", self.count)
    }
}

/// `100/h`, `10/m` (also `/hour`, `/min`, `/minute`); empty = no limit.
pub fn rate(s: &str) -> Result<Option<Rate>, String> {
    const HINT: &str = "expected messages per hour or minute, like 100/h or 10/m (empty = none)";
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let (count, unit) = s.split_once('/').ok_or(HINT)?;
    let count: u32 = count.trim().parse().map_err(|_| HINT.to_string())?;
    let per = match unit.trim().to_ascii_lowercase().as_str() {
        "h" | "hour" => Duration::from_secs(3600),
        "m" | "min" | "minute" => Duration::from_secs(60),
        _ => return Err(HINT.to_string()),
    };
    if count == 0 || count > 1_000_000 {
        return Err("expected from 1 to 1000000 messages per hour or minute".to_string());
    }
    Ok(Some(Rate { count, per }))
}

/// A duration: a plain number is seconds; suffixes `ms`, `s`, `m`, `h`, `d` (any case).
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| DURATION_HINT.to_string())?;
    let unit = unit.trim().to_ascii_lowercase();
    let millis_per_unit: u64 = match unit.as_str() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DURATION_HINT.to_string()),
    };
    let millis = number
        .checked_mul(millis_per_unit)
        .filter(|ms| *ms <= 3650 * 86_400_000)
        .ok_or_else(|| "expected a duration of at most 3650d".to_string())?;
    Ok(Duration::from_millis(millis))
}

/// A size in bytes: a plain number, or with `K`, `M`, `G` (1024-based, any case, an
/// optional `B` after the letter).
pub fn size(s: &str) -> Result<u64, String> {
    const HINT: &str = "expected a size like 10M, 512K or 1048576 (bytes)";
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| HINT.to_string())?;
    let unit = unit.trim().to_ascii_uppercase();
    let multiplier: u64 = match unit.strip_suffix('B').unwrap_or(&unit) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(HINT.to_string()),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| HINT.to_string())
}

/// For a size `size` accepts but that is not spelt as documented (`10M`, `512K`, `2G` or a
/// plain number of bytes), what it was read as: `25 MB` and `10m` (m is minutes elsewhere)
/// are worth a warning that says so.
pub fn size_note(s: &str) -> Option<String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let documented = matches!(&s[digits..], "" | "K" | "M" | "G");
    let bytes = size(s).ok()?;
    (!documented).then(|| {
        let unit = &s[digits..].trim().to_ascii_uppercase();
        let unit = unit.strip_suffix('B').unwrap_or(unit);
        format!(
            "{}{unit} ({bytes} bytes); write it as {}{unit}",
            &s[..digits],
            &s[..digits]
        )
    })
}

/// `yes/no`, `true/false`, `on/off`, `1/0` (any case).
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err("expected yes or no".to_string()),
    }
}

/// A whole number from `min` to `max`.
pub fn integer(s: &str, min: u64, max: u64) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("expected a whole number from {min} to {max}"))
}

/// The multiplier applied to the retry delay after each failure: 1.0 to 100.
pub fn backoff(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| (1.0..=100.0).contains(f))
        .ok_or_else(|| "expected a number from 1 to 100, like 2 or 1.5".to_string())
}

/// A TCP port, 1 to 65535.
pub fn port(s: &str) -> Result<u16, String> {
    integer(s, 1, 65535)
        .map(|n| n as u16)
        .map_err(|_| "expected a port number from 1 to 65535".into())
}

/// A comma-separated list (items trimmed, empty items dropped), each item parsed by
/// `parse`; with several items, an error names the item.
/// The longest a value is quoted in an error message, in characters.
pub const SHOWN_CHARS: usize = 80;

/// `s` as an error message quotes it: cut after `SHOWN_CHARS` characters, saying how long it
/// was (a whole 10 MB line would bury the message).
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(SHOWN_CHARS) {
        None => s.into(),
        Some((cut, _)) => format!("{}... ({} characters)", &s[..cut], s.chars().count()).into(),
    }
}

fn list<T>(s: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let items: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    let one = items.len() == 1;
    let parse_item = |item: &&str| {
        parse(item).map_err(|msg| {
            if one {
                msg
            } else {
                format!("\"{}\": {msg}", shown(item))
            }
        })
    };
    items.iter().map(parse_item).collect()
}

/// One listen address: an IP and a port (`127.0.0.1:25`, `[::1]:2525`); host names are not
/// allowed, since a listener binds to an address of this machine.
pub fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if s.parse::<IpAddr>().is_ok() || s.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return Err("the port is missing: write it like 127.0.0.1:2525 or [::1]:2525".to_string());
    }
    if let Some((ip, port)) = s.rsplit_once(':')
        && ip.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "port {port} is out of range: ports go from 0 to 65535"
        ));
    }
    Err(
        "expected an IP address and port, like 127.0.0.1:2525 or [::1]:2525 (host names are \
         not allowed here; 0.0.0.0:2525 means every address of this computer)"
            .to_string(),
    )
}

/// A comma-separated list of listen addresses; may be empty.
pub fn socket_addrs(s: &str) -> Result<Vec<SocketAddr>, String> {
    list(s, socket_addr)
}

/// A listen address, or nothing (empty = off).
pub fn optional_socket_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    match s.trim() {
        "" => Ok(None),
        s => socket_addr(s).map(Some),
    }
}

/// A DNS server: `IP` or `IP:port` (default port 53); empty = the system's resolver.
/// An IP address, or nothing.
pub fn optional_ip(s: &str) -> Result<Option<std::net::IpAddr>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map(Some)
        .map_err(|_| format!("\"{s}\" is not an IP address (like 203.0.113.7 or 2001:db8::7)"))
}

pub fn dns_server(s: &str) -> Result<Option<SocketAddr>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(Some(addr));
    }
    match s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => Ok(Some(SocketAddr::new(ip, 53))),
        Err(_) => Err(
            "expected an IP address, optionally with a port, like 192.0.2.53 or \
                       192.0.2.53:5353 (empty = the system's DNS server)"
                .to_string(),
        ),
    }
}

/// A host name (`mx1.example.test`) or an IP address (IPv6 with or without brackets).
/// Returns the host as stored in `HostPort` (IPv6 without brackets, names lower-cased).
pub fn host(s: &str) -> Result<String, String> {
    let s = s.trim();
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = s.trim_end_matches('.');
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err("expected a host name or an IP address".to_string());
    }
    Ok(name.to_lowercase())
}

/// A name for this machine (greeting, HELO): a host name, or an address literal in
/// brackets like `[192.0.2.1]`.
pub fn hostname(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.starts_with('[') && s.ends_with(']') && s[1..s.len() - 1].parse::<IpAddr>().is_ok() {
        return Ok(s.to_string());
    }
    host(s)
        .ok()
        .filter(|h| h.parse::<IpAddr>().is_err())
        .map(|_| s.trim_end_matches('.').to_string())
        .ok_or_else(|| "expected a host name like mail.example.test".to_string())
}

/// One `host[:port]` item: `mx1.example.test`, `mx1.example.test:2526`, `127.0.0.1:2526`,
/// `[::1]:25`, `::1`.
fn host_port(s: &str, default_port: u16) -> Result<HostPort, String> {
    let bad = || "expected host or host:port, like mx1.example.test or [::1]:2525".to_string();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(HostPort {
            host: ip.to_string(),
            port: default_port,
        });
    }
    let (name, port) = match s.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().map_err(|_| bad())?),
        Some(_) => return Err(bad()),
        None => (s, default_port),
    };
    if port == 0 || name.starts_with('[') {
        return Err(bad());
    }
    Ok(HostPort {
        host: host(name).map_err(|_| bad())?,
        port,
    })
}

/// A comma-separated `host[:port]` list (the `mx` key); empty = use DNS.
pub fn host_ports(s: &str, default_port: u16) -> Result<Vec<HostPort>, String> {
    list(s, |item| host_port(item, default_port))
}

/// A comma-separated list of IP addresses or CIDR ranges; may be empty.
pub fn cidrs(s: &str) -> Result<Vec<Cidr>, String> {
    list(s, str::parse)
}

/// A `[domain:NAME]` name: `*`, `*.example.test` or `example.test`, lower-cased, without a
/// trailing dot.
pub fn domain_pattern(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Ok("*".to_string());
    }
    let (prefix, name) = match s.strip_prefix("*.") {
        Some(rest) => ("*.", rest),
        None => ("", s),
    };
    match host(name) {
        Ok(h) if h.parse::<IpAddr>().is_err() => Ok(format!("{prefix}{h}")),
        _ => Err(format!(
            "\"{}\" is not a domain name (or * or *.example.test)",
            shown(s)
        )),
    }
}

fn choice<T: Copy>(s: &str, options: &[(&str, T)]) -> Result<T, String> {
    let lower = s.trim().to_ascii_lowercase();
    if let Some((_, value)) = options.iter().find(|(name, _)| *name == lower) {
        return Ok(*value);
    }
    let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
    let (last, rest) = names.split_last().expect("options are not empty");
    Err(format!("expected {} or {last}", rest.join(", ")))
}

/// The INI words of each enum; `word` gives the word of a value (for `render`).
pub const BARE_NEWLINES: &[(&str, BareNewline)] = &[
    ("normalize", BareNewline::Normalize),
    ("reject", BareNewline::Reject),
];
pub const IP_FAMILIES: &[(&str, IpFamily)] = &[
    ("any", IpFamily::Any),
    ("ipv4", IpFamily::Ipv4),
    ("ipv6", IpFamily::Ipv6),
];
pub const RELAY_TLS: &[(&str, RelayTls)] = &[
    ("starttls", RelayTls::StartTls),
    ("tls", RelayTls::Tls),
    ("none", RelayTls::None),
];
pub const TLS_LEVELS: &[(&str, TlsLevel)] = &[
    ("auto", TlsLevel::Auto),
    ("opportunistic", TlsLevel::Opportunistic),
    ("mta-sts", TlsLevel::MtaSts),
    ("dane", TlsLevel::Dane),
    ("verify", TlsLevel::Verify),
    ("encrypt", TlsLevel::Encrypt),
    ("none", TlsLevel::None),
];
pub const RELAY_AUTH: &[(&str, RelayAuth)] = &[
    ("none", RelayAuth::None),
    ("plain", RelayAuth::Plain),
    ("login", RelayAuth::Login),
];
pub const LOG_LEVELS: &[(&str, log::LevelFilter)] = &[
    ("error", log::LevelFilter::Error),
    ("warn", log::LevelFilter::Warn),
    ("info", log::LevelFilter::Info),
    ("debug", log::LevelFilter::Debug),
    ("trace", log::LevelFilter::Trace),
    ("off", log::LevelFilter::Off),
];

/// The INI word for `value` in one of the tables above.
pub fn word<T: PartialEq>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("?", |(word, _)| word)
}

pub fn bare_newline(s: &str) -> Result<BareNewline, String> {
    choice(s, BARE_NEWLINES)
}

pub fn ip_family(s: &str) -> Result<IpFamily, String> {
    choice(s, IP_FAMILIES)
}

pub fn relay_tls(s: &str) -> Result<RelayTls, String> {
    choice(s, RELAY_TLS)
}

pub fn tls_level(s: &str) -> Result<TlsLevel, String> {
    choice(s, TLS_LEVELS)
}

/// A relay's `tls_policy`: the recipient domain's MTA-STS policy does not apply to a relay
/// (DANE does: the relay's own TLSA records).
pub fn relay_tls_level(s: &str) -> Result<TlsLevel, String> {
    match tls_level(s)? {
        TlsLevel::MtaSts => {
            Err("expected auto, opportunistic, dane, verify, encrypt or none (mta-sts is for [domain:] sections: a relay is not one of the domain's MX hosts)".into())
        }
        level => Ok(level),
    }
}

pub fn relay_auth(s: &str) -> Result<RelayAuth, String> {
    choice(s, RELAY_AUTH)
}

pub fn log_level(s: &str) -> Result<log::LevelFilter, String> {
    choice(s, LOG_LEVELS)
}

/// The shortest exact form of a duration: `2d`, `4h`, `5m`, `30s`, `250ms`, `0`.
pub fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return "0".to_string();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// The shortest exact form of a size: `25M`, `512K`, `1G`, `1000`.
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn rates_table() {
        let per = |count, secs| {
            Ok(Some(Rate {
                count,
                per: Duration::from_secs(secs),
            }))
        };
        assert_eq!(rate(""), Ok(None));
        assert_eq!(rate("100/h"), per(100, 3600));
        assert_eq!(rate(" 10 / Minute "), per(10, 60));
        assert_eq!(rate("5/min"), per(5, 60));
        for bad in ["100", "0/h", "10/d", "x/h", "-1/m"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
        let r = rate("120/h").unwrap().unwrap();
        assert_eq!(
            (r.spacing(), r.to_string()),
            (Duration::from_secs(30), "120/h".into())
        );
    }

    #[test]
    fn durations() {
        let good = [
            ("0", secs(0)),
            ("90", secs(90)),
            (" 30s ", secs(30)),
            ("5m", secs(300)),
            ("5M", secs(300)),
            ("4h", secs(4 * 3600)),
            ("2d", secs(2 * 86400)),
            ("2 d", secs(2 * 86400)),
            ("250ms", Duration::from_millis(250)),
        ];
        for (input, expected) in good {
            assert_eq!(duration(input), Ok(expected), "{input:?}");
        }
        for input in [
            "",
            "s",
            "-5",
            "1.5h",
            "5w",
            "5 minutes",
            "99999999999999999999",
            "4000d",
        ] {
            assert!(duration(input).is_err(), "{input:?} should fail");
        }
    }

    #[test]
    fn loose_size_spellings_are_read_and_said() {
        let cases: &[(&str, Option<&str>)] = &[
            ("25M", None),
            ("512K", None),
            ("1048576", None),
            ("2G", None),
            ("25 MB", Some("25M (26214400 bytes); write it as 25M")),
            ("10m", Some("10M (10485760 bytes); write it as 10M")),
            ("10k", Some("10K (10240 bytes); write it as 10K")),
            ("7B", Some("7 (7 bytes); write it as 7")),
            ("12Q", None),
        ];
        for (input, note) in cases {
            assert_eq!(size_note(input).as_deref(), *note, "{input:?}");
        }
    }

    #[test]
    fn a_port_out_of_range_is_said_so() {
        for input in ["127.0.0.1:99999", "[::1]:70000"] {
            let e = socket_addr(input).unwrap_err();
            assert!(e.contains("out of range"), "{input}: {e}");
        }
        assert!(
            socket_addr("localhost:25")
                .unwrap_err()
                .contains("host names")
        );
    }

    #[test]
    fn sizes() {
        let good = [
            ("0", 0),
            ("1000", 1000),
            ("10K", 10 << 10),
            ("10k", 10 << 10),
            ("25M", 25 << 20),
            ("25mb", 25 << 20),
            ("2G", 2 << 30),
            ("7B", 7),
            ("3 M", 3 << 20),
        ];
        for (input, expected) in good {
            assert_eq!(size(input), Ok(expected), "{input:?}");
        }
        for input in [
            "",
            "M",
            "12Q",
            "1.5M",
            "-1",
            "10T",
            "10BB",
            "99999999999999999G",
        ] {
            assert!(size(input).is_err(), "{input:?} should fail");
        }
    }

    #[test]
    fn booleans_and_numbers() {
        for (input, expected) in [
            ("yes", true),
            ("On", true),
            ("TRUE", true),
            ("1", true),
            ("no", false),
            ("off", false),
            ("false", false),
            ("0", false),
        ] {
            assert_eq!(boolean(input), Ok(expected), "{input}");
        }
        assert!(boolean("maybe").is_err());
        assert_eq!(integer("8", 1, 100), Ok(8));
        assert!(integer("0", 1, 100).is_err());
        assert!(integer("101", 1, 100).is_err());
        assert!(integer("-1", 0, 100).is_err());
        assert_eq!(port("2525"), Ok(2525));
        assert!(port("0").is_err() && port("65536").is_err());
        assert_eq!(backoff("2"), Ok(2.0));
        assert_eq!(backoff("1.5"), Ok(1.5));
        for input in ["0.5", "x", "NaN", "inf", "101"] {
            assert!(backoff(input).is_err(), "{input}");
        }
    }

    #[test]
    fn listen_addresses() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            socket_addrs("127.0.0.1:25, [::1]:2525"),
            Ok(vec![addr("127.0.0.1:25"), addr("[::1]:2525")])
        );
        assert_eq!(socket_addrs(""), Ok(vec![]));
        assert_eq!(
            socket_addrs("0.0.0.0:2525,"),
            Ok(vec![addr("0.0.0.0:2525")])
        );
        for input in [
            "localhost:25",
            "127.0.0.1",
            "[::1]",
            "127.0.0.1:99999",
            "mail.example.test:25",
        ] {
            assert!(socket_addrs(input).is_err(), "{input}");
        }
        assert_eq!(optional_socket_addr(""), Ok(None));
        assert_eq!(
            optional_socket_addr("127.0.0.1:8025"),
            Ok(Some(addr("127.0.0.1:8025")))
        );
    }

    #[test]
    fn dns_servers() {
        let addr = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        let good = [
            ("", None),
            ("192.0.2.53", addr("192.0.2.53:53")),
            ("192.0.2.53:5353", addr("192.0.2.53:5353")),
            ("::1", addr("[::1]:53")),
            ("[::1]", addr("[::1]:53")),
            ("[::1]:5353", addr("[::1]:5353")),
        ];
        for (input, expected) in good {
            assert_eq!(dns_server(input), Ok(expected), "{input}");
        }
        assert!(dns_server("dns.example.test").is_err());
    }

    #[test]
    fn mx_lists() {
        let hp = |host: &str, port| HostPort {
            host: host.to_string(),
            port,
        };
        let good = [
            ("", vec![]),
            ("mx1.example.test", vec![hp("mx1.example.test", 25)]),
            ("MX1.Example.Test.", vec![hp("mx1.example.test", 25)]),
            (
                "mx1.example.test, 127.0.0.1:2526, [::1]:25",
                vec![
                    hp("mx1.example.test", 25),
                    hp("127.0.0.1", 2526),
                    hp("::1", 25),
                ],
            ),
            ("mx.example.test:2525", vec![hp("mx.example.test", 2525)]),
            ("::1", vec![hp("::1", 25)]),
            ("[::1]", vec![hp("::1", 25)]),
            ("192.0.2.1", vec![hp("192.0.2.1", 25)]),
        ];
        for (input, expected) in good {
            assert_eq!(host_ports(input, 25), Ok(expected), "{input}");
        }
        for input in [
            "mx..example.test",
            "mx.example.test:0",
            "mx.example.test:x",
            "a b",
            "[mx]:25",
            "mx:25:25",
        ] {
            assert!(host_ports(input, 25).is_err(), "{input}");
        }
        assert_eq!(hp("::1", 25).to_string(), "[::1]:25");
    }

    #[test]
    fn names() {
        assert_eq!(
            hostname("mail.example.test"),
            Ok("mail.example.test".to_string())
        );
        assert_eq!(hostname("[192.0.2.1]"), Ok("[192.0.2.1]".to_string()));
        assert!(hostname("192.0.2.1").is_err());
        assert!(hostname("bad name").is_err());
        assert_eq!(host("[::1]"), Ok("::1".to_string()));
        assert_eq!(
            host("Relay.Example.Test"),
            Ok("relay.example.test".to_string())
        );
        let patterns = [
            ("*", "*"),
            ("Hotmail.COM", "hotmail.com"),
            ("*.Example.test.", "*.example.test"),
        ];
        for (input, expected) in patterns {
            assert_eq!(domain_pattern(input), Ok(expected.to_string()));
        }
        for input in ["", "*.", "**", "a..b", "10.0.0.1", "*.*"] {
            assert!(domain_pattern(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn cidr_lists() {
        let list = cidrs("127.0.0.0/8, ::1,10.1.2.3").unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.0/8", "::1/128", "10.1.2.3/32"]);
        assert_eq!(cidrs(""), Ok(vec![]));
        assert!(cidrs("127.0.0.0/8, nonsense").is_err());
    }

    #[test]
    fn enums() {
        assert_eq!(bare_newline("Reject"), Ok(BareNewline::Reject));
        assert_eq!(ip_family("ipv6"), Ok(IpFamily::Ipv6));
        assert_eq!(relay_tls("tls"), Ok(RelayTls::Tls));
        assert_eq!(relay_auth("login"), Ok(RelayAuth::Login));
        assert_eq!(log_level("debug"), Ok(log::LevelFilter::Debug));
        assert_eq!(log_level("off"), Ok(log::LevelFilter::Off));
        assert_eq!(
            ip_family("ipv5"),
            Err("expected any, ipv4 or ipv6".to_string())
        );
        for (word_, level) in LOG_LEVELS {
            assert_eq!(word(LOG_LEVELS, *level), *word_);
        }
        assert_eq!(word(RELAY_TLS, RelayTls::StartTls), "starttls");
    }
}
