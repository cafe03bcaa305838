//! Secure delivery (issue 16): `tls_policy` per domain with `tls_ca_file`, and what each
//! attempt says of its TLS, against the fake MX with certificates made by the openssl CLI.

mod common;

use common::fake_mx::{FakeMx, Options};
use common::*;

const MSG: &str = "From: a@sender.test\r\nSubject: secure\r\n\r\nhello\r\n.\r\n";

#[test]
fn verify_and_encrypt_levels_with_a_company_ca() {
    let certs = TempDir::new("tls-policy-certs");
    let ca = TestCa::new(certs.path(), "Test Company CA");
    let good = FakeMx::start(Options {
        tls: Some(ca.issue("good", &["127.0.0.1"])),
        ..Options::new()
    });
    let wrong_name = FakeMx::start(Options {
        tls: Some(ca.issue("wrong", &["mx.elsewhere.test"])),
        ..Options::new()
    });
    let self_signed = FakeMx::start(Options {
        tls: Some(make_cert(certs.path())),
        ..Options::new()
    });
    let plain = FakeMx::start(Options::new());
    let routes = [
        route("good.test", &good, "tls_policy = verify"),
        route(
            "wrong.test",
            &wrong_name,
            "tls_policy = verify\nretry_delay = 1h",
        ),
        route(
            "self.test",
            &self_signed,
            "tls_policy = verify\nretry_delay = 1h",
        ),
        route("enc.test", &self_signed, "tls_policy = encrypt"),
        route(
            "plain.test",
            &plain,
            "tls_policy = encrypt\nretry_delay = 1h",
        ),
        tls_delivery(DEAD, &ca),
    ];
    let server = Server::start("tls-policy", &status_ini(&routes.concat()));
    let to = [
        "a@good.test",
        "b@wrong.test",
        "c@self.test",
        "d@enc.test",
        "e@plain.test",
    ];
    let id = submit(&server, "s@sender.test", &to, MSG);

    let line = server.wait_log(&[&id, "to=<a@good.test>", "delivered"]);
    assert!(
        line.contains(" tls=\"TLS 1.2, verified by CA (tls_policy = verify)\" "),
        "{line}"
    );
    let line = server.wait_log(&[&id, "to=<d@enc.test>", "delivered"]);
    let words = "TLS 1.2, certificate not verified (tls_policy = encrypt)";
    assert!(line.contains(&format!(" tls=\"{words}\" ")), "{line}");

    // Refused certificates and a missing STARTTLS are temporary failures, never retried in
    // plain text, whose step says exactly why.
    let refused = [
        (
            "b@wrong.test",
            "certificate not valid for 127.0.0.1: IP address mismatch",
        ),
        (
            "c@self.test",
            "certificate not valid for 127.0.0.1: self-signed certificate",
        ),
        (
            "e@plain.test",
            "the server does not offer STARTTLS, which is required for this server",
        ),
    ];
    for (rcpt, why) in refused {
        let line = server.wait_log(&[&id, &format!("to=<{rcpt}>"), "deferred"]);
        assert!(line.contains(why), "{rcpt}: {line}");
        assert!(line.contains(" status=4."), "{rcpt}: {line}");
        let required = match rcpt {
            "e@plain.test" => "an encrypted connection (tls_policy = encrypt)",
            _ => "a verified encrypted connection (tls_policy = verify)",
        };
        assert!(
            line.contains(&format!(" tls=\"not sent: required {required}\" ")),
            "{rcpt}: {line}"
        );
    }
    // The page and its API say whose requirement was not met, which server and what failed:
    // the recipient's last result in the bounce's words, the failing step in the log's.
    let page = server.status_addr.unwrap();
    let wrong_port = wrong_name.port();
    let unmet = [
        format!(
            "This server's settings require, for mail to wrong.test, a verified encrypted \
             connection (tls_policy = verify); its mail server 127.0.0.1 [127.0.0.1]:{wrong_port} \
             did not give it (TLS failed: certificate not valid for 127.0.0.1: IP address \
             mismatch)"
        ),
        format!(
            "This server's settings require, for mail to plain.test, an encrypted connection \
             (tls_policy = encrypt); its mail server 127.0.0.1 [127.0.0.1]:{} did not give it",
            plain.port()
        ),
        "STARTTLS: certificate not valid for 127.0.0.1: IP address mismatch; not sent: \
         required a verified encrypted connection (tls_policy = verify)"
            .into(),
    ];
    let parts: Vec<&str> = unmet.iter().map(String::as_str).collect();
    wait_http(page, &format!("/api/messages/{id}"), &parts);
    wait_http(page, &format!("/message/{id}"), &parts[2..]);
    // Counted by what verified the certificate: a CA for good.test, nothing for enc.test.
    let metrics = wait_http(
        page,
        "/metrics",
        &[
            "qksmtp_delivered_by_tls_total{tls=\"verified\"} 1\n",
            "qksmtp_delivered_by_tls_total{tls=\"unverified\"} 1\n",
        ],
    );
    for line in [
        "qksmtp_delivered_by_tls_total{tls=\"plain\"} 0",
        "qksmtp_delivered_by_tls_total{tls=\"dane\"} 0",
        "qksmtp_delivered_by_tls_total{tls=\"mta-sts\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    let record = shown(&server, &id, 5);
    assert!(
        record.contains("STARTTLS: certificate not valid for 127.0.0.1: IP address mismatch"),
        "{record}"
    );
    assert!(
        record.contains("STARTTLS: certificate not valid for 127.0.0.1: self-signed certificate"),
        "{record}"
    );
    assert!(
        record.contains("TLS 1.2, verified by CA (tls_policy = verify) for 127.0.0.1"),
        "{record}"
    );
    for mx in [&wrong_name, &plain] {
        assert!(mx.deliveries().is_empty());
        assert_eq!(
            mx.sessions().len(),
            1,
            "no plain-text retry: {}",
            mx.transcript()
        );
    }
    assert_eq!(good.deliveries().len(), 1);
    assert!(good.deliveries()[0].tls);
}

/// A relay with `tls = tls` (implicit TLS, port 465 style): the handshake is the first thing
/// on the connection, the certificate verified (relays verify by default) against
/// `tls_ca_file`. A relay whose certificate is self-signed is refused before a word of SMTP,
/// nothing sent in plain text, and the next relay in file order delivers.
#[test]
fn a_relay_with_implicit_tls_delivers_and_one_with_a_bad_certificate_is_refused() {
    let certs = TempDir::new("relay-465-certs");
    let ca = TestCa::new(certs.path(), "Test ISP CA");
    let implicit = |identity| Options {
        tls: Some(identity),
        implicit_tls: true,
        ..Options::new()
    };
    let forged = FakeMx::start(implicit(make_cert(certs.path())));
    let isp = FakeMx::start(implicit(ca.issue("isp", &["127.0.0.1"])));
    let rest = format!(
        "[domain:r.test]\nmx = {DEAD}\ndirect_attempts = 0\nrelay_attempts = 2\n\
         [relay:forged]\nhost = 127.0.0.1\nport = {}\ntls = tls\nretry_delay = 1s\n\
         [relay:isp]\nhost = 127.0.0.1\nport = {}\ntls = tls\n{}",
        forged.port(),
        isp.port(),
        tls_delivery(DEAD, &ca),
    );
    let server = Server::start("relay-465", &base_ini("", &rest));
    let id = submit(&server, "a@sender.test", &["u@r.test"], MSG);

    let refused = server.wait_log(&[&id, "attempt=\"relay 1 of 2\"", "deferred"]);
    for part in [
        "route=\"relay forged (127.0.0.1 [127.0.0.1]:",
        "status=4.7.5",
        "reply=\"TLS failed: certificate not valid for 127.0.0.1: self-signed certificate\"",
        // What was unmet is the verification, not the encryption.
        "tls=\"not sent: required a verified encrypted connection (the relay's tls and tls_verify settings)\"",
    ] {
        assert!(refused.contains(part), "no {part} in {refused}");
    }
    let delivered = server.wait_log(&[&id, "attempt=\"relay 2 of 2\"", "delivered"]);
    assert!(
        delivered.contains("route=\"relay isp (")
            && delivered.contains(" tls=\"TLS 1.2, verified by CA\" "),
        "{delivered}"
    );
    let d = isp.wait_deliveries(1, WAIT);
    assert!(d[0].tls, "delivered inside TLS");
    assert_eq!(d[0].rcpt_addrs(), ["u@r.test"]);
    let session = &isp.sessions()[0];
    assert!(session.tls, "TLS from the start");
    assert!(
        !session
            .lines
            .iter()
            .any(|l| l.eq_ignore_ascii_case("STARTTLS")),
        "{:?}",
        session.lines
    );
    let tried = forged.sessions();
    assert!(
        forged.deliveries().is_empty() && tried.iter().all(|s| s.lines.is_empty()),
        "not a word of SMTP to the relay with the bad certificate: {tried:?}"
    );
}
