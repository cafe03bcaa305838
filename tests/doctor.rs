//! `qksmtp doctor` as a user runs it, against a real DNS server (dnsmasq) holding right and
//! wrong SPF, DKIM, DMARC and PTR records, MX hosts on port 25 of their own loopback
//! addresses (one that answers, one that refuses, one that never greets) and relays that
//! accept or refuse the login: every verdict in words, in JSON and as the exit code.

mod common;
use common::dnsmasq::{Dnsmasq, Rr};
use common::fake_mx::{FakeMx, Options};
use common::*;
use std::net::{IpAddr, TcpListener};
use std::process::Command;

/// `dkim-keygen DOMAIN` (Ed25519, selector s) into `dir`: the printed section and record.
fn keygen(domain: &str, dir: &std::path::Path) -> (String, String) {
    let out = Command::new(BIN)
        .args([
            "dkim-keygen",
            domain,
            "--algorithm",
            "ed25519",
            "--selector",
            "s",
        ])
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let start = text.find("[dkim:").unwrap();
    let section: Vec<&str> = text[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let line = text.lines().find(|l| l.contains(" IN TXT ")).unwrap();
    let record = line[line.find('"').unwrap()..]
        .trim_matches('"')
        .replace("\" \"", "");
    (section.join("\n") + "\n", record)
}

fn doctor(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let (code, out, err) = run_cli(dir, &all);
    (code, out + &err)
}

/// The line of the report that starts with `verdict` and names `check`.
fn line<'a>(report: &'a str, verdict: &str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(&format!("{verdict:<8} {check}: ")))
        .unwrap_or_else(|| panic!("no \"{verdict} {check}\" line in:\n{report}"))
}

/// What every part of the test uses: the MX hosts, a relay that wants a login, DKIM keys
/// and the DNS server; the listeners live as long as this.
struct World {
    /// The MX that answers (and says which address it saw), the one that refuses (nothing
    /// listens) and the one that never greets: port 25, as MX hosts found through DNS are,
    /// each of a loopback address of its own.
    answers: IpAddr,
    refuses: IpAddr,
    silent: IpAddr,
    _silent: TcpListener,
    good: FakeMx,
    relay: FakeMx,
    _keys: TempDir,
    right_section: String,
    wrong_section: String,
    dns: Dnsmasq,
}

fn world() -> Option<World> {
    let refuses = loopback::free(25)?; // nothing listens there: connections are refused
    let silent_listener = loopback::listener(25)?;
    let silent = silent_listener.local_addr().unwrap().ip();
    let answers = loopback::free(25)?;
    let good = FakeMx::start(Options {
        bind: Some((answers, 25).into()),
        sees_client_as: Some("192.0.2.5".parse().unwrap()),
        ..Options::new()
    });
    let keys = TempDir::new("doctor-keys");
    let relay = FakeMx::start(Options {
        auth: Some(("user".into(), "secret".into())),
        tls: Some(make_cert(keys.path())),
        ..Options::new()
    });
    let (right_section, right_key) = keygen("right.test", keys.path());
    let (wrong_section, _) = keygen("wrong.test", keys.path());
    let dns = Dnsmasq::start(&[
        Rr::Mx("good.test", "mx.good.test", 10),
        Rr::Host("mx.good.test", &answers.to_string()),
        Rr::Mx("blocked.test", "mx1.blocked.test", 10),
        Rr::Mx("blocked.test", "mx2.blocked.test", 20),
        Rr::Host("mx1.blocked.test", &refuses.to_string()),
        Rr::Host("mx2.blocked.test", &silent.to_string()),
        // This machine as the MX sees it (behind NAT): 192.0.2.5, named mail.right.test
        // both ways (A and PTR). No test reaches that address: it is only DNS data.
        Rr::Host("mail.right.test", "192.0.2.5"),
        Rr::Txt("right.test", "v=spf1 include:_spf.right.test -all"),
        Rr::Txt("_spf.right.test", "v=spf1 ip4:192.0.2.0/24 ~all"),
        Rr::Txt("s._domainkey.right.test", &right_key),
        Rr::Txt("_dmarc.right.test", "v=DMARC1; p=reject"),
        // wrong.test: SPF for another address, right.test's key published for its own, no
        // DMARC; 192.0.2.66 has no PTR.
        Rr::Txt("wrong.test", "v=spf1 ip4:198.51.100.1 -all"),
        Rr::Txt("s._domainkey.wrong.test", &right_key),
    ])?;
    Some(World {
        answers,
        refuses,
        silent,
        _silent: silent_listener,
        good,
        relay,
        _keys: keys,
        right_section,
        wrong_section,
        dns,
    })
}

impl World {
    /// An INI with this DKIM section, relay password and `[delivery]` extra lines.
    fn ini(&self, name: &str, dkim: &str, password: &str, delivery: &str) -> TempDir {
        let rest = format!(
            "[delivery]\ndns_server = {}\nhelo_name = mail.right.test\ntimeout_dns = 5s\n\
             {delivery}{dkim}[relay:isp]\nhost = 127.0.0.1\nport = {}\n\
             tls = starttls\ntls_verify = no\nauth = login\nusername = user\npassword = {password}\n",
            self.dns.addr,
            self.relay.port()
        );
        TempDir::with_ini(name, &base_ini("", &rest))
    }
}

#[test]
fn doctor_tells_right_from_wrong() {
    let Some(w) = world() else {
        return;
    };
    everything_right(&w);
    clicked_in_a_browser(&w);
    let wrong = w.ini(
        "doctor-wrong",
        &w.wrong_section,
        "wrong",
        "public_address = 192.0.2.66\n",
    );
    everything_wrong(&w, &wrong);
    the_same_in_json(&wrong);
    the_status_page_checks_again(&wrong);
}

fn everything_right(w: &World) {
    let right = w.ini("doctor-right", &w.right_section, "secret", "");
    let (code, report) = doctor(right.path(), &["right.test", "--to", "good.test"]);
    assert_eq!(code, 0, "{report}");
    for (check, says) in [
        (
            "port 25",
            &*format!("mx.good.test [{}:25] answered", w.answers),
        ),
        (
            "public address",
            "192.0.2.5 (as mx.good.test saw this machine)",
        ),
        ("PTR", "192.0.2.5 is mail.right.test, which points back"),
        ("HELO name", "mail.right.test resolves to 192.0.2.5"),
        (
            "SPF",
            "right.test authorizes 192.0.2.5 (include:_spf.right.test)",
        ),
        (
            "DKIM s._domainkey.right.test",
            "the public key of the configured private key",
        ),
        ("DMARC", "_dmarc.right.test: p=reject"),
        (
            "DMARC alignment",
            "aligned with SPF (right.test) and DKIM (d=right.test)",
        ),
        ("relay isp", "encrypted, login accepted (no mail sent)"),
    ] {
        assert!(
            line(&report, "ok", check).contains(says),
            "{check}: {report}"
        );
    }
    assert!(
        report.contains("0 problem(s), 0 warning(s), 9 ok"),
        "{report}"
    );
    let lines: Vec<String> = w
        .relay
        .sessions()
        .into_iter()
        .flat_map(|s| s.lines)
        .collect();
    assert!(lines.iter().any(|l| l.starts_with("AUTH")), "{lines:?}");
    assert!(w.relay.deliveries().is_empty() && w.good.deliveries().is_empty());
}

fn everything_wrong(w: &World, wrong: &TempDir) {
    let (code, report) = doctor(wrong.path(), &["wrong.test", "--to", "blocked.test"]);
    assert_eq!(code, 1, "{report}");
    for (verdict, check, says) in [
        ("problem", "port 25", "your network blocks port 25"),
        ("ok", "public address", "192.0.2.66 (public_address)"),
        ("problem", "PTR", "192.0.2.66 has no PTR"),
        ("problem", "HELO name", "does not resolve to 192.0.2.66"),
        (
            "problem",
            "SPF",
            "does not authorize 192.0.2.66 (fail: -all)",
        ),
        (
            "problem",
            "DKIM s._domainkey.wrong.test",
            "not the configured key's",
        ),
        ("warning", "DMARC", "no DMARC record at _dmarc.wrong.test"),
        ("problem", "DMARC alignment", "fails DMARC"),
        ("problem", "relay isp", "AUTH"),
    ] {
        assert!(
            line(&report, verdict, check).contains(says),
            "{check}: {report}"
        );
    }
    for blocked in [
        format!("mx1.blocked.test [{}:25]: refused", w.refuses),
        format!("mx2.blocked.test [{}:25]: silent", w.silent),
    ] {
        assert!(
            line(&report, "problem", "port 25").contains(&blocked),
            "{report}"
        );
    }
    for fix in [
        "fix: use a relay",
        "              [relay:isp]",
        "              relay_attempts = 8",
        "fix: add ip4:192.0.2.66 to it, before the all: v=spf1 ip4:198.51.100.1 -all",
        "fix: publish s._domainkey.wrong.test. IN TXT \"v=DKIM1; k=ed25519; p=",
        "fix: publish _dmarc.wrong.test. IN TXT \"v=DMARC1; p=none",
    ] {
        assert!(report.contains(fix), "no {fix:?} in:\n{report}");
    }
}

fn the_same_in_json(wrong: &TempDir) {
    let json_args = ["wrong.test", "--to", "blocked.test", "--json"];
    let (code, json) = doctor(wrong.path(), &json_args);
    assert_eq!(code, 1);
    for part in [
        "{\"ok\":false,",
        "\"sender\":\"wrong.test\",\"to\":[\"blocked.test\"],\"problems\":7,\"warnings\":1,",
        "{\"check\":\"PTR\",\"verdict\":\"problem\",\"what\":\"192.0.2.66 has no PTR",
        "{\"check\":\"DMARC\",\"verdict\":\"warning\",",
    ] {
        assert!(json.contains(part), "no {part} in {json}");
    }
}

/// No report yet, then "check again" runs the checks in the background, one at a time, and
/// the page shows the report.
fn the_status_page_checks_again(wrong: &TempDir) {
    let ini = std::fs::read_to_string(wrong.path().join("qksmtp.ini")).unwrap();
    let server = Server::start("doctor-page", &with_status_page(&ini));
    let page = server.status_addr.unwrap();
    let (code, html) = http(page, "GET", "/doctor", &[]);
    assert!(code == 200 && html.contains("No check yet"), "{html}");
    let (code, _) = http(page, "POST", "/api/doctor", &[]);
    assert_eq!(code, 403, "an action needs the token");
    let token = server.token();
    let auth = [("X-Qksmtp-Token", token.as_str())];
    let run = "/api/doctor?sender=wrong.test&to=blocked.test";
    let (code, started) = http(page, "POST", run, &auth);
    assert_eq!(code, 202, "{started}");
    // The silent MX keeps this one running for seconds: a second one is not started.
    let (code, busy) = http(page, "POST", run, &auth);
    assert_eq!(
        (code, busy.as_str()),
        (409, "{\"started\":false,\"running\":true}")
    );
    let (_, html) = http(page, "GET", "/doctor", &[]);
    assert!(html.contains("checking&hellip;"), "{html}");
    let api = wait_http(page, "/api/doctor", &["\"running\":false"]);
    assert!(
        api.contains("\"report\":{\"ok\":false,")
            && api.contains("\"what\":\"your network blocks port 25"),
        "{api}"
    );
    let (_, html) = http(page, "GET", "/doctor", &[]);
    for part in [
        "<button data-action=\"doctor\">Check again</button>",
        "sender domain <b>wrong.test</b>: 7 problem(s), 1 warning(s)",
        "<span class=\"badge problem\">problem</span></td><td>SPF</td>",
        "<pre class=\"fix\">use a relay",
    ] {
        assert!(html.contains(part), "no {part} in {html}");
    }
}

/// Chromium, driven by Playwright (tests/playwright/doctor.mjs), clicks "Check again" on the
/// doctor page and sees the report. Skipped without chromium or `npm ci --prefix
/// tests/playwright`, except under CI.
fn clicked_in_a_browser(w: &World) {
    let Some((exe, dir)) = common::browser::browser() else {
        return;
    };
    let right = w.ini("doctor-browser", &w.right_section, "secret", "");
    let ini = std::fs::read_to_string(right.path().join("qksmtp.ini")).unwrap();
    let server = Server::start("doctor-browser", &with_status_page(&ini));
    let url = format!(
        "http://{}/doctor?sender=right.test&to=good.test",
        server.status_addr.unwrap()
    );
    let out = Command::new("node")
        .arg(dir.join("doctor.mjs"))
        .arg(&url)
        .env("CHROMIUM", exe)
        .output()
        .expect("run node");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed: {said}{err}");
    assert_eq!(said.lines().collect::<Vec<_>>(), ["ok empty", "ok report"]);
}
