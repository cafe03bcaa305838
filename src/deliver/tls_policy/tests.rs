//! The decision table: configured level x MTA-STS policy x TLSA records x MX host.

use super::*;
use std::time::Duration;

fn policy(mode: Mode) -> Policy {
    Policy {
        mode,
        mx: vec!["mx1.example.test".into(), "*.mx.example.test".into()],
        max_age: Duration::from_secs(86400),
    }
}

fn tlsa(usage: u8) -> Tlsa {
    Tlsa {
        usage,
        selector: 1,
        matching: 1,
        data: vec![1; 32],
    }
}

#[test]
fn decisions() {
    use TlsLevel as L;
    let enforce = policy(Mode::Enforce);
    let testing = policy(Mode::Testing);
    let none = policy(Mode::None);
    let ee = [tlsa(3)];
    let pkix_only = [tlsa(1)];
    let opportunistic = Decision::Use(plain(TlsPolicy::Opportunistic));
    let dane = |r: &[Tlsa]| {
        let check = Check::Dane {
            records: Arc::from(r.to_vec()),
            port: 25,
        };
        Decision::Use(required(check, Demand::Dane))
    };
    let sts_enforce = Decision::Use(required(Check::Pkix, Demand::MtaSts { enforce: true }));
    let sts_testing = Secure {
        check: Check::Pkix,
        enforce: false,
        demand: Demand::MtaSts { enforce: false },
        ..plain(TlsPolicy::Opportunistic)
    };
    let unmatched = "MTA-STS: mx2.example.test does not match the policy".to_string();
    type Case<'a> = (
        TlsLevel,
        Option<&'a Policy>,
        Option<&'a [Tlsa]>,
        &'a str,
        Decision,
    );
    let cases: Vec<Case> = vec![
        // Nothing published: opportunistic, whatever auto, mta-sts or dane say.
        (
            L::Auto,
            None,
            None,
            "mx1.example.test",
            opportunistic.clone(),
        ),
        (
            L::MtaSts,
            None,
            None,
            "mx1.example.test",
            opportunistic.clone(),
        ),
        (
            L::Dane,
            None,
            None,
            "mx1.example.test",
            opportunistic.clone(),
        ),
        (
            L::Auto,
            None,
            Some(&[]),
            "mx1.example.test",
            opportunistic.clone(),
        ),
        // MTA-STS enforce: matching hosts with a verified certificate, others refused.
        (
            L::Auto,
            Some(&enforce),
            None,
            "mx1.example.test",
            sts_enforce.clone(),
        ),
        (
            L::Auto,
            Some(&enforce),
            None,
            "a.mx.example.test.",
            sts_enforce.clone(),
        ),
        (
            L::Auto,
            Some(&enforce),
            None,
            "mx2.example.test",
            Decision::Refuse(Demand::MtaSts { enforce: true }, unmatched.clone()),
        ),
        (
            L::MtaSts,
            Some(&enforce),
            None,
            "mx2.example.test.",
            Decision::Refuse(Demand::MtaSts { enforce: true }, unmatched.clone()),
        ),
        // testing: as today, checks only noted; none: as if no policy.
        (
            L::Auto,
            Some(&testing),
            None,
            "mx1.example.test",
            Decision::Use(sts_testing.clone()),
        ),
        (
            L::Auto,
            Some(&testing),
            None,
            "mx2.example.test",
            Decision::Noting(sts_testing, unmatched),
        ),
        (
            L::Auto,
            Some(&none),
            None,
            "mx2.example.test",
            opportunistic.clone(),
        ),
        // DANE wins over MTA-STS.
        (
            L::Auto,
            Some(&enforce),
            Some(&ee),
            "mx2.example.test",
            dane(&ee),
        ),
        (
            L::Dane,
            Some(&enforce),
            Some(&ee),
            "mx1.example.test",
            dane(&ee),
        ),
        (
            L::Dane,
            Some(&enforce),
            None,
            "mx2.example.test",
            opportunistic.clone(),
        ),
        // Signed records, none usable: TLS still mandatory, unauthenticated.
        (
            L::Auto,
            None,
            Some(&pkix_only),
            "mx1.example.test",
            Decision::Use(required(Check::Nothing, Demand::Dane)),
        ),
        // mta-sts ignores TLSA records.
        (
            L::MtaSts,
            Some(&enforce),
            Some(&ee),
            "mx1.example.test",
            sts_enforce,
        ),
        (
            L::MtaSts,
            None,
            Some(&ee),
            "mx1.example.test",
            opportunistic.clone(),
        ),
        // Fixed levels ignore what the domain publishes.
        (
            L::Verify,
            Some(&enforce),
            Some(&ee),
            "mx2.example.test",
            Decision::Use(required(Check::Pkix, Demand::Verify)),
        ),
        (
            L::Encrypt,
            Some(&enforce),
            None,
            "mx2.example.test",
            Decision::Use(required(Check::Nothing, Demand::Encrypt)),
        ),
        (
            L::Opportunistic,
            Some(&enforce),
            Some(&ee),
            "mx2.example.test",
            opportunistic,
        ),
        (
            L::None,
            Some(&enforce),
            Some(&ee),
            "mx1.example.test",
            Decision::Use(plain(TlsPolicy::Never)),
        ),
    ];
    for (level, sts, records, host, want) in cases {
        assert_eq!(
            decide(level, sts, records, (host, 25)),
            want,
            "{level:?} {sts:?} {records:?} {host}"
        );
    }
}

#[test]
fn enforced_checks_never_fall_back_to_plain_text() {
    // A check that fails must not be retried in plain text: every enforced check comes with
    // STARTTLS required.
    let enforce = policy(Mode::Enforce);
    for level in [
        TlsLevel::Auto,
        TlsLevel::MtaSts,
        TlsLevel::Dane,
        TlsLevel::Verify,
    ] {
        for records in [None, Some(&[tlsa(3)][..]), Some(&[tlsa(0)][..])] {
            if let Decision::Use(s) | Decision::Noting(s, _) =
                decide(level, Some(&enforce), records, ("mx1.example.test", 25))
                && s.enforce
                && s.check != Check::Nothing
            {
                assert_eq!(s.mode, TlsPolicy::Required, "{level:?} {records:?}");
            }
        }
    }
}

#[test]
fn what_each_route_looks_up() {
    use Origin::{Fixed, Mx, Relay};
    use TlsLevel as L;
    let asks_for = |sts, dane| Asks { sts, dane };
    // (level, origin, dnssec) -> (MTA-STS policy, TLSA records)
    let cases = [
        (L::Auto, Mx, true, asks_for(true, true)),
        (L::Auto, Mx, false, asks_for(true, false)),
        (L::MtaSts, Mx, true, asks_for(true, false)),
        (L::Dane, Mx, true, asks_for(false, true)),
        // A fixed route (Postfix's [host] nexthop) and a relay: the domain's MTA-STS policy
        // names its MX hosts, never these; DANE with the host's own TLSA records.
        (L::Auto, Fixed, true, asks_for(false, true)),
        (L::Auto, Fixed, false, asks_for(false, false)),
        (L::Dane, Fixed, true, asks_for(false, true)),
        (L::MtaSts, Fixed, true, asks_for(false, false)),
        (L::Auto, Relay, true, asks_for(false, true)),
        (L::Dane, Relay, true, asks_for(false, true)),
        (L::Dane, Relay, false, asks_for(false, false)),
        // Fixed levels look nothing up.
        (L::Verify, Mx, true, asks_for(false, false)),
        (L::Encrypt, Fixed, true, asks_for(false, false)),
        (L::Opportunistic, Relay, true, asks_for(false, false)),
        (L::None, Mx, true, asks_for(false, false)),
    ];
    for (level, origin, dnssec, want) in cases {
        assert_eq!(
            asks(level, origin, dnssec),
            want,
            "{level:?} {origin:?} {dnssec}"
        );
    }
}

#[test]
fn fixed_routes_decide_by_their_own_port() {
    // A fixed route has no MTA-STS policy (None): DANE with the records of its port, else
    // opportunistic; signed but unusable records still make TLS mandatory.
    let ee = [tlsa(3)];
    let got = decide(TlsLevel::Auto, None, Some(&ee), ("smtp.hub.test", 2525));
    let check = Check::Dane {
        records: Arc::from(ee.to_vec()),
        port: 2525,
    };
    assert_eq!(got, Decision::Use(required(check, Demand::Dane)));
    let got = decide(TlsLevel::Dane, None, None, ("smtp.hub.test", 2525));
    assert_eq!(got, Decision::Use(plain(TlsPolicy::Opportunistic)));
    let got = decide(
        TlsLevel::Auto,
        None,
        Some(&[tlsa(0)]),
        ("smtp.hub.test", 2525),
    );
    assert_eq!(got, Decision::Use(required(Check::Nothing, Demand::Dane)));
}

#[test]
fn relays_take_dane_over_their_settings() {
    use crate::config::RelayTls;
    let ee = [tlsa(3)];
    let unusable = [tlsa(1)];
    let dane = |mode| Secure {
        mode,
        check: Check::Dane {
            records: Arc::from(ee.to_vec()),
            port: 465,
        },
        enforce: true,
        demand: Demand::Dane,
        ca_file: None,
    };
    let base = |tls, verify, level| Secure::for_relay(tls, verify, level, None);
    type Case<'a> = (Secure, Option<&'a [Tlsa]>, Secure);
    let cases: Vec<Case> = vec![
        // Usable records: DANE, implicit TLS kept, STARTTLS required.
        (
            base(RelayTls::Tls, true, TlsLevel::Auto),
            Some(&ee),
            dane(TlsPolicy::Implicit),
        ),
        (
            base(RelayTls::StartTls, false, TlsLevel::Dane),
            Some(&ee),
            dane(TlsPolicy::Required),
        ),
        // None, or none usable: the relay's own settings (TLS already required).
        (
            base(RelayTls::StartTls, true, TlsLevel::Auto),
            None,
            base(RelayTls::StartTls, true, TlsLevel::Auto),
        ),
        (
            base(RelayTls::StartTls, false, TlsLevel::Auto),
            Some(&unusable),
            base(RelayTls::StartTls, false, TlsLevel::Auto),
        ),
        // TLS off by the configuration stays off.
        (
            base(RelayTls::None, true, TlsLevel::Auto),
            Some(&ee),
            base(RelayTls::None, true, TlsLevel::Auto),
        ),
    ];
    for (base, records, want) in cases {
        let shown = format!("{base:?} {records:?}");
        assert_eq!(for_relay(base, records, 465), want, "{shown}");
    }
}
