//! Telling the sender, end to end: the real binary delivers to in-test fake MX servers, and
//! its bounces, delay notices and receipts arrive at a second fake MX that stands for the
//! sender's domain (`[domain:sender.test] mx = 127.0.0.1:PORT`).

mod common;

use common::fake_mx::{Delivery, FakeMx, Options};
use common::*;
use std::time::Duration;

const MSG: &str = "Subject: hello\r\nFrom: a@sender.test\r\n\r\nHi there.\r\n.\r\n";

/// A server that sends x.test to `mx` and the senders' domain, sender.test, to `home`.
fn start_x_and_home(name: &str, mx: &FakeMx, home: &FakeMx) -> Server {
    let rest = format!(
        "{}{}",
        route("x.test", mx, ""),
        route("sender.test", home, "")
    );
    Server::start(name, &base_ini("", &rest))
}

/// Waits until `qksmtp queue` lists no message.
fn wait_queue_empty(server: &Server) {
    wait_for(WAIT, || {
        let (_, out, _) = run_cli(server.dir.path(), &["queue"]);
        out.contains("0 messages").then_some(()).ok_or(out)
    })
}

/// Runs tests/data/bounce/parse_dsn.py (Python's `email` package) over a delivered notice;
/// asserts that it reads every line of `wants`, and returns all it read.
fn python_reads(notice: &Delivery, dir: &std::path::Path, wants: &[&str]) -> Vec<String> {
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
    let parsed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for want in wants {
        assert!(
            parsed.iter().any(|l| l == want),
            "no {want:?} in {parsed:#?}"
        );
    }
    parsed
}

#[test]
fn a_permanent_failure_bounces_to_the_senders_domain() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let server = start_x_and_home("bounce", &mx, &home);
    let id = submit(
        &server,
        "<a@sender.test>",
        &["<permfail@x.test>", "<ok@x.test>"],
        MSG,
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
    let parsed = python_reads(
        &d[0],
        server.dir.path(),
        &[
            "rcpt1.Final-Recipient=rfc822; permfail@x.test",
            "rcpt1.Action=failed",
            "rcpt1.Status=5.1.1",
            "rcpt1.Remote-MTA=dns; 127.0.0.1",
            "rcpt1.Diagnostic-Code=smtp; 550 5.1.1 No such user",
            "returned.Subject=hello",
        ],
    );
    assert!(!parsed.iter().any(|l| l.starts_with("rcpt2.")));
    server.wait_log(&["from=<>", "to=<a@sender.test>", "delivered"]);
    wait_queue_empty(&server);
}

#[test]
fn no_bounce_for_a_null_sender() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let server = start_x_and_home("nullsender", &mx, &home);
    submit(&server, "<>", &["<permfail@x.test>"], MSG);
    server.wait_log(&["to=<permfail@x.test>", "failed (permanent)"]);
    wait_queue_empty(&server);
    let told = home.wait_until(Duration::from_millis(300), |_, s| !s.is_empty());
    assert!(!told, "nobody is told");
}

#[test]
fn a_bounce_that_fails_is_dropped_not_bounced() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let server = start_x_and_home("noloop", &mx, &home);
    submit(
        &server,
        "<permfail@sender.test>",
        &["<permfail@x.test>"],
        MSG,
    );
    server.wait_log(&["from=<>", "to=<permfail@sender.test>", "failed (permanent)"]);
    wait_queue_empty(&server);
    // A second session (a bounce of the bounce) would come within this time.
    home.wait_until(Duration::from_millis(300), |_, s| s.len() > 1);
    assert_eq!(
        home.sessions().len(),
        1,
        "one attempt at the bounce, no bounce of it"
    );
    assert!(home.deliveries().is_empty());
    let (_, out, _) = run_cli(server.dir.path(), &["queue"]);
    assert!(out.contains("0 messages"), "{out}");
}

/// A message from a@sender.test to ok@x.test with RET, ENVID, NOTIFY=SUCCESS and ORCPT.
fn submit_asking_for_a_receipt(server: &Server) {
    submit(
        server,
        "<a@sender.test> RET=HDRS ENVID=QK+2B42",
        &["<ok@x.test> NOTIFY=SUCCESS ORCPT=rfc822;Ok@x.test"],
        MSG,
    );
}

#[test]
fn notify_success_goes_to_a_dsn_next_hop_which_sends_the_receipt_itself() {
    let mx = FakeMx::start(Options {
        dsn: true,
        ..Options::new()
    });
    let home = FakeMx::start(Options::new());
    let server = start_x_and_home("receipt", &mx, &home);
    submit_asking_for_a_receipt(&server);
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
    // A receipt of ours would be queued before the original leaves the queue: once the queue
    // is empty, none was made (RFC 3461 5.2.2: the next hop reports "delivered" itself).
    wait_queue_empty(&server);
    assert!(home.deliveries().is_empty(), "a second receipt from us");
}

#[test]
fn notify_success_to_a_next_hop_without_dsn_gives_a_relayed_receipt() {
    let mx = FakeMx::start(Options::new());
    let home = FakeMx::start(Options::new());
    let server = start_x_and_home("receipt-relayed", &mx, &home);
    submit_asking_for_a_receipt(&server);
    let sent = mx.wait_deliveries(1, WAIT);
    assert!(!sent[0].rcpts[0].contains("NOTIFY"), "{:?}", sent[0].rcpts);
    let d = home.wait_deliveries(1, WAIT);
    python_reads(
        &d[0],
        server.dir.path(),
        &[
            "message.Original-Envelope-Id=QK+42",
            "rcpt1.Original-Recipient=rfc822; Ok@x.test",
            "rcpt1.Final-Recipient=rfc822; ok@x.test",
            "rcpt1.Action=relayed",
            "rcpt1.Status=2.0.0",
        ],
    );
}

#[test]
fn a_recipient_still_pending_after_delay_warning_gets_one_delay_notice() {
    let home = FakeMx::start(Options::new());
    let rest = format!(
        "[delivery]\ndns_server = {DEAD}\ndelay_warning = 1s\n{}\
         [domain:*]\nmx = {DEAD}\nretry_delay = 1s\n",
        route("sender.test", &home, "")
    );
    let server = Server::start("delay", &base_ini("", &rest));
    submit(&server, "<a@sender.test>", &["<someone@parked.test>"], MSG);
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
    // A second notice would come within this time (delay_warning and retry_delay are 1s).
    home.wait_until(Duration::from_millis(2500), |d, _| d.len() > 1);
    assert_eq!(home.deliveries().len(), 1, "only one delay notice");
}
