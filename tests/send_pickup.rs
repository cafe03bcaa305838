//! A message `qksmtp send` commits while the server runs is delivered at once even when the
//! server's API cannot be reached (the status page is off): it is announced in the spool.

mod common;

use common::fake_mx::{FakeMx, Options};
use common::*;

#[test]
fn send_without_the_status_api_is_delivered_by_the_running_server() {
    let mx = FakeMx::start(Options::new());
    // base_ini leaves the status page off: `send` cannot reach the server's API.
    let server = Server::start("send-pickup", &base_ini("", &route("a.test", &mx, "")));
    let (code, _, err) = run_cli_stdin(
        server.dir.path(),
        &["send", "-f", "me@sender.test", "you@a.test"],
        "Subject: no API\n\nbody\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("next start"), "{err}");
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["you@a.test"]);
    server.wait_stderr("committed by another process; queued");
    let incoming = server.spool().join("incoming");
    wait_until(
        || std::fs::read_dir(&incoming).is_ok_and(|mut d| d.next().is_none()),
        "the announcement made, then removed",
    );
}

#[test]
fn send_streams_a_large_message_into_the_spool_as_it_reads_it() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("send-stream", &base_ini("", &route("a.test", &mx, "")));
    let message = big_message(10_000); // 1 MB: past the 256 KiB kept in memory
    let mut send = std::process::Command::new(BIN);
    send.args(["send", "-t", "-f", "me@sender.test", "--config"])
        .arg(server.dir.path().join("qksmtp.ini"));
    send_streaming(&mut send, &server.spool(), &message);
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d[0].rcpt_addrs(), ["you@a.test", "hidden@a.test"]);
    let text = d[0].text();
    let body = message.split_once("\n\n").unwrap().1.replace('\n', "\r\n");
    assert!(
        text.ends_with(&format!("Subject: big\r\n\r\n{body}")),
        "the body intact"
    );
    assert!(!text.contains("Bcc:"), "Bcc removed");
}
