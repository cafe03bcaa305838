//! Network faults on the delivery side: a receiving server that answers 421 and closes, never
//! greets, never gives the final reply, breaks the TLS handshake, splits its replies into
//! one-byte packets, or talks garbage. Each ends in the right retry (or delivery), with the
//! failing step in the delivery log and in `qksmtp show ID`, and the single worker goes on to
//! deliver the next message. (Closing in the middle of DATA, 4xx/5xx replies, refusing
//! greetings and DNS failures are in tests/delivery.rs.)

mod common;
#[path = "common/scripted_mx.rs"]
#[allow(dead_code)]
mod scripted_mx;

use common::fake_mx::{FakeMx, Options};
use common::*;
use scripted_mx::{Fault, ScriptedMx};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const MSG: &str = "Subject: fault\r\nFrom: a@sender.test\r\n\r\nHello.\r\n.\r\n";

/// One worker, 1 s timeouts, the status page on, `fault.test` to the misbehaving server, `good.test` to a
/// well-behaved one; failed recipients wait an hour (one attempt is looked at).
fn start(name: &str, bad: &ScriptedMx, good: &FakeMx) -> Server {
    let rest = format!(
        "[delivery]\nworkers = 1\ndns_server = {DEAD}\ntimeout_connect = 1s\ntimeout_greeting = 1s\n\
         timeout_command = 1s\ntimeout_data_init = 1s\ntimeout_data_block = 1s\ntimeout_data_done = 1s\n\
         [domain:fault.test]\nmx = 127.0.0.1:{}\nretry_delay = 1h\n\
         [domain:good.test]\nmx = 127.0.0.1:{}\n",
        bad.port(),
        good.port()
    );
    // With the status page on, `qksmtp show` also finds delivered messages (their record).
    Server::start(name, &status_ini(&rest))
}

fn submit(server: &Server, to: &str) -> String {
    let mut c = server.connect();
    c.hello();
    let id = queued_id(&c.send_mail("a@sender.test", &[to], MSG));
    c.cmd("QUIT");
    id
}

/// Waits for the delivery log line about `to`.
fn log_line(server: &Server, to: &str) -> String {
    let path = server.dir.path().join("delivery.log");
    let needle = format!("to=<{to}>");
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(&needle)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line for {to}:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one fault: the message to `x@fault.test` gets the log line and step record the
/// caller checks; then `y@good.test` is delivered by the same (only) worker.
fn fault_case(name: &str, fault: Fault) -> (ScriptedMx, String, String) {
    let bad = ScriptedMx::start(fault);
    let good = FakeMx::start(Options::new());
    let server = start(name, &bad, &good);
    let id = submit(&server, "x@fault.test");
    let line = log_line(&server, "x@fault.test");
    let (code, show, err) = run_cli(server.dir.path(), &["show", &id]);
    assert_eq!(code, 0, "{err}");
    submit(&server, "y@good.test");
    let d = good.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["y@good.test"], "the worker goes on");
    (bad, line, show)
}

fn assert_deferred(line: &str, reason: &str) {
    assert!(line.contains("result=\"deferred until"), "{line}");
    assert!(line.contains(reason), "want {reason:?} in {line}");
}

#[test]
fn a_421_at_mail_then_close_is_a_retry_at_mail() {
    let (_, line, show) = fault_case("f421", Fault::Close421AtMail);
    assert_deferred(&line, "421 4.3.2 System shutting down");
    assert!(line.contains("status=4.3.2"), "{line}");
    assert!(
        show.contains("MAIL") && show.contains("421 4.3.2"),
        "{show}"
    );
}

#[test]
fn a_server_that_never_greets_times_out_at_the_greeting() {
    let (_, line, show) = fault_case("fsilent", Fault::NoGreeting);
    assert_deferred(&line, "no answer in time");
    assert!(line.contains("status=4.4.1"), "{line}");
    assert!(show.contains("GREETING"), "{show}");
}

#[test]
fn no_final_reply_after_the_data_times_out_and_is_retried() {
    let (bad, line, show) = fault_case("fdata", Fault::SilentAfterData);
    assert_deferred(&line, "no answer in time");
    assert!(show.contains("DATA-DONE"), "{show}");
    // The server got the whole message but never said so: at least once means it will get
    // it again at the retry.
    assert_eq!(bad.deliveries().len(), 1);
}

#[test]
fn a_failed_tls_handshake_is_retried_in_plain_text_at_once() {
    let (bad, line, show) = fault_case("ftls", Fault::BadTlsHandshake);
    assert!(line.contains("result=\"delivered\""), "{line}");
    assert!(
        show.contains("STARTTLS"),
        "the failed handshake is recorded: {show}"
    );
    assert_eq!(bad.deliveries().len(), 1);
    assert!(bad.sessions() >= 2, "a second, plain-text connection");
}

#[test]
fn replies_split_into_one_byte_packets_are_understood() {
    let (bad, line, _) = fault_case("fsplit", Fault::SplitReplies);
    assert!(line.contains("result=\"delivered\""), "{line}");
    assert_eq!(bad.deliveries().len(), 1);
    assert!(bad.deliveries()[0].contains("Subject: fault"));
}

#[test]
fn garbage_instead_of_a_reply_is_a_retry_at_ehlo() {
    let (_, line, show) = fault_case("fgarbage", Fault::GarbageReply);
    assert_deferred(&line, "protocol error");
    assert!(
        line.contains("HTTP/1.1 400"),
        "the garbage is quoted: {line}"
    );
    assert!(show.contains("EHLO"), "{show}");
}
