//! Pure MX planning (RFC 5321 §5.1, RFC 7505): what an MX answer means, the order in which to
//! try the hosts, name normalisation and IP-literal hosts. No I/O here.

use std::fmt;
use std::net::IpAddr;

/// The meaning of an MX query that got an answer from the DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxAnswer {
    /// At least one usable MX record: (preference, host without trailing dot), in DNS order.
    Records(Vec<(u16, String)>),
    /// RFC 7505 null MX ("0 ."): the domain accepts no mail. Permanent.
    NullMx,
    /// The domain exists but has no MX record (NODATA): use the implicit MX, the domain itself.
    NoRecords,
}

impl MxAnswer {
    /// Builds the answer from raw MX records as (preference, exchange); an exchange of `.` or
    /// `""` is the root name. Root entries are dropped; if only root entries were present the
    /// answer is a null MX (RFC 7505 forbids mixing; we then use the real hosts).
    pub fn from_records(records: Vec<(u16, String)>) -> MxAnswer {
        if records.is_empty() {
            return MxAnswer::NoRecords;
        }
        let hosts: Vec<(u16, String)> = records
            .into_iter()
            .filter(|(_, host)| !is_root(host))
            .map(|(pref, host)| (pref, strip_dot(&host).to_string()))
            .collect();
        if hosts.is_empty() {
            MxAnswer::NullMx
        } else {
            MxAnswer::Records(hosts)
        }
    }
}

/// Why a domain cannot be delivered to directly. Every variant is permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The domain publishes a null MX (RFC 7505): it does not accept mail.
    NullMx { domain: String },
}

impl PlanError {
    #[cfg(test)]
    /// Always true: a plan error never goes away by retrying.
    pub fn is_permanent(&self) -> bool {
        true
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NullMx { domain } => {
                write!(f, "{domain} does not accept mail (null MX, RFC 7505)")
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// RFC 5321 §5.1: the MX hosts to try, in order.
///
/// Records are sorted by preference (lowest first); hosts of equal preference are shuffled with
/// a small xorshift generator seeded by `shuffle_seed` (pass something varying in production,
/// a constant in tests). A host listed twice is kept at its best preference only. NODATA (or an
/// empty record list) gives the implicit MX: the domain itself. A null MX is a permanent error;
/// `.` entries mixed with real hosts are ignored.
pub fn order_mx(
    answer: &MxAnswer,
    domain: &str,
    shuffle_seed: u64,
) -> Result<Vec<String>, PlanError> {
    let records = match answer {
        MxAnswer::NullMx => return Err(null_mx(domain)),
        MxAnswer::NoRecords => return Ok(vec![strip_dot(domain).to_string()]),
        MxAnswer::Records(records) => records,
    };
    let mut hosts: Vec<(u16, &str)> = records
        .iter()
        .filter(|(_, host)| !is_root(host))
        .map(|(pref, host)| (*pref, strip_dot(host)))
        .collect();
    if hosts.is_empty() {
        return if records.is_empty() {
            Ok(vec![strip_dot(domain).to_string()])
        } else {
            Err(null_mx(domain))
        };
    }
    hosts.sort_by_key(|(pref, _)| *pref);
    let mut rng = XorShift::new(shuffle_seed);
    for group in hosts.chunk_by_mut(|a, b| a.0 == b.0) {
        rng.shuffle(group);
    }
    let mut ordered: Vec<String> = Vec::with_capacity(hosts.len());
    for (_, host) in hosts {
        if !ordered.iter().any(|seen| seen.eq_ignore_ascii_case(host)) {
            ordered.push(host.to_string());
        }
    }
    Ok(ordered)
}

fn null_mx(domain: &str) -> PlanError {
    PlanError::NullMx {
        domain: strip_dot(domain).to_string(),
    }
}

/// The name without one trailing dot (`mx.example.test.` -> `mx.example.test`).
pub fn strip_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// True for the root name (`.` or empty), the exchange of a null MX.
pub fn is_root(name: &str) -> bool {
    name.is_empty() || name == "."
}

/// An MX host (or a fixed `mx =` host) that is an IP address needs no lookup. Accepts
/// `192.0.2.1`, `::1`, the SMTP address-literal forms `[192.0.2.1]` and `[IPv6:::1]`, and
/// (leniently) `[::1]`.
pub fn literal(host: &str) -> Option<IpAddr> {
    let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) else {
        return host.parse().ok();
    };
    match inner.get(..5).filter(|p| p.eq_ignore_ascii_case("IPv6:")) {
        Some(_) => inner[5..]
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(IpAddr::V6),
        None => inner.parse().ok(),
    }
}

/// Tiny xorshift64 generator: enough to spread load over equal-preference MX hosts.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // A zero state would stay zero forever.
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Fisher-Yates shuffle.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn recs(list: &[(u16, &str)]) -> Vec<(u16, String)> {
        list.iter().map(|(p, h)| (*p, h.to_string())).collect()
    }

    #[test]
    fn from_records_table() {
        let cases: &[(&[(u16, &str)], MxAnswer)] = &[
            (&[], MxAnswer::NoRecords),
            (&[(0, ".")], MxAnswer::NullMx),
            (&[(0, "")], MxAnswer::NullMx),
            (&[(0, "."), (0, ".")], MxAnswer::NullMx),
            (
                &[(10, "mx.a.test."), (0, ".")],
                MxAnswer::Records(recs(&[(10, "mx.a.test")])),
            ),
            (
                &[(20, "b.a.test."), (10, "a.a.test")],
                MxAnswer::Records(recs(&[(20, "b.a.test"), (10, "a.a.test")])),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&MxAnswer::from_records(recs(input)), want, "{input:?}");
        }
    }

    #[test]
    fn order_mx_table() {
        type Case<'a> = (MxAnswer, &'a str, Result<Vec<&'a str>, PlanError>);
        let null = |d: &str| {
            Err(PlanError::NullMx {
                domain: d.to_string(),
            })
        };
        let cases: Vec<Case> = vec![
            (MxAnswer::NoRecords, "a.test.", Ok(vec!["a.test"])),
            (MxAnswer::NoRecords, "a.test", Ok(vec!["a.test"])),
            (MxAnswer::Records(vec![]), "a.test", Ok(vec!["a.test"])),
            (MxAnswer::NullMx, "a.test.", null("a.test")),
            (
                MxAnswer::Records(recs(&[(0, ".")])),
                "a.test",
                null("a.test"),
            ),
            (
                MxAnswer::Records(recs(&[(30, "c.test."), (10, "a.test"), (20, "b.test")])),
                "x.test",
                Ok(vec!["a.test", "b.test", "c.test"]),
            ),
            (
                MxAnswer::Records(recs(&[(0, "."), (5, "real.test")])),
                "x.test",
                Ok(vec!["real.test"]),
            ),
            (
                MxAnswer::Records(recs(&[(20, "dup.test"), (10, "DUP.test."), (15, "o.test")])),
                "x.test",
                Ok(vec!["DUP.test", "o.test"]),
            ),
            (
                MxAnswer::Records(recs(&[(65535, "last.test"), (0, "first.test")])),
                "x.test",
                Ok(vec!["first.test", "last.test"]),
            ),
        ];
        for (answer, domain, want) in cases {
            let want = want.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(order_mx(&answer, domain, 7), want, "{answer:?} {domain}");
        }
    }

    #[test]
    fn equal_preferences_are_shuffled_but_groups_keep_their_order() {
        let answer = MxAnswer::Records(recs(&[
            (10, "a1.test"),
            (10, "a2.test"),
            (10, "a3.test"),
            (10, "a4.test"),
            (5, "first.test"),
            (20, "b1.test"),
            (20, "b2.test"),
        ]));
        let mut orders = HashSet::new();
        for seed in 0..64 {
            let got = order_mx(&answer, "x.test", seed).unwrap();
            assert_eq!(got[0], "first.test");
            let mut mid: Vec<&str> = got[1..5].iter().map(String::as_str).collect();
            orders.insert(mid.join(","));
            mid.sort();
            assert_eq!(mid, ["a1.test", "a2.test", "a3.test", "a4.test"]);
            let mut tail: Vec<&str> = got[5..].iter().map(String::as_str).collect();
            tail.sort();
            assert_eq!(tail, ["b1.test", "b2.test"]);
        }
        assert!(orders.len() > 5, "ties must be shuffled, saw {orders:?}");
        // Same seed, same order: deterministic for tests.
        assert_eq!(
            order_mx(&answer, "x.test", 42),
            order_mx(&answer, "x.test", 42)
        );
    }

    #[test]
    fn literal_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1", Some("127.0.0.1")),
            ("[127.0.0.2]", Some("127.0.0.2")),
            ("::1", Some("::1")),
            ("[IPv6:::1]", Some("::1")),
            ("[ipv6:::1]", Some("::1")),
            ("[::1]", Some("::1")),
            ("[IPv6:127.0.0.1]", None),
            ("mx.a.test", None),
            ("127.0.0.1.test", None),
            ("", None),
            ("[]", None),
        ];
        for (host, want) in cases {
            let want: Option<IpAddr> = want.map(|w| w.parse().unwrap());
            assert_eq!(literal(host), want, "{host}");
        }
    }

    #[test]
    fn strip_dot_and_root() {
        assert_eq!(strip_dot("a.test."), "a.test");
        assert_eq!(strip_dot("a.test"), "a.test");
        assert_eq!(strip_dot("."), "");
        assert!(is_root(".") && is_root("") && !is_root("a.test"));
    }
}
