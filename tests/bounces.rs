//! Telling the sender, end to end: the real binary delivers to in-test fake MX servers, and
//! its bounces, delay notices and receipts arrive at a second fake MX that stands for the
//! sender's domain (`[domain:sender.test] mx = 127.0.0.1:PORT`).

mod common;

use common::fake_mx::{Delivery, FakeMx, Options};
use common::*;
use std::time::{Duration, Instant};

const MSG: &str = "Subject: hello\r\nFrom: a@sender.test\r\n\r\nHi there.\r\n.\r\n";
const WAIT: Duration = Duration::from_secs(20);

fn route(domain: &str, mx: &FakeMx) -> String {
    format!("[domain:{domain}]\nmx = 127.0.0.1:{}\n", mx.port())
}

fn wait_log(server: &Server, parts: &[&str]) -> String {
    let path = server.dir.path().join("delivery.log");
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {parts:?} in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One transaction with raw MAIL and RCPT lines (parameters included); returns the queue ID.
fn submit_raw(server: &Server, mail: &str, rcpts: &[&str]) -> String {
    let mut c = server.connect();
    c.hello();
    let r = c.cmd(&format!("MAIL FROM:{mail}"));
    assert!(r.starts_with("250"), "{r}");
    for rcpt in rcpts {
        let r = c.cmd(&format!("RCPT TO:{rcpt}"));
        assert!(r.starts_with("250"), "{r}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(MSG);
    let id = queued_id(&c.reply());
    c.cmd("QUIT");
    id
}

fn queue_is_empty(server: &Server) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, out, _) = run_cli(server.dir.path(), &["queue"]);
        if out.contains("0 messages") {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("{out}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs tests/data/bounce/parse_dsn.py (Python's `email` package) over a delivered notice.
fn python_reads(notice: &Delivery, dir: &std::path::Path) -> Vec<String> {
    let path = dir.join("notice.eml");
    std::fs::write(&path, &notice.data).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/bounce/parse_dsn.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_permanent_failure_bounces_to_the_senders_domain() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let rest = format!("{}{}", route("x.test", &mx), route("sender.test", &home));
    let server = Server::start("bounce", &base_ini("", &rest));
    let id = submit_raw(
        &server,
        "<a@sender.test>",
        &["<permfail@x.test>", "<ok@x.test>"],
    );
    let d = home.wait_deliveries(1, WAIT);
    assert_eq!(d[0].sender_addr(), "", "a bounce has the null sender");
    assert_eq!(d[0].rcpt_addrs(), ["a@sender.test"]);
    let text = d[0].text();
    for want in [
        "Received: from mx.qksmtp.test",
        "Content-Type: multipart/report; report-type=delivery-status",
        "--- permfail@x.test: NOT DELIVERED (hard bounce)",
        "Failing step: RCPT TO at 127.0.0.1 [127.0.0.1]:",
        &format!("X-Qksmtp-Queue-ID: {id}"),
        "Content-Type: text/rfc822-headers",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    assert!(
        !text.contains("ok@x.test: "),
        "only the failed recipient:\n{text}"
    );
    let parsed = python_reads(&d[0], server.dir.path());
    for want in [
        "rcpt1.Final-Recipient=rfc822; permfail@x.test",
        "rcpt1.Action=failed",
        "rcpt1.Status=5.1.1",
        "rcpt1.Remote-MTA=dns; 127.0.0.1",
        "rcpt1.Diagnostic-Code=smtp; 550 5.1.1 No such user",
        "returned.Subject=hello",
    ] {
        assert!(
            parsed.iter().any(|l| l == want),
            "no {want:?} in {parsed:#?}"
        );
    }
    assert!(!parsed.iter().any(|l| l.starts_with("rcpt2.")));
    wait_log(&server, &["from=<>", "to=<a@sender.test>", "delivered"]);
    assert!(queue_is_empty(&server));
}

#[test]
fn no_bounce_for_a_null_sender() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let rest = format!("{}{}", route("x.test", &mx), route("sender.test", &home));
    let server = Server::start("nullsender", &base_ini("", &rest));
    submit_raw(&server, "<>", &["<permfail@x.test>"]);
    wait_log(&server, &["to=<permfail@x.test>", "failed (permanent)"]);
    assert!(queue_is_empty(&server));
    std::thread::sleep(Duration::from_millis(300));
    assert!(home.sessions().is_empty(), "nobody is told");
}

#[test]
fn a_bounce_that_fails_is_dropped_not_bounced() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let rest = format!("{}{}", route("x.test", &mx), route("sender.test", &home));
    let server = Server::start("noloop", &base_ini("", &rest));
    submit_raw(&server, "<permfail@sender.test>", &["<permfail@x.test>"]);
    wait_log(
        &server,
        &["from=<>", "to=<permfail@sender.test>", "failed (permanent)"],
    );
    assert!(queue_is_empty(&server));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        home.sessions().len(),
        1,
        "one attempt at the bounce, no bounce of it"
    );
    assert!(home.deliveries().is_empty());
    let (_, out, _) = run_cli(server.dir.path(), &["queue"]);
    assert!(out.contains("0 messages"), "{out}");
}

#[test]
fn notify_success_gives_a_receipt_and_dsn_parameters_go_to_the_next_hop() {
    let mx = FakeMx::start(Options {
        dsn: true,
        ..Options::new()
    });
    let home = FakeMx::start(Options::new());
    let rest = format!("{}{}", route("x.test", &mx), route("sender.test", &home));
    let server = Server::start("receipt", &base_ini("", &rest));
    submit_raw(
        &server,
        "<a@sender.test> RET=HDRS ENVID=QK+2B42",
        &["<ok@x.test> NOTIFY=SUCCESS ORCPT=rfc822;Ok@x.test"],
    );
    let sent = mx.wait_deliveries(1, WAIT);
    assert!(
        sent[0].mail_from.contains("RET=HDRS") && sent[0].mail_from.contains("ENVID=QK+2B42"),
        "{}",
        sent[0].mail_from
    );
    assert!(
        sent[0].rcpts[0].contains("NOTIFY=SUCCESS")
            && sent[0].rcpts[0].contains("ORCPT=rfc822;Ok@x.test"),
        "{:?}",
        sent[0].rcpts
    );
    let d = home.wait_deliveries(1, WAIT);
    let parsed = python_reads(&d[0], server.dir.path());
    for want in [
        "message.Original-Envelope-Id=QK+42",
        "rcpt1.Original-Recipient=rfc822; Ok@x.test",
        "rcpt1.Final-Recipient=rfc822; ok@x.test",
        "rcpt1.Action=delivered",
        "rcpt1.Status=2.0.0",
    ] {
        assert!(
            parsed.iter().any(|l| l == want),
            "no {want:?} in {parsed:#?}"
        );
    }
}

#[test]
fn a_recipient_still_pending_after_delay_warning_gets_one_delay_notice() {
    let home = FakeMx::start(Options::new());
    let rest = format!(
        "[delivery]\ndns_server = {DEAD}\ndelay_warning = 1s\n{}\
         [domain:*]\nmx = {DEAD}\nretry_delay = 1s\n",
        route("sender.test", &home)
    );
    let server = Server::start("delay", &base_ini("", &rest));
    submit_raw(&server, "<a@sender.test>", &["<someone@parked.test>"]);
    let d = home.wait_deliveries(1, WAIT);
    let text = d[0].text();
    assert!(
        text.contains("Action: delayed") && text.contains("Will-Retry-Until: "),
        "{text}"
    );
    assert!(
        text.contains("--- someone@parked.test: DELAYED (still trying)"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(home.deliveries().len(), 1, "only one delay notice");
}
