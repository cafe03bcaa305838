//! Network faults on the delivery side: a receiving server that answers 421 and closes, never
//! greets, never gives the final reply, breaks the TLS handshake, splits its replies into
//! one-byte packets, or talks garbage. Each ends in the right retry (or delivery), with the
//! failing step in the delivery log and in `qksmtp show ID`, and the single worker goes on to
//! deliver the next message. (Closing in the middle of DATA, 4xx/5xx replies, refusing
//! greetings and DNS failures are in tests/delivery.rs.)

mod common;

use common::fake_mx::{Act, FakeMx, Options, Rule, Step};
use common::*;

const MSG: &str = "Subject: fault\r\nFrom: a@sender.test\r\n\r\nHello.\r\n.\r\n";

/// One worker, 1 s timeouts, the status page on, `fault.test` to the misbehaving server, `good.test` to a
/// well-behaved one; failed recipients wait an hour (one attempt is looked at).
fn fault_ini(bad: &FakeMx, good: &FakeMx) -> String {
    let rest = format!(
        "[delivery]\nworkers = 1\ndns_server = {DEAD}\ntimeout_connect = 1s\ntimeout_greeting = 1s\n\
         timeout_command = 1s\ntimeout_data_init = 1s\ntimeout_data_block = 1s\ntimeout_data_done = 1s\n{}{}",
        route("fault.test", bad, "retry_delay = 1h"),
        route("good.test", good, "")
    );
    // With the status page on, `qksmtp show` also finds delivered messages (their record).
    status_ini(&rest)
}

/// Runs one fault: the message to `x@fault.test` (a fake MX with `fault`) gets the log line
/// and step record the caller checks; then `y@good.test` is delivered by the same (only)
/// worker.
fn fault_case(name: &str, fault: Options) -> (FakeMx, String, String) {
    let bad = FakeMx::start(fault);
    let good = FakeMx::start(Options::new());
    let server = Server::start(name, &fault_ini(&bad, &good));
    let id = submit(&server, "a@sender.test", &["x@fault.test"], MSG);
    let line = server.wait_log(&["to=<x@fault.test>"]);
    let (code, show, err) = run_cli(server.dir.path(), &["show", &id]);
    assert_eq!(code, 0, "{err}");
    submit(&server, "a@sender.test", &["y@good.test"], MSG);
    let d = good.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["y@good.test"], "the worker goes on");
    (bad, line, show)
}

/// A fake MX that misbehaves at one step.
fn at(step: Step, act: Act) -> Options {
    Options::scripted(vec![Rule::new(step, act)])
}

fn assert_deferred(line: &str, reason: &str) {
    assert!(line.contains("result=\"deferred until"), "{line}");
    assert!(line.contains(reason), "want {reason:?} in {line}");
}

#[test]
fn a_421_at_mail_then_close_is_a_retry_at_mail() {
    let (_, line, show) = fault_case(
        "f421",
        at(
            Step::Mail,
            Act::ReplyClose("421 4.3.2 System shutting down".into()),
        ),
    );
    assert_deferred(&line, "421 4.3.2 System shutting down");
    assert!(line.contains("status=4.3.2"), "{line}");
    assert!(
        show.contains("MAIL") && show.contains("421 4.3.2"),
        "{show}"
    );
}

#[test]
fn a_server_that_never_greets_times_out_at_the_greeting() {
    let (_, line, show) = fault_case("fsilent", at(Step::Greeting, Act::Silent));
    assert_deferred(&line, "no answer in time");
    assert!(line.contains("status=4.4.1"), "{line}");
    assert!(show.contains("GREETING"), "{show}");
}

#[test]
fn no_final_reply_after_the_data_times_out_and_is_retried() {
    let (bad, line, show) = fault_case("fdata", at(Step::DataDone, Act::Silent));
    assert_deferred(&line, "no answer in time");
    assert!(show.contains("DATA-DONE"), "{show}");
    // The server got the whole message but never said so: at least once means it will get
    // it again at the retry.
    assert_eq!(bad.deliveries().len(), 1);
}

#[test]
fn a_failed_tls_handshake_is_retried_in_plain_text_at_once() {
    let (bad, line, show) = fault_case(
        "ftls",
        Options {
            // Offered, then answered with plain text instead of a ServerHello.
            extensions: vec!["STARTTLS".into()],
            ..at(
                Step::StartTls,
                Act::ReplyClose("220 2.0.0 go ahead\r\nthis is not a TLS server hello".into()),
            )
        },
    );
    assert!(line.contains("result=\"delivered\""), "{line}");
    assert!(
        line.contains(" tls=\"plain text after a failed handshake\" "),
        "{line}"
    );
    assert!(
        show.contains("!STARTTLS") && show.contains("plain text after a failed handshake"),
        "the failed handshake and the retry are recorded: {show}"
    );
    assert_eq!(bad.deliveries().len(), 1);
    assert!(bad.sessions().len() >= 2, "a second, plain-text connection");
}

#[test]
fn replies_split_into_one_byte_packets_are_understood() {
    let (bad, line, _) = fault_case(
        "fsplit",
        Options {
            split_replies: true,
            ..Options::new()
        },
    );
    assert!(line.contains("result=\"delivered\""), "{line}");
    assert_eq!(bad.deliveries().len(), 1);
    assert!(bad.deliveries()[0].text().contains("Subject: fault"));
}

#[test]
fn garbage_instead_of_a_reply_is_a_retry_at_ehlo() {
    let (_, line, show) = fault_case(
        "fgarbage",
        at(
            Step::Ehlo,
            Act::Reply("HTTP/1.1 400 Bad Request\r\nServer: not-smtp\r\n".into()),
        ),
    );
    assert_deferred(&line, "protocol error");
    assert!(
        line.contains("HTTP/1.1 400"),
        "the garbage is quoted: {line}"
    );
    assert!(show.contains("EHLO"), "{show}");
}

/// One worker and the timeouts of a real installation (greeting and final reply 300 s),
/// `stuck.test` routed to `mx`.
fn stuck_ini(mx: &FakeMx) -> String {
    let rest = format!(
        "[delivery]\nworkers = 1\ndns_server = {DEAD}\ntimeout_greeting = 300s\n\
         timeout_data_done = 300s\n{}",
        route("stuck.test", mx, "")
    );
    base_ini("", &rest)
}

/// The recipient line of the stopped server's envelope of `id`.
fn envelope_rcpt(dir: &std::path::Path, id: &str) -> String {
    let env = std::fs::read_to_string(dir.join("spool").join(format!("{id}.env"))).unwrap();
    let line = env.lines().find(|l| l.starts_with("rcpt ")).unwrap();
    line.to_string()
}

/// Sends SIGTERM and waits for the exit (`terminate` waits at most 20 s: far less than the
/// 300 s the stuck delivery would wait for its server).
fn stop_soon(server: Server) -> common::TempDir {
    let (status, dir) = server.terminate();
    assert!(status.success(), "{status:?}");
    dir
}

#[test]
fn sigterm_abandons_a_delivery_stuck_at_a_server_that_never_greets() {
    let mx = FakeMx::start(at(Step::Greeting, Act::Silent));
    let server = Server::start("stopgreet", &stuck_ini(&mx));
    let id = submit(&server, "a@sender.test", &["x@stuck.test"], MSG);
    assert!(mx.wait_until(WAIT, |_, s| !s.is_empty()), "no connection");
    let dir = stop_soon(server);
    assert!(mx.wait_sessions_ended(1, WAIT), "the connection is closed");
    let rcpt = envelope_rcpt(dir.path(), &id);
    assert!(
        rcpt.contains("state=pending") && rcpt.contains("tries=0/0"),
        "{rcpt}"
    );
    let restarted = Server::start_in(dir);
    assert!(
        restarted
            .startup
            .iter()
            .any(|l| l.contains("(1 message(s), 1 recipient(s) pending)")),
        "{:?}",
        restarted.startup
    );
}

#[test]
fn sigterm_waits_briefly_for_the_reply_to_a_sent_message_then_leaves_it_queued() {
    let mx = FakeMx::start(at(Step::DataDone, Act::Silent));
    let mut server = Server::start("stopdot", &stuck_ini(&mx));
    let id = submit(&server, "a@sender.test", &["x@stuck.test"], MSG);
    mx.wait_deliveries(1, WAIT);
    signal(&server.child, "TERM");
    let said = server.wait_stderr("get one twice");
    assert!(
        said.contains("1 message(s) sent in full got no reply"),
        "{said}"
    );
    assert!(wait_exit(&mut server.child).success());
    let dir = std::mem::replace(&mut server.dir, common::TempDir(Default::default()));
    let rcpt = envelope_rcpt(dir.path(), &id);
    assert!(
        rcpt.contains("state=pending") && rcpt.contains("tries=0/0"),
        "{rcpt}"
    );
}
