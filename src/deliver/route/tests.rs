//! Table tests of routing against an in-memory DNS zone: which servers, in which order, on
//! which port, how to talk to them, and what the DNS steps write to the record.

use super::*;
use crate::client::AuthMechanism;
use crate::dns::{Fail, Zone};
use crate::outcome::Verdict;

const INI: &str = "[delivery]\nip_family = ipv4\nhelo_name = client.test\n\
                   [domain:fixed.test]\nmx = 127.0.0.5:2525, mx2.fixed.test\n\
                   [domain:v6.test]\nip_family = ipv6\n\
                   [relay:isp]\nhost = smtp.isp.test\nport = 587\ntls = starttls\n\
                   auth = login\nusername = u\npassword = secret\n";

/// Everything through one server, address literals included.
const ALL_FIXED: &str = "[domain:*]\nmx = 127.0.0.7\n";

fn config(ini: &str) -> Config {
    let path = std::path::Path::new("/q/qksmtp.ini");
    let (config, _) =
        crate::config::load::parse(ini, path, "host.test").unwrap_or_else(|e| panic!("{e:?}"));
    config
}

fn zone() -> Zone {
    Zone::new()
        .mx("a.test", &[(20, "b.mx.test."), (10, "a.mx.test")])
        .mx("bare.test", &[])
        .mx("null.test", &[(0, ".")])
        .mx("v6.test", &[(10, "mx.v6.test")])
        .mx_fails("nx.test", Fail::NxDomain)
        .mx_fails("servfail.test", Fail::ServerFailure)
        .mx_fails("slow.test", Fail::Timeout)
        .host("mx.v6.test", &["127.0.0.3", "::1"])
}

/// The DNS steps of a record: (ok, detail).
fn dns_steps(record: &Record) -> Vec<(bool, &str)> {
    record
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Dns)
        .map(|s| (s.ok, s.detail.as_str()))
        .collect()
}

/// A DNS step of the record: (ok, detail).
type DnsStep<'a> = (bool, &'a str);
type Servers<'a> = Result<&'a [(&'a str, u16)], Verdict>;
/// (INI, destination, the servers or the outcome's verdict, the DNS steps written)
type TargetCase<'a> = (&'a str, Dest, Servers<'a>, &'a [DnsStep<'a>]);

#[test]
fn targets_table() {
    let direct = |d: &str| Dest::Direct(d.to_string());
    let cases: &[TargetCase] = &[
        (INI, Dest::Relay(0), Ok(&[("smtp.isp.test", 587)]), &[]),
        (
            INI,
            direct("fixed.test"),
            Ok(&[("127.0.0.5", 2525), ("mx2.fixed.test", 25)]),
            &[],
        ),
        (
            ALL_FIXED,
            direct("[192.0.2.1]"),
            Ok(&[("127.0.0.7", 25)]),
            &[],
        ),
        (INI, direct("[192.0.2.1]"), Ok(&[("192.0.2.1", 25)]), &[]),
        (INI, direct("[IPv6:::1]"), Ok(&[("::1", 25)]), &[]),
        (
            INI,
            direct("a.test"),
            Ok(&[("a.mx.test", 25), ("b.mx.test", 25)]),
            &[(true, "MX a.test: a.mx.test, b.mx.test")],
        ),
        (
            INI,
            direct("bare.test"),
            Ok(&[("bare.test", 25)]),
            &[(
                true,
                "MX bare.test: none, using the domain itself (implicit MX)",
            )],
        ),
        (
            INI,
            direct("null.test"),
            Err(Verdict::Permanent),
            &[(false, "MX null.test: null MX, the domain accepts no mail")],
        ),
        (
            INI,
            direct("nx.test"),
            Err(Verdict::Permanent),
            &[(false, "MX nx.test: nx.test: no such domain (NXDOMAIN)")],
        ),
        (
            INI,
            direct("servfail.test"),
            Err(Verdict::Temporary),
            &[(
                false,
                "MX servfail.test: servfail.test: temporary DNS failure (server failure (SERVFAIL))",
            )],
        ),
        (
            INI,
            direct("slow.test"),
            Err(Verdict::Temporary),
            &[(
                false,
                "MX slow.test: slow.test: temporary DNS failure (no answer within 20s)",
            )],
        ),
    ];
    for (ini, dest, want, want_steps) in cases {
        let zone = zone();
        let mut record = Record::new();
        let got = targets(dest, &config(ini), &zone, None, &mut record);
        let got = got
            .as_ref()
            .map(|ts| {
                ts.iter()
                    .map(|t| (t.host.as_str(), t.port))
                    .collect::<Vec<_>>()
            })
            .map_err(|o| (o.verdict, o.step));
        let want = want
            .map(|servers| servers.to_vec())
            .map_err(|verdict| (verdict, StepKind::Dns));
        assert_eq!(got, want, "{dest:?}");
        assert_eq!(dns_steps(&record), *want_steps, "{dest:?}");
        // Only a DNS route asks the DNS, and only for the domain's MX records (never for
        // addresses: that is the connection's step).
        let asked: Vec<String> = match dest {
            Dest::Direct(d) if !want_steps.is_empty() => vec![format!("MX {d}")],
            _ => vec![],
        };
        assert_eq!(zone.asked(), asked, "{dest:?}");
    }
}

#[test]
fn a_relay_is_one_target_with_its_port_tls_and_login() {
    let mut record = Record::new();
    let targets = targets(&Dest::Relay(0), &config(INI), &zone(), None, &mut record).unwrap();
    let [relay] = &targets[..] else {
        panic!("one target");
    };
    assert_eq!(relay.label, "relay isp");
    assert_eq!(relay.settings.tls.mode, crate::client::TlsPolicy::Required);
    assert_eq!(relay.settings.tls.check, crate::client::Check::Pkix);
    assert_eq!(relay.settings.helo_name, "client.test");
    let auth = relay.settings.auth.as_ref().unwrap();
    assert_eq!(
        (
            auth.username.as_str(),
            auth.password.as_str(),
            auth.mechanism
        ),
        ("u", "secret", Some(AuthMechanism::Login))
    );
    assert_eq!(relay.family, IpFamily::Ipv4);
}

#[test]
fn mx_hosts_are_tried_by_preference_with_ties_in_any_order() {
    let zone = Zone::new().mx(
        "ties.test",
        &[
            (20, "b1.test"),
            (10, "a1.test"),
            (5, "first.test"),
            (10, "a2.test"),
            (20, "b2.test"),
            (10, "a3.test"),
        ],
    );
    let config = config(INI);
    for _ in 0..20 {
        let mut record = Record::new();
        let dest = Dest::Direct("ties.test".into());
        let targets = targets(&dest, &config, &zone, None, &mut record).unwrap();
        let hosts: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts[0], "first.test");
        let mut middle = hosts[1..4].to_vec();
        middle.sort();
        assert_eq!(middle, ["a1.test", "a2.test", "a3.test"]);
        let mut last = hosts[4..].to_vec();
        last.sort();
        assert_eq!(last, ["b1.test", "b2.test"]);
        // The record names them in the order they will be tried.
        let detail = format!("MX ties.test: {}", hosts.join(", "));
        assert_eq!(dns_steps(&record), [(true, detail.as_str())]);
    }
}

#[test]
fn the_rules_ip_family_overrides_the_delivery_one() {
    let config = config(INI);
    let cases = [
        ("v6.test", IpFamily::Ipv6),
        ("a.test", IpFamily::Ipv4),
        ("fixed.test", IpFamily::Ipv4),
    ];
    for (domain, want) in cases {
        let mut record = Record::new();
        let dest = Dest::Direct(domain.into());
        let targets = targets(&dest, &config, &zone(), None, &mut record).unwrap();
        assert!(targets.iter().all(|t| t.family == want), "{domain}");
        assert!(
            targets
                .iter()
                .all(|t| t.settings.tls == crate::client::Secure::opportunistic()),
            "{domain}"
        );
    }
}

fn target(host: &str, family: IpFamily) -> Target {
    let mut config = config(INI);
    config.delivery.ip_family = family;
    let mut record = Record::new();
    let dest = Dest::Direct("[127.0.0.1]".into());
    let mut t = targets(&dest, &config, &zone(), None, &mut record)
        .unwrap()
        .remove(0);
    t.host = host.into();
    t
}

#[test]
fn addresses_table() {
    let zone = Zone::new()
        .host("both.test", &["127.0.0.3", "::1", "127.0.0.4"])
        .host("v4.test", &["127.0.0.5"])
        .host_fails("nx.test", Fail::NxDomain)
        .host_fails("sf.test", Fail::ServerFailure);
    type Want<'a> = Result<&'a [&'a str], Verdict>;
    let cases: &[(&str, IpFamily, Want, Option<DnsStep>)] = &[
        (
            "both.test",
            IpFamily::Any,
            Ok(&["127.0.0.3", "127.0.0.4", "::1"]),
            Some((true, "both.test: 127.0.0.3, 127.0.0.4, ::1")),
        ),
        (
            "both.test",
            IpFamily::Ipv6,
            Ok(&["::1"]),
            Some((true, "both.test: ::1")),
        ),
        (
            "v4.test",
            IpFamily::Ipv6,
            Err(Verdict::Permanent),
            Some((false, "v4.test: v4.test: no address record (A/AAAA)")),
        ),
        (
            "nx.test",
            IpFamily::Any,
            Err(Verdict::Permanent),
            Some((false, "nx.test: nx.test: no such domain (NXDOMAIN)")),
        ),
        (
            "sf.test",
            IpFamily::Any,
            Err(Verdict::Temporary),
            Some((
                false,
                "sf.test: sf.test: temporary DNS failure (server failure (SERVFAIL))",
            )),
        ),
        // A literal needs no lookup and writes no step.
        ("127.0.0.9", IpFamily::Any, Ok(&["127.0.0.9"]), None),
    ];
    for (host, family, want, step) in cases {
        let mut record = Record::new();
        let got = addresses(&target(host, *family), &zone, &mut record)
            .map(|ips| ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>())
            .map_err(|o| o.verdict);
        let want = want.map(|ips| ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>());
        assert_eq!(got, want, "{host} {family:?}");
        assert_eq!(
            dns_steps(&record),
            step.iter().copied().collect::<Vec<_>>(),
            "{host}"
        );
    }
}

#[test]
fn route_names() {
    let addr: SocketAddr = "127.0.0.2:25".parse().unwrap();
    let mx = target("mx1.example.test", IpFamily::Any);
    assert_eq!(route_name(&mx, addr), "mx1.example.test [127.0.0.2]:25");
    let mut record = Record::new();
    let relay = targets(&Dest::Relay(0), &config(INI), &zone(), None, &mut record)
        .unwrap()
        .remove(0);
    let addr: SocketAddr = "127.0.0.9:587".parse().unwrap();
    assert_eq!(
        route_name(&relay, addr),
        "relay isp (smtp.isp.test [127.0.0.9]:587)"
    );
}

#[test]
fn dane_applies_to_signed_mx_hosts_with_signed_tlsa_records() {
    use crate::client::{Check, TlsPolicy};
    use crate::dns::Tlsa;
    let ee = Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: vec![0xab; 32],
    };
    let zone = Zone::new()
        .mx(
            "dane.test",
            &[
                (10, "a.mx.dane.test"),
                (20, "b.mx.dane.test"),
                (30, "c.mx.dane.test"),
            ],
        )
        .signed("dane.test")
        .signed("a.mx.dane.test")
        .signed("b.mx.dane.test")
        .signed("c.mx.dane.test")
        .tlsa("_25._tcp.a.mx.dane.test", Ok(vec![ee.clone()]))
        .tlsa("_25._tcp.c.mx.dane.test", Err(Fail::ServerFailure))
        .mx("plain.test", &[(10, "a.mx.dane.test")]);
    let on = config("[delivery]\ndnssec = yes\n");
    let mut record = Record::new();
    let dest = Dest::Direct("dane.test".into());
    let t = targets(&dest, &on, &zone, None, &mut record).unwrap();
    assert_eq!(t[0].settings.tls.mode, TlsPolicy::Required);
    assert_eq!(
        t[0].settings.tls.check,
        Check::Dane {
            records: std::sync::Arc::from(vec![ee]),
            port: 25
        }
    );
    assert_eq!(
        t[1].settings.tls,
        crate::client::Secure::opportunistic(),
        "no TLSA: as before"
    );
    let why = "DANE: TLSA _25._tcp.c.mx.dane.test: _25._tcp.c.mx.dane.test: temporary DNS \
               failure (server failure (SERVFAIL))";
    assert_eq!(t[2].refused.as_deref(), Some(why));
    let steps = dns_steps(&record);
    assert!(
        steps.contains(&(true, "MX dane.test: signed (DNSSEC): DANE applies")),
        "{steps:?}"
    );
    let a = format!(
        "TLSA _25._tcp.a.mx.dane.test: 3 1 1 {} (DNSSEC-signed)",
        "ab".repeat(32)
    );
    assert!(steps.contains(&(true, a.as_str())), "{steps:?}");
    assert!(steps.contains(&(false, why)), "{steps:?}");

    // An unsigned MX answer: no DANE, the TLSA records are not even asked for.
    let tlsa_asked = || {
        zone.asked()
            .iter()
            .filter(|q| q.starts_with("TLSA"))
            .count()
    };
    let before = tlsa_asked();
    let mut record = Record::new();
    let dest = Dest::Direct("plain.test".into());
    let t = targets(&dest, &on, &zone, None, &mut record).unwrap();
    assert_eq!(t[0].settings.tls, crate::client::Secure::opportunistic());
    assert_eq!(tlsa_asked(), before);
    // dnssec = no (the default): nothing of DANE.
    let off = config("");
    let t = targets(
        &Dest::Direct("dane.test".into()),
        &off,
        &zone,
        None,
        &mut Record::new(),
    )
    .unwrap();
    assert_eq!(t[0].settings.tls, crate::client::Secure::opportunistic());
}

/// RFC 7672 §2.2.2: of a signed MX answer, only hosts whose addresses are signed get DANE;
/// an unsigned (insecure) host is delivered to as without DANE, with no TLSA lookup; a host
/// whose addresses are bogus is not used.
#[test]
fn dane_applies_to_mx_hosts_only_with_signed_addresses() {
    use crate::client::{Check, Secure, TlsPolicy};
    use crate::dns::Tlsa;
    let ee = Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: vec![0xef; 32],
    };
    let dane = Secure {
        mode: TlsPolicy::Required,
        check: Check::Dane {
            records: std::sync::Arc::from(vec![ee.clone()]),
            port: 25,
        },
        demand: Demand::Dane,
        ..Secure::opportunistic()
    };
    let zone = Zone::new()
        .mx(
            "mixed.test",
            &[
                (10, "signed.mixed.test"),
                (20, "mx.unsigned.test"),
                (30, "forged.mixed.test"),
            ],
        )
        .signed("mixed.test")
        .signed("signed.mixed.test")
        .tlsa("_25._tcp.signed.mixed.test", Ok(vec![ee.clone()]))
        // Published, but not to be asked: the host's addresses are not signed.
        .tlsa("_25._tcp.mx.unsigned.test", Ok(vec![ee.clone()]))
        .bogus("forged.mixed.test")
        .tlsa("_25._tcp.forged.mixed.test", Ok(vec![ee.clone()]));
    let on = config("[delivery]\ndnssec = yes\n");
    let mut record = Record::new();
    let dest = Dest::Direct("mixed.test".into());
    let t = targets(&dest, &on, &zone, None, &mut record).unwrap();
    let forged = "DANE: addresses of forged.mixed.test: forged.mixed.test: temporary DNS \
                  failure (server failure (SERVFAIL))";
    // (host, TLS settings, why it is not used, the step about its addresses)
    let cases = [
        (
            "signed.mixed.test",
            dane.clone(),
            None,
            (
                true,
                "signed.mixed.test: addresses signed (DNSSEC): DANE applies",
            ),
        ),
        (
            "mx.unsigned.test",
            Secure::opportunistic(),
            None,
            (
                true,
                "mx.unsigned.test: addresses not DNSSEC-signed: no DANE",
            ),
        ),
        (
            "forged.mixed.test",
            Secure {
                demand: Demand::Dane,
                ..Secure::opportunistic()
            },
            Some(forged),
            (false, forged),
        ),
    ];
    let steps = dns_steps(&record);
    assert_eq!(t.len(), cases.len());
    for (target, (host, tls, refused, step)) in t.iter().zip(cases) {
        assert_eq!(target.host, host);
        assert_eq!(target.settings.tls, tls, "{host}");
        assert_eq!(target.refused.as_deref(), refused, "{host}");
        assert!(steps.contains(&step), "{host}: {steps:?}");
    }
    let asked = zone.asked();
    assert!(asked.iter().any(|q| q == "TLSA _25._tcp.signed.mixed.test"));
    for host in ["mx.unsigned.test", "forged.mixed.test"] {
        let q = format!("TLSA _25._tcp.{host}");
        assert!(!asked.contains(&q), "{q}: {asked:?}");
    }
}

#[test]
fn dane_applies_to_fixed_routes_and_relays_with_signed_addresses() {
    use crate::client::{Check, TlsPolicy};
    use crate::dns::Tlsa;
    let ee = Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: vec![0xcd; 32],
    };
    let dane = |port| Check::Dane {
        records: std::sync::Arc::from(vec![ee.clone()]),
        port,
    };
    let zone = Zone::new()
        .signed("hub.signed.test")
        .tlsa("_2525._tcp.hub.signed.test", Ok(vec![ee.clone()]))
        .tlsa("_465._tcp.hub.signed.test", Ok(vec![ee.clone()]))
        .tlsa("_25._tcp.open.test", Ok(vec![ee.clone()]))
        .signed("broken.signed.test")
        .tlsa("_25._tcp.broken.signed.test", Err(Fail::ServerFailure))
        .txt("_mta-sts.fixed.test", "v=STSv1; id=1")
        .bogus("forged.signed.test");
    let never = |_: &str, _: &dyn Lookup, _: &Config| -> Result<String, String> {
        panic!("a fixed route's MTA-STS policy is never fetched")
    };
    let store = Store::with_fetcher(std::path::Path::new("/nonexistent"), Box::new(never));
    let ini = "[delivery]\ndnssec = yes\n\
               [domain:fixed.test]\n\
               mx = hub.signed.test:2525, open.test, broken.signed.test, forged.signed.test\n\
               [relay:hub]\nhost = hub.signed.test\ntls = tls\ntls_verify = no\n\
               [relay:off]\nhost = hub.signed.test\nport = 465\ntls = none\n\
               [relay:forged]\nhost = forged.signed.test\n";
    let on = config(ini);
    let mut record = Record::new();
    let dest = Dest::Direct("fixed.test".into());
    let t = targets(&dest, &on, &zone, Some(&store), &mut record).unwrap();
    assert!(
        !zone.asked().iter().any(|q| q.contains("_mta-sts")),
        "{:?}",
        zone.asked()
    );
    // Signed addresses: the TLSA records of the configured port.
    assert_eq!(t[0].settings.tls.mode, TlsPolicy::Required);
    assert_eq!(t[0].settings.tls.check, dane(2525));
    // Unsigned addresses: no TLSA lookup, as before.
    assert_eq!(t[1].settings.tls, crate::client::Secure::opportunistic());
    assert!(!zone.asked().iter().any(|q| q == "TLSA _25._tcp.open.test"));
    // A TLSA lookup that fails: the server is not used, and DANE is whose requirement.
    assert!(t[2].refused.is_some());
    assert_eq!(t[2].settings.tls.demand, Demand::Dane);
    // Addresses that fail validation (bogus): not used either, as a bogus MX answer.
    let forged = "DANE: addresses of forged.signed.test: forged.signed.test: temporary DNS \
                  failure (server failure (SERVFAIL))";
    assert_eq!(t[3].refused.as_deref(), Some(forged));
    assert_eq!(t[3].settings.tls.demand, Demand::Dane);
    let steps = dns_steps(&record);
    for want in [
        "fixed route for fixed.test: its MTA-STS policy is not looked up (it names the \
         domain's MX hosts, and the configuration names the server)",
        "hub.signed.test: addresses signed (DNSSEC): DANE applies",
        "open.test: addresses not DNSSEC-signed: no DANE",
    ] {
        assert!(steps.contains(&(true, want)), "{want}: {steps:?}");
    }

    // A relay with implicit TLS: DANE on its port, over tls_verify = no.
    let relay = targets(&Dest::Relay(0), &on, &zone, None, &mut Record::new()).unwrap();
    assert_eq!(relay[0].settings.tls.mode, TlsPolicy::Implicit);
    assert_eq!(relay[0].settings.tls.check, dane(465));
    assert_eq!(relay[0].settings.tls.demand, Demand::Dane);
    // tls = none: nothing asked, TLS stays off.
    let off = targets(&Dest::Relay(1), &on, &zone, None, &mut Record::new()).unwrap();
    assert_eq!(off[0].settings.tls.mode, TlsPolicy::Never);
    let relay = targets(&Dest::Relay(2), &on, &zone, None, &mut Record::new()).unwrap();
    assert_eq!(relay[0].refused.as_deref(), Some(forged));
    // dnssec = no: nothing of DANE for either.
    let plain = config(&ini.replace("dnssec = yes", "dnssec = no"));
    let t = targets(&dest, &plain, &zone, None, &mut Record::new()).unwrap();
    assert_eq!(t[0].settings.tls, crate::client::Secure::opportunistic());
}
