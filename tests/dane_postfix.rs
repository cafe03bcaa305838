//! Issue 16's cross-check of DANE (RFC 7672) with Postfix: the same DNSSEC-signed zone
//! (ldns-signzone, served by NSD) and the same MX hosts (fake MXs on port 25 of their own
//! loopback addresses, certificates from an in-test CA or self-signed) are given to qksmtp
//! (`dnssec = yes`, validating itself from the zone's keys, `dnssec_trust_anchor`) and to a
//! throwaway Postfix with `smtp_tls_security_level = dane` (resolving through a validating
//! unbound with the same keys as its trust anchor). For every case each delivers one message,
//! and both must deliver it the same way (with the certificate verified by DANE, or
//! opportunistically) or both refuse it (defer), as RFC 7672 says. Root is needed for the
//! ports and the mount namespace, as in CI.

mod common;

use common::fake_mx::{FakeMx, Options};
use common::nsd::{Nsd, Signing, Zone};
use common::postfix::{self, Postfix};
use common::unbound::{self, Unbound};
use common::*;

const MSG: &str = "From: a@sender.test\r\nSubject: dane cross-check\r\n\r\nhello\r\n.\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Delivered over TLS with the certificate verified by DANE.
    Verified,
    /// Delivered, DANE not applying (opportunistic TLS).
    Unverified,
    /// Not delivered: deferred (or bounced).
    Refused,
}

/// One MX host and what RFC 7672 says must become of mail to its domain.
struct Case {
    what: &'static str,
    domain: &'static str,
    mx: FakeMx,
    expect: Outcome,
}

fn mx(ip: &str, identity: native_tls::Identity) -> FakeMx {
    FakeMx::start(Options {
        tls: Some(identity),
        bind: Some(format!("{ip}:25").parse().unwrap()),
        ..Options::new()
    })
}

/// `sha256` of a DER input that `shell` (openssl commands) writes, in hex.
fn digest(dir: &std::path::Path, shell: &str) -> String {
    let pipe = format!("{shell} | openssl dgst -sha256 -r | cut -d' ' -f1");
    openssl_out(dir, &pipe).trim().to_string()
}

/// 3 1 1 data of the self-signed certificate `make_cert` just wrote (cert.pem).
fn spki_digest(dir: &std::path::Path) -> String {
    digest(
        dir,
        "openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER",
    )
}

/// A TLSA digest no certificate here has.
const WRONG: &str = "abababababababababababababababababababababababababababababababab";
/// The TLSA digest of mx-bogus as signed, replaced by the right one after signing.
const PLACEHOLDER: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// The MX hosts of every case (certificates made in `dir`), and the zones naming them.
fn cases(dir: &std::path::Path, net: loopback::Net) -> (Vec<Case>, Vec<Zone>) {
    let ca = TestCa::new(dir, "DANE Cross-check CA");
    let ee = mx(&net.ip(71), make_cert(dir));
    let ee_311 = spki_digest(dir);
    let ta = mx(&net.ip(72), ca.issue("ta", &["mx-ta.dane.test"]));
    let ca_201 = digest(dir, "openssl x509 -in ca.pem -outform DER");
    let bad = mx(&net.ip(73), make_cert(dir));
    let plain = mx(&net.ip(74), make_cert(dir));
    let bogus = mx(&net.ip(75), make_cert(dir));
    let bogus_311 = spki_digest(dir);
    let bogus_mx = mx(&net.ip(76), make_cert(dir));
    let hosted = mx(&net.ip(80), make_cert(dir));
    let forged_to = mx(&net.ip(81), make_cert(dir));
    use Outcome::*;
    let table = [
        ("3 1 1 matching (DANE-EE)", "ee.dane.test", ee, Verified),
        ("2 0 1 matching (DANE-TA)", "ta.dane.test", ta, Verified),
        ("3 1 1 mismatching", "bad.dane.test", bad, Refused),
        ("unsigned, mismatching", "plain.test", plain, Unverified),
        ("bogus TLSA signature", "bogus.dane.test", bogus, Refused),
        ("bogus MX signature", "bogusmx.dane.test", bogus_mx, Refused),
        // RFC 7672 §2.2.2: DANE only for an MX host whose addresses are signed.
        (
            "MX host in an unsigned zone",
            "hosted.dane.test",
            hosted,
            Unverified,
        ),
        (
            "bogus MX host address",
            "forged.dane.test",
            forged_to,
            Refused,
        ),
    ];
    let cases = table
        .into_iter()
        .map(|(what, domain, mx, expect)| Case {
            what,
            domain,
            mx,
            expect,
        })
        .collect();
    (cases, zones(net, &ee_311, &ca_201, &bogus_311))
}

/// dane.test (signed, then three records changed) and plain.test (unsigned), the hosts on
/// `net`.
fn zones(net: loopback::Net, ee_311: &str, ca_201: &str, bogus_311: &str) -> Vec<Zone> {
    let signed = [
        "ee MX 10 mx-ee".to_string(),
        format!("mx-ee A {}", net.ip(71)),
        format!("_25._tcp.mx-ee TLSA 3 1 1 {ee_311}"),
        "ta MX 10 mx-ta".into(),
        format!("mx-ta A {}", net.ip(72)),
        format!("_25._tcp.mx-ta TLSA 2 0 1 {ca_201}"),
        "bad MX 10 mx-bad".into(),
        format!("mx-bad A {}", net.ip(73)),
        format!("_25._tcp.mx-bad TLSA 3 1 1 {WRONG}"),
        "bogus MX 10 mx-bogus".into(),
        format!("mx-bogus A {}", net.ip(75)),
        format!("_25._tcp.mx-bogus TLSA 3 1 1 {PLACEHOLDER}"),
        "bogusmx MX 10 mx-bogusmx".into(),
        format!("mx-bogusmx A {}", net.ip(76)),
        "hosted MX 10 mx-hosted.plain.test.".into(),
        "forged MX 10 mx-forged".into(),
        format!("mx-forged A {}", net.ip(89)),
    ];
    // After signing: the TLSA record of mx-bogus now matches its certificate, the MX of
    // bogusmx.dane.test has another preference, and mx-forged points at another address;
    // none of their signatures verifies any more.
    let tamper = vec![
        (PLACEHOLDER.to_string(), bogus_311.to_string()),
        (
            "\tMX\t10 mx-bogusmx.dane.test.".to_string(),
            "\tMX\t20 mx-bogusmx.dane.test.".to_string(),
        ),
        (
            format!("\tA\t{}", net.ip(89)),
            format!("\tA\t{}", net.ip(81)),
        ),
    ];
    // Unsigned, with a TLSA record that does not match: DANE must not apply at all.
    let unsigned = [
        "@ MX 10 mx".to_string(),
        format!("mx A {}", net.ip(74)),
        format!("_25._tcp.mx TLSA 3 1 1 {WRONG}"),
        // The MX host of hosted.dane.test (signed): DANE must not apply to it either.
        format!("mx-hosted A {}", net.ip(80)),
        format!("_25._tcp.mx-hosted TLSA 3 1 1 {WRONG}"),
    ];
    vec![
        Zone {
            origin: "dane.test".into(),
            records: signed.to_vec(),
            signing: Signing::Tampered(tamper),
        },
        Zone {
            origin: "plain.test".into(),
            records: unsigned.to_vec(),
            signing: Signing::Unsigned,
        },
    ]
}

/// What qksmtp did with `rcpt`, from its delivery log.
fn qksmtp_outcome(server: &Server, rcpt: &str) -> (Outcome, String) {
    let path = server.dir.path().join("delivery.log");
    let to = format!(" to=<{rcpt}> ");
    wait_for(WAIT, || {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let line = log.lines().find(|l| l.contains(&to)).unwrap_or_default();
        match line {
            l if l.contains(" result=\"delivered\" ")
                && l.contains(" tls=\"TLS 1.2, verified by DANE-") =>
            {
                Ok((Outcome::Verified, l.into()))
            }
            l if l.contains(" result=\"delivered\" ") => Ok((Outcome::Unverified, l.into())),
            l if l.contains(" result=\"deferred") || l.contains(" result=\"failed") => {
                Ok((Outcome::Refused, l.into()))
            }
            _ => Err(format!("no result for <{rcpt}> in:\n{log}")),
        }
    })
}

/// What Postfix did with `rcpt`, from its log: sent (to `relay=HOST[IP]:PORT`) after a
/// "Verified TLS connection established to HOST[" line (its DANE match), or not.
fn postfix_outcome(postfix: &Postfix, rcpt: &str) -> (Outcome, String) {
    let line = postfix.wait_status(rcpt);
    if !line.contains(" status=sent ") {
        return (Outcome::Refused, line);
    }
    let host = line
        .split(" relay=")
        .nth(1)
        .and_then(|r| r.split('[').next());
    let verified = format!("Verified TLS connection established to {}[", host.unwrap());
    match postfix.log().contains(&verified) {
        true => (Outcome::Verified, line),
        false => (Outcome::Unverified, line),
    }
}

#[test]
fn qksmtp_and_postfix_refuse_the_same_dane_deliveries() {
    if postfix::programs().is_none() || unbound::program().is_none() {
        return;
    }
    let tmp = TempDir::new("dane-postfix");
    let dir = tmp.path();
    // The MX hosts, NSD, unbound and Postfix on addresses of the test's own.
    let net = loopback::Net::new();
    let (cases, zones) = cases(dir, net);
    let nsd = Nsd::serve(dir, &net.ip(77), &zones);
    let resolver = Unbound::start(
        dir,
        &net.ip(78),
        &nsd.anchor,
        nsd.addr,
        &["dane.test", "plain.test"],
    );
    let postfix = Postfix::start(
        dir,
        format!("{}:2525", net.ip(79)).parse().unwrap(),
        resolver.addr.ip(),
        "smtp_tls_security_level = dane\nsmtp_dns_support_level = dnssec\n\
         smtp_tls_loglevel = 1\ndnssec_probe =\nsmtp_helo_name = postfix.qksmtp.test\n",
    );
    let rest = format!(
        "[delivery]\ndns_server = {}\ndnssec = yes\ndnssec_trust_anchor = {}\n\
         [domain:*]\nretry_delay = 1h\n",
        nsd.addr.ip(),
        nsd.anchor.display()
    );
    let server = Server::start("dane-postfix", &base_ini("", &rest));
    let qk: Vec<String> = cases.iter().map(|c| format!("qk@{}", c.domain)).collect();
    let pf: Vec<String> = cases.iter().map(|c| format!("pf@{}", c.domain)).collect();
    submit(&server, "s@sender.test", &refs(&qk), MSG);
    postfix.submit("s@sender.test", &refs(&pf), MSG);

    let mut seen = Vec::new();
    let mut lines = String::new();
    for (case, (qk, pf)) in cases.iter().zip(qk.iter().zip(&pf)) {
        let (ours, our_line) = qksmtp_outcome(&server, qk);
        let (theirs, their_line) = postfix_outcome(&postfix, pf);
        lines.push_str(&format!(
            "{}:\n  qksmtp: {our_line}\n  Postfix: {their_line}\n",
            case.what
        ));
        // The sink agrees with each log.
        for (rcpt, outcome) in [(qk, ours), (pf, theirs)] {
            let got = case
                .mx
                .deliveries()
                .iter()
                .any(|d| d.rcpt_addrs().contains(rcpt));
            assert_eq!(
                got,
                outcome != Outcome::Refused,
                "{rcpt} at the sink\n{lines}"
            );
        }
        seen.push((case.what, ours, theirs));
    }
    // RFC 7672 §2.2.1: a bogus MX answer is a lookup failure, said as such.
    let bogus_mx = qksmtp_outcome(&server, "qk@bogusmx.dane.test").1;
    assert!(
        bogus_mx.contains("DNS lookup of bogusmx.dane.test failed: DNSSEC validation failed"),
        "{bogus_mx}"
    );
    let expected: Vec<_> = cases.iter().map(|c| (c.what, c.expect, c.expect)).collect();
    assert_eq!(seen, expected, "(case, qksmtp, Postfix)\n{lines}");
}

fn refs(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}
