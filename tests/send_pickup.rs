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
