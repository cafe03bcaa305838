//! MTA-STS (RFC 8461, issue 16) end to end: the domains' MX, TXT and address records from a
//! real DNS server (dnsmasq, on a free loopback port), their policies from an HTTPS server on port 443 with a
//! certificate of the test's CA (given to qksmtp by `tls_ca_file`), and fake MXs on port 25
//! of their own loopback addresses (as MX hosts found through DNS are). Root is needed for
//! the ports, as in CI.

mod common;

use common::dnsmasq::{Dnsmasq, Rr};
use common::fake_mx::FakeMx;
use common::https::{HttpsServer, text_plain};
use common::*;

const MSG: &str = "From: a@sender.test\r\nSubject: sts\r\n\r\nhello\r\n.\r\n";

/// A record as owned text: (kind, name, value) with kind `MX`, `A` or `TXT`.
type Record = (&'static str, String, String);

/// The DNS records of one domain: its MX host at `ip`, its `_mta-sts` TXT with `id`, and
/// `mta-sts.DOMAIN` at `web`.
fn domain(name: &str, mx: &str, ip: &str, id: &str, web: &str) -> Vec<Record> {
    vec![
        ("MX", name.into(), mx.into()),
        ("A", mx.into(), ip.into()),
        (
            "TXT",
            format!("_mta-sts.{name}"),
            format!("v=STSv1; id={id}"),
        ),
        ("A", format!("mta-sts.{name}"), web.into()),
    ]
}

/// dnsmasq serving `records` (`None`: not installed, which fails under CI).
fn dns(records: &[Record]) -> Option<Dnsmasq> {
    let rr: Vec<Rr> = records
        .iter()
        .map(|(kind, name, value)| match *kind {
            "MX" => Rr::Mx(name, value, 10),
            "A" => Rr::Host(name, value),
            _ => Rr::Txt(name, value),
        })
        .collect();
    Dnsmasq::start(&rr)
}

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

fn ini(dns: &Dnsmasq, ca: &TestCa) -> String {
    let rest = tls_delivery(dns.addr, ca) + "[domain:*]\nretry_delay = 1h\n";
    with_status_page(&base_ini("", &rest))
}

#[test]
fn enforce_refuses_what_the_policy_does_not_allow_and_testing_only_notes_it() {
    let certs = TempDir::new("sts-enforce");
    let ca = TestCa::new(certs.path(), "STS Test CA");
    let net = loopback::Net::new();
    let web_ip = &net.ip(80);
    let web = HttpsServer::start(
        format!("{web_ip}:443").parse().unwrap(),
        ca.issue(
            "web",
            &[
                "mta-sts.good.test",
                "mta-sts.other.test",
                "mta-sts.bad.test",
                "mta-sts.try.test",
                "mta-sts.routed.test",
            ],
        ),
    );
    web.answer(
        "mta-sts.good.test",
        text_plain(&policy("enforce", "mx.good.test")),
    );
    web.answer(
        "mta-sts.other.test",
        text_plain(&policy("enforce", "*.other.test")),
    );
    web.answer(
        "mta-sts.bad.test",
        text_plain(&policy("enforce", "mx.bad.test")),
    );
    web.answer(
        "mta-sts.try.test",
        text_plain(&policy("testing", "mx.try.test")),
    );
    // routed.test publishes an enforce policy, but the configuration routes it to a fixed
    // server (mx =): the policy names MX hosts, so it is not looked up (README).
    web.answer(
        "mta-sts.routed.test",
        text_plain(&policy("enforce", "mx.routed.test")),
    );
    let good = FakeMx::tls_on_25(&net.ip(1), ca.issue("good", &["mx.good.test"]));
    let other = FakeMx::tls_on_25(&net.ip(2), ca.issue("other", &["mx.elsewhere.test"]));
    let bad = FakeMx::tls_on_25(&net.ip(3), make_cert(certs.path()));
    let tried = FakeMx::tls_on_25(&net.ip(4), make_cert(certs.path()));
    let routed = FakeMx::tls_on_25(&net.ip(5), make_cert(certs.path()));
    let records = [
        domain("good.test", "mx.good.test", &net.ip(1), "g1", web_ip),
        domain("other.test", "mx.elsewhere.test", &net.ip(2), "o1", web_ip),
        domain("bad.test", "mx.bad.test", &net.ip(3), "b1", web_ip),
        domain("try.test", "mx.try.test", &net.ip(4), "t1", web_ip),
        domain("routed.test", "mx.routed.test", &net.ip(6), "r1", web_ip),
    ]
    .concat();
    let Some(dns) = dns(&records) else { return };
    let fixed = format!("[domain:routed.test]\nmx = {}\n", net.ip(5));
    let server = Server::start("sts-enforce", &(ini(&dns, &ca) + &fixed));
    let to = [
        "a@good.test",
        "b@other.test",
        "c@bad.test",
        "d@try.test",
        "e@routed.test",
    ];
    let id = submit(&server, "s@sender.test", &to, MSG);

    let line = server.wait_log(&[&id, "to=<a@good.test>", "delivered"]);
    assert!(
        line.contains(" tls=\"TLS 1.2, verified by MTA-STS (enforce)\" "),
        "{line}"
    );
    let unmet =
        " tls=\"not sent: required a verified encrypted connection (MTA-STS policy, enforce)\" ";
    let line = server.wait_log(&[&id, "to=<b@other.test>", "deferred"]);
    assert!(
        line.contains("MTA-STS: mx.elsewhere.test does not match the policy"),
        "{line}"
    );
    assert!(line.contains(unmet), "{line}");
    let line = server.wait_log(&[&id, "to=<c@bad.test>", "deferred"]);
    assert!(
        line.contains("certificate not valid for mx.bad.test: self-signed certificate"),
        "{line}"
    );
    assert!(line.contains(unmet), "{line}");
    // testing: delivered as today (the certificate is not good), and the record says what
    // enforce would have refused.
    let line = server.wait_log(&[&id, "to=<d@try.test>", "delivered"]);
    let words = "TLS 1.2, certificate not verified (MTA-STS testing)";
    assert!(line.contains(&format!(" tls=\"{words}\" ")), "{line}");

    let line = server.wait_log(&[&id, "to=<e@routed.test>", "delivered"]);
    let words = "TLS 1.2, certificate not verified (opportunistic)";
    assert!(line.contains(&format!(" tls=\"{words}\" ")), "{line}");

    let record = shown(&server, &id, 5);
    assert!(!record.contains("_mta-sts.routed.test"), "{record}");
    for step in [
        "fixed route for routed.test: its MTA-STS policy is not looked up (it names the \
         domain's MX hosts, and the configuration names the server)",
        "MTA-STS TXT _mta-sts.good.test: v=STSv1; id=g1",
        "MTA-STS policy of good.test: mode enforce, mx mx.good.test, max_age 86400s (fetched, id g1)",
        "STARTTLS: TLS 1.2, verified by MTA-STS (enforce) for mx.good.test",
        "MTA-STS: mx.elsewhere.test does not match the policy",
        "STARTTLS: certificate not valid for mx.bad.test: self-signed certificate",
        "MTA-STS testing: enforce would refuse this: certificate not valid for mx.try.test: self-signed certificate",
    ] {
        assert!(record.contains(step), "{step}\n{record}");
    }
    assert!(
        other.sessions().is_empty(),
        "an MX the policy does not name is not contacted"
    );
    assert!(bad.deliveries().is_empty());
    assert_eq!(
        bad.sessions().len(),
        1,
        "no plain-text retry: {}",
        bad.transcript()
    );
    assert_eq!(good.deliveries().len(), 1);
    assert_eq!(tried.deliveries().len(), 1);
    assert_eq!(routed.deliveries().len(), 1);
    assert_eq!(web.requests(), 4, "no policy fetched for routed.test");
    // /metrics counts good.test's delivery as verified by MTA-STS, try.test's as not verified.
    wait_http(
        server.status_addr.unwrap(),
        "/metrics",
        &[
            "qksmtp_delivered_by_tls_total{tls=\"mta-sts\"} 1\n",
            "qksmtp_delivered_by_tls_total{tls=\"unverified\"} 2\n",
        ],
    );
}

#[test]
fn a_redirect_or_an_oversized_policy_is_no_policy() {
    let certs = TempDir::new("sts-refused");
    let ca = TestCa::new(certs.path(), "STS Fetch CA");
    let net = loopback::Net::new();
    let web_ip = &net.ip(80);
    let web = HttpsServer::start(
        format!("{web_ip}:443").parse().unwrap(),
        ca.issue("web", &["mta-sts.moved.test", "mta-sts.big.test"]),
    );
    // Both would forbid the MX: applied, they would stop the mail.
    let moved = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://mta-sts.big.test/\r\n\
                 Content-Length: 0\r\n\r\n";
    web.answer("mta-sts.moved.test", moved.to_string());
    let big = policy("enforce", "mx.nowhere.test") + &"x: y\r\n".repeat(20_000);
    web.answer("mta-sts.big.test", text_plain(&big));
    let moved_mx = FakeMx::tls_on_25(&net.ip(1), make_cert(certs.path()));
    let big_mx = FakeMx::tls_on_25(&net.ip(2), make_cert(certs.path()));
    let records = [
        domain("moved.test", "mx.moved.test", &net.ip(1), "m1", web_ip),
        domain("big.test", "mx.big.test", &net.ip(2), "b1", web_ip),
    ]
    .concat();
    let Some(dns) = dns(&records) else { return };
    let server = Server::start("sts-refused", &ini(&dns, &ca));
    let to = ["a@moved.test", "b@big.test", "tempfail@big.test"];
    let id = submit(&server, "s@sender.test", &to, MSG);
    let words = " tls=\"TLS 1.2, certificate not verified (opportunistic)\" ";
    for rcpt in ["a@moved.test", "b@big.test"] {
        let line = server.wait_log(&[&id, &format!("to=<{rcpt}>"), "delivered"]);
        assert!(line.contains(words), "{line}");
    }
    let record = shown(&server, &id, 2);
    for step in [
        format!(
            "MTA-STS policy of moved.test: fetch failed: https://mta-sts.moved.test/.well-known/\
             mta-sts.txt ({web_ip}:443): HTTP 301 Moved Permanently: a redirect, not followed \
             (RFC 8461); no policy applies"
        ),
        format!(
            "MTA-STS policy of big.test: fetch failed: https://mta-sts.big.test/.well-known/\
             mta-sts.txt ({web_ip}:443): the policy is larger than 64 KiB; no policy applies"
        ),
    ] {
        assert!(record.contains(&step), "{step}\n{record}");
    }
    assert!(web.requests() >= 2);
    assert_eq!(moved_mx.deliveries().len() + big_mx.deliveries().len(), 2);
}

#[test]
fn the_cached_policy_survives_a_restart_and_holds_when_the_policy_server_is_down() {
    let certs = TempDir::new("sts-cache");
    let ca = TestCa::new(certs.path(), "STS Cache CA");
    let net = loopback::Net::new();
    let web_ip = &net.ip(80);
    let web = HttpsServer::start(
        format!("{web_ip}:443").parse().unwrap(),
        ca.issue("web", &["mta-sts.keep.test"]),
    );
    web.answer(
        "mta-sts.keep.test",
        text_plain(&policy("enforce", "mx.keep.test")),
    );
    let keep = FakeMx::tls_on_25(&net.ip(1), ca.issue("keep", &["mx.keep.test"]));
    let Some(first_dns) = dns(&domain(
        "keep.test",
        "mx.keep.test",
        &net.ip(1),
        "one",
        web_ip,
    )) else {
        return;
    };
    let server = Server::start("sts-cache", &ini(&first_dns, &ca));
    let first = submit(&server, "s@sender.test", &["a@keep.test"], MSG);
    server.wait_log(&[&first, "delivered", "verified by MTA-STS (enforce)"]);
    let (_, dir) = server.terminate();
    assert!(
        dir.path().join("spool/mta-sts/keep.test").is_file(),
        "cached on disk"
    );

    // The policy server is gone and the TXT id changed (a refresh is due): the policy
    // fetched before the restart still applies.
    drop(web);
    drop(first_dns);
    let second_dns = dns(&domain(
        "keep.test",
        "mx.keep.test",
        &net.ip(1),
        "two",
        web_ip,
    ))
    .unwrap();
    write_ini(dir.path(), &ini(&second_dns, &ca));
    let server = Server::start_in(dir);
    // (`tempfail` is refused once by the fake MX: the message stays, with its record.)
    let second = submit(
        &server,
        "s@sender.test",
        &["b@keep.test", "tempfail@keep.test"],
        MSG,
    );
    server.wait_log(&[&second, "delivered", "verified by MTA-STS (enforce)"]);
    let record = shown(&server, &second, 1);
    let kept = "MTA-STS policy of keep.test: fetch failed: ";
    let using = "using the cached policy (id one): mode enforce, mx mx.keep.test, max_age 86400s";
    assert!(record.contains(kept) && record.contains(using), "{record}");
    assert_eq!(keep.deliveries().len(), 2);
}
