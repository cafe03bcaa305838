//! DANE (RFC 7672, issue 16) end to end: a DNSSEC-signed zone (ldns-signzone, served by NSD)
//! with MX and TLSA records, qksmtp validating it from the zone's key as its trust anchor
//! (`dnssec = yes`, `dnssec_trust_anchor`), and fake MXs on port 25 of their own loopback
//! addresses. Root is needed for the ports, as in CI.

mod common;

use common::fake_mx::{FakeMx, Options};
use common::nsd::{Nsd, Signing, Zone};
use common::*;

const MSG: &str = "From: a@sender.test\r\nSubject: dane\r\n\r\nhello\r\n.\r\n";

/// `sha256` of a DER input that `shell` (openssl commands) writes, in hex.
fn digest(dir: &std::path::Path, shell: &str) -> String {
    openssl_out(
        dir,
        &format!("{shell} | openssl dgst -sha256 -r | cut -d' ' -f1"),
    )
    .trim()
    .to_string()
}

#[test]
fn dane_ee_and_dane_ta_deliver_and_a_mismatch_is_refused_naming_record_and_digest() {
    let certs = TempDir::new("dane");
    let dir = certs.path();
    let ca = TestCa::new(dir, "DANE Test CA");
    let net = loopback::Net::new();
    let ee = FakeMx::tls_on_25(&net.ip(1), make_cert(dir));
    // 3 1 1: the SHA-256 of the self-signed certificate's public key (make_cert's cert.pem).
    let ee_311 = digest(
        dir,
        "openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER",
    );
    let ee_fp = digest(dir, "openssl x509 -in cert.pem -outform DER");
    let ta = FakeMx::tls_on_25(&net.ip(2), ca.issue("ta", &["mx-ta.dane.test"]));
    // 2 0 1: the SHA-256 of the CA's certificate.
    let ca_201 = digest(dir, "openssl x509 -in ca.pem -outform DER");
    let bad = FakeMx::tls_on_25(&net.ip(3), make_cert(dir));
    let bad_fp = digest(dir, "openssl x509 -in cert.pem -outform DER");
    let wrong = "ab".repeat(32);
    let records = [
        "ee MX 10 mx-ee".to_string(),
        format!("mx-ee A {}", net.ip(1)),
        format!("_25._tcp.mx-ee TLSA 3 1 1 {ee_311}"),
        "ta MX 10 mx-ta".into(),
        format!("mx-ta A {}", net.ip(2)),
        format!("_25._tcp.mx-ta TLSA 2 0 1 {ca_201}"),
        "bad MX 10 mx-bad".into(),
        format!("mx-bad A {}", net.ip(3)),
        format!("_25._tcp.mx-bad TLSA 3 1 1 {wrong}"),
    ];
    let nsd = Nsd::start(dir, &net.ip(53), "dane.test", &records);
    let rest = nsd.delivery_ini() + "[domain:*]\nretry_delay = 1h\n";
    let server = Server::start("dane", &base_ini("", &rest));
    let to = ["a@ee.dane.test", "b@ta.dane.test", "c@bad.dane.test"];
    let id = submit(&server, "s@sender.test", &to, MSG);

    let line = server.wait_log(&[&id, "to=<a@ee.dane.test>", "delivered"]);
    assert!(
        line.contains(" tls=\"TLS 1.2, verified by DANE-EE\" "),
        "{line}"
    );
    let line = server.wait_log(&[&id, "to=<b@ta.dane.test>", "delivered"]);
    assert!(
        line.contains(" tls=\"TLS 1.2, verified by DANE-TA\" "),
        "{line}"
    );
    let line = server.wait_log(&[&id, "to=<c@bad.dane.test>", "deferred"]);
    let why = format!(
        "DANE: no TLSA record of _25._tcp.mx-bad.dane.test (3 1 1 {wrong}) matches the \
         certificate (SHA-256 {bad_fp})"
    );
    assert!(line.contains(&why), "{line}");
    assert!(bad.deliveries().is_empty());
    assert_eq!(bad.sessions().len(), 1, "no plain-text retry");
    assert_eq!(ee.deliveries().len(), 1);
    assert_eq!(ta.deliveries().len(), 1);
    assert_ne!(ee_fp, bad_fp);
}

/// A fixed route (`mx = host:port`) and a relay get DANE as Postfix gives a `[host]:port`
/// nexthop: the TLSA records of `_PORT._tcp.HOST`, looked up because the host's address
/// records validate. The fixed route's record matches (DANE-EE); the relay's does not, and
/// it is refused although its own `tls_verify = no` would take any certificate. A fixed host
/// whose address record was changed after signing (bogus) is not used at all.
#[test]
fn fixed_routes_and_relays_use_the_tlsa_records_of_their_own_port() {
    let certs = TempDir::new("dane-routes");
    let dir = certs.path();
    let fixed = FakeMx::start(Options {
        tls: Some(make_cert(dir)),
        ..Options::new()
    });
    let ee_311 = digest(
        dir,
        "openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER",
    );
    let hub = FakeMx::start(Options {
        tls: Some(make_cert(dir)),
        ..Options::new()
    });
    let hub_fp = digest(dir, "openssl x509 -in cert.pem -outform DER");
    let wrong = "cd".repeat(32);
    let (fixed_port, hub_port) = (fixed.port(), hub.port());
    let records = [
        "fixed A 127.0.0.1".to_string(),
        format!("_{fixed_port}._tcp.fixed TLSA 3 1 1 {ee_311}"),
        "hub A 127.0.0.1".into(),
        format!("_{hub_port}._tcp.hub TLSA 3 1 1 {wrong}"),
        "forged A 127.0.0.9".into(),
    ];
    // After signing, forged's address points at the fixed server: its signature no longer
    // verifies, and whoever forged it must not get the mail (nor choose its TLS).
    let zone = Zone {
        origin: "routes.test".into(),
        records: records.to_vec(),
        signing: Signing::Tampered(vec![("\tA\t127.0.0.9".into(), "\tA\t127.0.0.1".into())]),
    };
    let nsd = Nsd::serve(dir, &loopback::Net::new().ip(53), &[zone]);
    let rest = nsd.delivery_ini()
        + &format!(
            "[domain:*]\nretry_delay = 1h\nmx = fixed.routes.test:{fixed_port}\n\
         [domain:relayed.test]\ndirect_attempts = 0\nrelay_attempts = 3\n\
         [domain:forged.test]\nmx = forged.routes.test:{fixed_port}\n\
         [relay:hub]\nhost = hub.routes.test\nport = {hub_port}\ntls = starttls\ntls_verify = no\n"
        );
    let server = Server::start("dane-routes", &base_ini("", &rest));
    let id = submit(
        &server,
        "s@sender.test",
        &["a@fixed.test", "b@relayed.test", "c@forged.test"],
        MSG,
    );

    let line = server.wait_log(&[&id, "to=<a@fixed.test>", "delivered"]);
    assert!(
        line.contains(" tls=\"TLS 1.2, verified by DANE-EE\" "),
        "{line}"
    );
    let line = server.wait_log(&[&id, "to=<b@relayed.test>", "deferred"]);
    let why = format!(
        "DANE: no TLSA record of _{hub_port}._tcp.hub.routes.test (3 1 1 {wrong}) matches \
         the certificate (SHA-256 {hub_fp})"
    );
    assert!(line.contains(&why), "{line}");
    let line = server.wait_log(&[&id, "to=<c@forged.test>", "deferred"]);
    let why = "DANE: addresses of forged.routes.test: forged.routes.test: temporary DNS \
               failure (DNSSEC validation failed (bogus))";
    assert!(line.contains(why), "{line}");
    assert_eq!(fixed.deliveries().len(), 1);
    assert_eq!(fixed.sessions().len(), 1, "only a@fixed.test's");
    assert!(hub.deliveries().is_empty());
    assert_eq!(hub.sessions().len(), 1, "no plain-text retry");
}

/// RFC 7672 §2.2.2, as Postfix: of a signed MX answer, a host whose address records are not
/// signed (it lives in an unsigned zone) gets no DANE, even with TLSA records published there
/// (here a mismatching one): delivered as opportunistic TLS. A host whose address record was
/// changed after signing (bogus) is not used: deferred, naming it, and nothing reaches the
/// address it was forged to.
#[test]
fn mx_hosts_get_dane_only_with_signed_addresses() {
    let certs = TempDir::new("dane-mx-addresses");
    let dir = certs.path();
    let net = loopback::Net::new();
    let unsigned = FakeMx::tls_on_25(&net.ip(1), make_cert(dir));
    let forged_to = FakeMx::tls_on_25(&net.ip(2), make_cert(dir));
    let wrong = "ef".repeat(32);
    let signed = Zone {
        origin: "mxsigned.test".into(),
        records: vec![
            "hosted MX 10 mx.hosting.test.".into(),
            "forged MX 10 mx-forged".into(),
            format!("mx-forged A {}", net.ip(9)),
        ],
        signing: Signing::Tampered(vec![(
            format!("\tA\t{}", net.ip(9)),
            format!("\tA\t{}", net.ip(2)),
        )]),
    };
    let hosting = Zone {
        origin: "hosting.test".into(),
        records: vec![
            format!("mx A {}", net.ip(1)),
            format!("_25._tcp.mx TLSA 3 1 1 {wrong}"),
        ],
        signing: Signing::Unsigned,
    };
    let nsd = Nsd::serve(dir, &net.ip(53), &[signed, hosting]);
    let rest = nsd.delivery_ini() + "[domain:*]\nretry_delay = 1h\n";
    let server = Server::start("dane-mx-addresses", &base_ini("", &rest));
    let to = ["a@hosted.mxsigned.test", "b@forged.mxsigned.test"];
    let id = submit(&server, "s@sender.test", &to, MSG);

    let line = server.wait_log(&[&id, "to=<a@hosted.mxsigned.test>", "delivered"]);
    let words = " tls=\"TLS 1.2, certificate not verified (opportunistic)\" ";
    assert!(line.contains(words), "{line}");
    let line = server.wait_log(&[&id, "to=<b@forged.mxsigned.test>", "deferred"]);
    let why = "DANE: addresses of mx-forged.mxsigned.test: mx-forged.mxsigned.test: temporary \
               DNS failure (DNSSEC validation failed (bogus))";
    assert!(line.contains(why), "{line}");
    let record = shown(&server, &id, 2);
    for step in [
        "MX hosted.mxsigned.test: signed (DNSSEC): DANE applies",
        "mx.hosting.test: addresses not DNSSEC-signed: no DANE",
    ] {
        assert!(record.contains(step), "{step}\n{record}");
    }
    assert!(
        !record.contains("TLSA _25._tcp.mx.hosting.test"),
        "no TLSA lookup for an unsigned host:\n{record}"
    );
    assert_eq!(unsigned.deliveries().len(), 1);
    assert!(
        forged_to.sessions().is_empty(),
        "the forged address gets nothing"
    );
}
