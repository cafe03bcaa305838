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
