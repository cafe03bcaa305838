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
    let dane =
        |r: &[Tlsa]| Decision::Use(required(Check::Dane(Arc::from(r.to_vec())), Demand::Dane));
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
            Decision::Refuse(unmatched.clone()),
        ),
        (
            L::MtaSts,
            Some(&enforce),
            None,
            "mx2.example.test.",
            Decision::Refuse(unmatched.clone()),
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
            decide(level, sts, records, host),
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
                decide(level, Some(&enforce), records, "mx1.example.test")
                && s.enforce
                && s.check != Check::Nothing
            {
                assert_eq!(s.mode, TlsPolicy::Required, "{level:?} {records:?}");
            }
        }
    }
}
