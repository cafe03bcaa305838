//! Tests of the DNS facade against the in-test responder in `fake.rs` (loopback only), plus
//! the pure error classification and address merging.

use super::fake::{FakeDns, NXDOMAIN, REFUSED, Reply, Rr, SERVFAIL, TYPE_A, TYPE_AAAA, TYPE_MX};
use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

const TIMEOUT: Duration = Duration::from_millis(500);

fn mx(pref: u16, host: &str) -> Rr {
    Rr::Mx(pref, host.to_string())
}

fn v4(last: u8) -> Rr {
    Rr::A(Ipv4Addr::new(127, 0, 0, last))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The zone used by most tests.
fn zone(name: &str, qtype: u16) -> Reply {
    match (name, qtype) {
        ("sorted.test", TYPE_MX) => Reply::Answer(vec![
            mx(20, "b.mx.test."),
            mx(10, "a.mx.test."),
            mx(30, "c.mx.test."),
        ]),
        ("null.test", TYPE_MX) => Reply::Answer(vec![mx(0, ".")]),
        ("mixed.test", TYPE_MX) => Reply::Answer(vec![mx(0, "."), mx(10, "real.mx.test.")]),
        ("xn--bcher-kva.test", TYPE_MX) => Reply::Answer(vec![mx(5, "mx.xn--bcher-kva.test")]),
        ("host.test", TYPE_A) => Reply::Answer(vec![v4(5), v4(6)]),
        ("host.test", TYPE_AAAA) => Reply::Answer(vec![Rr::Aaaa(Ipv6Addr::LOCALHOST)]),
        ("v4only.test", TYPE_A) => Reply::Answer(vec![v4(7)]),
        ("v6fail.test", TYPE_A) => Reply::Answer(vec![v4(8)]),
        ("v6fail.test", TYPE_AAAA) => Reply::Rcode(SERVFAIL),
        ("v4fail.test", TYPE_A) => Reply::Rcode(SERVFAIL),
        ("servfail.test", _) => Reply::Rcode(SERVFAIL),
        ("refused.test", _) => Reply::Rcode(REFUSED),
        ("silent.test", _) => Reply::Silent,
        ("big.test", TYPE_MX) => {
            Reply::TruncatedUdp(Box::new(Reply::Answer(vec![mx(1, "tcp.mx.test")])))
        }
        (n, TYPE_A) if n.starts_with("slow") => Reply::Delayed(
            Duration::from_millis(300),
            Box::new(Reply::Answer(vec![v4(9)])),
        ),
        (n, _) if n.starts_with("nx") => Reply::Rcode(NXDOMAIN),
        // Every other name exists with no records of the asked type: NODATA.
        _ => Reply::Answer(vec![]),
    }
}

fn setup() -> (FakeDns, Resolver) {
    let dns = FakeDns::start(zone);
    let resolver = Resolver::new(Some(dns.addr), TIMEOUT).unwrap();
    (dns, resolver)
}

#[test]
fn resolver_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Resolver>();
}

#[test]
fn mx_records_come_back_and_are_ordered_by_preference() {
    let (_dns, r) = setup();
    let answer = r.mx("sorted.test").unwrap();
    let MxAnswer::Records(records) = &answer else {
        panic!("{answer:?}");
    };
    let mut sorted = records.clone();
    sorted.sort();
    let want = [(10, "a.mx.test"), (20, "b.mx.test"), (30, "c.mx.test")];
    assert_eq!(sorted, want.map(|(p, h)| (p, h.to_string())));
    let order = order_mx(&answer, "sorted.test", 1).unwrap();
    assert_eq!(order, ["a.mx.test", "b.mx.test", "c.mx.test"]);
    // A trailing dot in the query gives the same answer.
    assert_eq!(r.mx("sorted.test.").unwrap(), answer);
}

#[test]
fn null_mx_is_a_permanent_failure() {
    let (_dns, r) = setup();
    let answer = r.mx("null.test").unwrap();
    assert_eq!(answer, MxAnswer::NullMx);
    let err = order_mx(&answer, "null.test", 1).unwrap_err();
    assert!(err.is_permanent());
    assert!(err.to_string().contains("null MX"), "{err}");
    // "." mixed with a real host: the real host is used.
    let mixed = r.mx("mixed.test").unwrap();
    assert_eq!(order_mx(&mixed, "mixed.test", 1).unwrap(), ["real.mx.test"]);
}

#[test]
fn nxdomain_is_permanent() {
    let (_dns, r) = setup();
    let err = r.mx("nx.test").unwrap_err();
    assert_eq!(
        err,
        DnsError::NxDomain {
            name: "nx.test".into()
        }
    );
    assert!(err.is_permanent());
    for family in [IpFamily::Any, IpFamily::Ipv4, IpFamily::Ipv6] {
        let err = r.addresses("nxhost.test", family).unwrap_err();
        assert_eq!(
            err,
            DnsError::NxDomain {
                name: "nxhost.test".into()
            }
        );
    }
}

#[test]
fn nodata_means_implicit_mx_and_no_address_is_permanent() {
    let (_dns, r) = setup();
    let answer = r.mx("plain.test").unwrap();
    assert_eq!(answer, MxAnswer::NoRecords);
    assert_eq!(order_mx(&answer, "plain.test", 1).unwrap(), ["plain.test"]);
    let err = r.addresses("plain.test", IpFamily::Any).unwrap_err();
    assert_eq!(
        err,
        DnsError::NoAddresses {
            name: "plain.test".into()
        }
    );
    assert!(err.is_permanent());
    let err = r.addresses("v4only.test", IpFamily::Ipv6).unwrap_err();
    assert_eq!(
        err,
        DnsError::NoAddresses {
            name: "v4only.test".into()
        }
    );
}

#[test]
fn servfail_and_refused_are_temporary() {
    let (_dns, r) = setup();
    for name in ["servfail.test", "refused.test"] {
        let err = r.mx(name).unwrap_err();
        assert!(
            matches!(&err, DnsError::Temporary { name: n, .. } if n == name),
            "{err:?}"
        );
        assert!(!err.is_permanent());
        let err = r.addresses(name, IpFamily::Any).unwrap_err();
        assert!(!err.is_permanent(), "{err:?}");
    }
}

#[test]
fn no_answer_is_temporary_within_the_timeout() {
    let (dns, r) = setup();
    let start = Instant::now();
    let err = r.mx("silent.test").unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, DnsError::Temporary { .. }), "{err:?}");
    assert!(took >= TIMEOUT / 2, "gave up too soon: {took:?}");
    assert!(
        took < TIMEOUT * 4,
        "took {took:?}, queries {}",
        dns.queries()
    );
    // One attempt (UDP re-sent once within it) and the probe that asks why: no endless
    // retries.
    assert!(dns.queries() <= 3, "queries: {}", dns.queries());
    assert!(
        matches!(&err, DnsError::Temporary { detail, .. }
            if detail.starts_with(&format!("DNS server {} did not answer", dns.addr))),
        "{err:?}"
    );
}

#[test]
fn addresses_follow_ip_family_ipv4_first() {
    let (_dns, r) = setup();
    let any = r.addresses("host.test", IpFamily::Any).unwrap();
    assert_eq!(any, [ip("127.0.0.5"), ip("127.0.0.6"), ip("::1")]);
    let only4 = r.addresses("host.test", IpFamily::Ipv4).unwrap();
    assert_eq!(only4, [ip("127.0.0.5"), ip("127.0.0.6")]);
    assert_eq!(
        r.addresses("host.test", IpFamily::Ipv6).unwrap(),
        [ip("::1")]
    );
    // One family missing or failing: the other one is enough.
    let got = r.addresses("v4only.test", IpFamily::Any).unwrap();
    assert_eq!(got, [ip("127.0.0.7")]);
    assert_eq!(
        r.addresses("v6fail.test", IpFamily::Any).unwrap(),
        [ip("127.0.0.8")]
    );
    // A failing and the other family empty: we cannot tell, so temporary.
    let err = r.addresses("v4fail.test", IpFamily::Any).unwrap_err();
    assert!(matches!(err, DnsError::Temporary { .. }), "{err:?}");
}

#[test]
fn ip_literals_need_no_lookup() {
    let (dns, r) = setup();
    assert_eq!(
        r.addresses("127.0.0.9", IpFamily::Any).unwrap(),
        [ip("127.0.0.9")]
    );
    assert_eq!(
        r.addresses("[127.0.0.9]", IpFamily::Ipv4).unwrap(),
        [ip("127.0.0.9")]
    );
    assert_eq!(
        r.addresses("[IPv6:::1]", IpFamily::Ipv6).unwrap(),
        [ip("::1")]
    );
    let err = r.addresses("::1", IpFamily::Ipv4).unwrap_err();
    assert_eq!(err, DnsError::NoAddresses { name: "::1".into() });
    assert_eq!(dns.queries(), 0);
}

#[test]
fn special_use_names_are_answered_without_a_query() {
    // hickory applies RFC 6761 itself: localhost is loopback, .invalid never exists.
    let (dns, r) = setup();
    let got = r.addresses("localhost", IpFamily::Any).unwrap();
    assert_eq!(got, [ip("127.0.0.1"), ip("::1")]);
    let err = r.mx("nothing.invalid").unwrap_err();
    assert_eq!(
        err,
        DnsError::NxDomain {
            name: "nothing.invalid".into()
        }
    );
    assert_eq!(dns.queries(), 0);
}

#[test]
fn truncated_udp_answer_falls_back_to_tcp() {
    let (_dns, r) = setup();
    let answer = r.mx("big.test").unwrap();
    assert_eq!(answer, MxAnswer::Records(vec![(1, "tcp.mx.test".into())]));
}

#[test]
fn unicode_domain_is_queried_as_punycode() {
    let (_dns, r) = setup();
    let answer = r.mx("bücher.test").unwrap();
    assert_eq!(
        answer,
        MxAnswer::Records(vec![(5, "mx.xn--bcher-kva.test".into())])
    );
}

#[test]
fn invalid_names_are_permanent_and_not_sent() {
    let (dns, r) = setup();
    let long = format!("{}.test", "a".repeat(64));
    for bad in ["", ".", "a..test", long.as_str()] {
        let err = r.mx(bad).unwrap_err();
        assert!(
            matches!(err, DnsError::InvalidName { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.is_permanent());
    }
    assert_eq!(dns.queries(), 0);
}

#[test]
fn answers_are_cached_per_resolver() {
    let (dns, r) = setup();
    r.mx("sorted.test").unwrap();
    r.mx("sorted.test").unwrap();
    assert_eq!(dns.queries(), 1);
}

#[test]
fn four_threads_query_at_once_without_serialising() {
    let (dns, r) = setup();
    let r = Arc::new(r);
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..3 {
                    // Each answer takes 300 ms; distinct names defeat the cache.
                    let got = r.addresses(&format!("slow{t}-{i}.test"), IpFamily::Ipv4);
                    assert_eq!(got.unwrap(), [ip("127.0.0.9")]);
                    let got = r.mx("sorted.test").unwrap();
                    assert!(matches!(got, MxAnswer::Records(ref v) if v.len() == 3));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let took = start.elapsed();
    // Serialised, 12 slow answers would take 3.6 s; in parallel about 0.9 s.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(dns.queries() >= 12);
}

#[test]
fn system_configuration_loads() {
    // Reads /etc/resolv.conf only; sends nothing.
    let r = Resolver::new(None, Duration::from_secs(10));
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn classify_reads_error_kinds() {
    use hickory_resolver::net::{DnsError as HDnsError, NoRecords};
    use hickory_resolver::proto::op::{Query, ResponseCode};
    let query = || Query::query(Name::from_ascii("a.test.").unwrap(), RecordType::MX);
    let negative = |code| NetError::from(HDnsError::NoRecordsFound(NoRecords::new(query(), code)));
    assert_eq!(
        classify(&negative(ResponseCode::NXDomain)),
        Failure::NxDomain
    );
    assert_eq!(classify(&negative(ResponseCode::NoError)), Failure::NoData);
    let servfail = NetError::from(HDnsError::ResponseCode(ResponseCode::ServFail));
    assert!(matches!(classify(&servfail), Failure::Temporary(_)));
    assert!(matches!(classify(&NetError::Timeout), Failure::Silent(_)));
    assert!(matches!(
        classify(&NetError::NoConnections),
        Failure::Silent(_)
    ));
}

#[test]
fn a_dead_dns_server_is_named_and_the_lookup_ends_within_timeout_dns() {
    // A loopback UDP port that was free a moment ago: nothing answers there.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = Resolver::new(Some(dead), TIMEOUT).unwrap();
    let start = Instant::now();
    let err = r.mx("x.test").unwrap_err();
    let took = start.elapsed();
    let want = format!("DNS server {dead} did not answer (connection refused)");
    assert_eq!(
        err,
        DnsError::Temporary {
            name: "x.test".into(),
            detail: want
        }
    );
    assert!(!err.is_permanent());
    // Bounded by timeout_dns (and the probe), generously.
    assert!(took < TIMEOUT * 4, "took {took:?}");
}

#[test]
fn merge_families_table() {
    let t = || Err(Failure::Temporary("x".into()));
    let a = || Ok(vec![ip("127.0.0.1")]);
    let aaaa = || Ok(vec![ip("::1")]);
    type Family = Result<Vec<IpAddr>, Failure>;
    let cases: Vec<(Family, Family, Family)> = vec![
        (a(), aaaa(), Ok(vec![ip("127.0.0.1"), ip("::1")])),
        (a(), Err(Failure::NoData), a()),
        (Err(Failure::NoData), aaaa(), aaaa()),
        (t(), aaaa(), aaaa()),
        (a(), Err(Failure::NxDomain), a()),
        (
            Err(Failure::NxDomain),
            Err(Failure::NxDomain),
            Err(Failure::NxDomain),
        ),
        (Err(Failure::NxDomain), t(), Err(Failure::NxDomain)),
        (Err(Failure::NoData), t(), t()),
        (
            Err(Failure::NoData),
            Err(Failure::NoData),
            Err(Failure::NoData),
        ),
    ];
    for (v4, v6, want) in cases {
        let label = format!("{v4:?} {v6:?}");
        assert_eq!(merge_families(v4, v6), want, "{label}");
    }
}

#[test]
fn errors_read_well() {
    let cases = [
        (
            DnsError::NxDomain {
                name: "a.test".into(),
            },
            "a.test: no such domain (NXDOMAIN)",
        ),
        (
            DnsError::NoAddresses {
                name: "a.test".into(),
            },
            "a.test: no address record (A/AAAA)",
        ),
        (
            DnsError::Temporary {
                name: "a.test".into(),
                detail: "request timed out".into(),
            },
            "a.test: temporary DNS failure (request timed out)",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn anchor_zones_are_the_owners_of_the_anchor_files_keys() {
    let names = |text: &str| -> Vec<String> {
        super::anchor_zones(text)
            .iter()
            .map(|n| n.to_ascii())
            .collect()
    };
    let table: [(&str, &[&str]); 4] = [
        (
            "dane.test. IN DNSKEY 257 3 13 AAAA\ndane.test. IN DNSKEY 256 3 13 BBBB ;{id = 1}\n",
            &["dane.test."],
        ),
        (
            "; comment\n\n$TTL 300\nA.test IN DNSKEY 257 3 13 AA\nb.test. 300 IN DNSKEY 257 3 13 BB\n",
            &["A.test.", "b.test."],
        ),
        (". IN DNSKEY 257 3 8 AA\n", &["."]),
        ("", &[]),
    ];
    for (text, want) in table {
        assert_eq!(names(text), want, "{text:?}");
    }
}
