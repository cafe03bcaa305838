use super::*;
use crate::dns::{Fail, Zone};

/// A zone with records of every kind the evaluator reads.
fn zone() -> Zone {
    Zone::new()
        .txt("ip.test", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")
        .txt("a.test", "v=spf1 a a:other.test/24 ~all")
        .host("a.test", &["198.51.100.1"])
        .host("other.test", &["203.0.113.9"])
        .txt("mx.test", "v=spf1 mx -all")
        .mx("mx.test", &[(10, "mail.mx.test")])
        .host("mail.mx.test", &["198.51.100.25", "2001:db8:25::1"])
        .txt("inc.test", "v=spf1 include:ip.test ?all")
        .txt("redir.test", "v=spf1 redirect=ip.test")
        .txt("softall.test", "v=spf1 ~all")
        .txt("none-inc.test", "v=spf1 include:nothing.test -all")
        .txt("two.test", "v=spf1 -all")
        .txt("two.test", "v=spf1 +all")
        .txt("bad.test", "v=spf1 ip4:300.1.1.1 -all")
        .txt("macro.test", "v=spf1 exists:%{i}.bl.test -all")
        .txt("other-txt.test", "google-site-verification=x")
        .txt("plain.test", "v=spf1")
        .txt("temp.test", "v=spf1 include:broken.test -all")
        .txt_fails("broken.test", Fail::ServerFailure)
        .txt("exists.test", "v=spf1 exists:yes.test -all")
        .host("yes.test", &["127.0.0.2"])
        .txt("void.test", "v=spf1 a:n1.test a:n2.test a:n3.test +all")
        .txt("deep.test", &deep())
        .txt(
            "nomatch-redirect.test",
            "v=spf1 ip4:10.0.0.1 redirect=none.test",
        )
}

/// Eleven DNS-querying terms: one too many.
fn deep() -> String {
    let mut r = "v=spf1".to_string();
    for _ in 0..11 {
        r.push_str(" a:a.test");
    }
    r + " -all"
}

#[test]
fn results_for_every_mechanism_and_limit() {
    let zone = zone();
    let perm = |s: &str| SpfResult::PermError(s.into());
    let cases: &[(&str, &str, SpfResult, Option<&str>)] = &[
        (
            "ip.test",
            "192.0.2.77",
            SpfResult::Pass,
            Some("ip4:192.0.2.0/24"),
        ),
        (
            "ip.test",
            "2001:db8::5",
            SpfResult::Pass,
            Some("ip6:2001:db8::/32"),
        ),
        ("ip.test", "198.51.100.1", SpfResult::Fail, Some("-all")),
        ("a.test", "198.51.100.1", SpfResult::Pass, Some("a")),
        (
            "a.test",
            "203.0.113.200",
            SpfResult::Pass,
            Some("a:other.test/24"),
        ),
        ("a.test", "203.0.114.1", SpfResult::SoftFail, Some("~all")),
        ("mx.test", "198.51.100.25", SpfResult::Pass, Some("mx")),
        ("mx.test", "2001:db8:25::1", SpfResult::Pass, Some("mx")),
        ("mx.test", "198.51.100.26", SpfResult::Fail, Some("-all")),
        (
            "inc.test",
            "192.0.2.1",
            SpfResult::Pass,
            Some("include:ip.test"),
        ),
        ("inc.test", "10.1.1.1", SpfResult::Neutral, Some("?all")),
        (
            "redir.test",
            "192.0.2.1",
            SpfResult::Pass,
            Some("ip4:192.0.2.0/24"),
        ),
        ("redir.test", "10.1.1.1", SpfResult::Fail, Some("-all")),
        (
            "softall.test",
            "10.1.1.1",
            SpfResult::SoftFail,
            Some("~all"),
        ),
        ("plain.test", "10.1.1.1", SpfResult::Neutral, None),
        (
            "exists.test",
            "10.1.1.1",
            SpfResult::Pass,
            Some("exists:yes.test"),
        ),
        ("nosuch.test", "10.1.1.1", SpfResult::None, None),
        ("other-txt.test", "10.1.1.1", SpfResult::None, None),
        (
            "none-inc.test",
            "10.1.1.1",
            perm("include:nothing.test, which has no SPF record"),
            None,
        ),
        (
            "two.test",
            "10.1.1.1",
            perm("two.test has 2 SPF records; there must be one"),
            None,
        ),
        (
            "bad.test",
            "10.1.1.1",
            perm("bad.test: \"ip4:300.1.1.1\" is not an SPF mechanism"),
            None,
        ),
        (
            "macro.test",
            "10.1.1.1",
            perm(
                "macro.test: \"%{i}.bl.test\" uses SPF macros, which qksmtp doctor does not evaluate",
            ),
            None,
        ),
        (
            "deep.test",
            "10.9.9.9",
            perm("more than 10 DNS lookups (RFC 7208 §4.6.4)"),
            None,
        ),
        (
            "void.test",
            "10.9.9.9",
            perm("more than 2 lookups found nothing (RFC 7208 §4.6.4)"),
            None,
        ),
        (
            "nomatch-redirect.test",
            "10.9.9.9",
            perm("redirect to none.test, which has no SPF"),
            None,
        ),
    ];
    for (domain, ip, want, matched) in cases {
        let got = evaluate(&zone, Some(ip.parse().unwrap()), domain);
        assert_eq!(got.result.as_ref(), Some(want), "{domain} {ip}: {got:?}");
        assert_eq!(got.matched.as_deref(), *matched, "{domain} {ip}");
    }
    let temp = evaluate(&zone, Some("10.1.1.1".parse().unwrap()), "temp.test");
    assert!(
        matches!(&temp.result, Some(SpfResult::TempError(e)) if e.contains("SERVFAIL")),
        "{temp:?}"
    );
}

#[test]
fn without_an_address_only_the_record_is_checked() {
    let zone = zone();
    let ok = evaluate(&zone, None, "ip.test");
    assert_eq!(
        (ok.record.as_deref(), ok.result),
        (Some("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"), None)
    );
    let bad = evaluate(&zone, None, "bad.test");
    assert!(
        matches!(bad.result, Some(SpfResult::PermError(_))),
        "{bad:?}"
    );
    assert_eq!(evaluate(&zone, None, "nosuch.test").record, None);
}

#[test]
fn networks() {
    let cases = [
        ("192.0.2.1", "192.0.2.0", 24, true),
        ("192.0.3.1", "192.0.2.0", 24, false),
        ("10.0.0.1", "0.0.0.0", 0, true),
        ("2001:db8::1", "2001:db8::", 64, true),
        ("2001:db9::1", "2001:db8::", 32, false),
        ("192.0.2.1", "2001:db8::", 0, false),
    ];
    for (ip, net, len, want) in cases {
        assert_eq!(
            in_network(ip.parse().unwrap(), net.parse().unwrap(), len),
            want,
            "{ip} in {net}/{len}"
        );
    }
}
