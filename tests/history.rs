//! History that survives a restart: finished messages are kept in the journal in the spool
//! folder and found again, by the command line with the server stopped and by the page's API
//! after a restart.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;

const MSG: &str = "Subject: Invoice 42\r\nFrom: a@sender.test\r\n\r\nHi.\r\n.\r\n";

#[test]
fn finished_messages_are_found_after_a_restart() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("history", &status_ini(&route("a.test", &mx, "")));
    let page = server.status_addr.unwrap();
    let delivered = submit(&server, "a@sender.test", &["bob@a.test"], MSG);
    let failed = submit(&server, "c@sender.test", &["permfail@a.test"], MSG);
    wait_http(
        page,
        &format!("/api/messages/{delivered}"),
        &["\"state\":\"delivered\""],
    );
    wait_http(
        page,
        &format!("/api/messages/{failed}"),
        &["\"state\":\"failed\""],
    );
    let (_, dir) = server.terminate();
    // Stopped: the command line reads the journal.
    let (code, shown, err) = run_cli(dir.path(), &["show", &delivered]);
    assert_eq!(code, 0, "{shown}{err}");
    assert!(
        shown.contains("delivered") && shown.contains("DATA-DONE") && shown.contains("Invoice 42"),
        "{shown}"
    );
    let (code, listed, _) = run_cli(dir.path(), &["queue", "--history", "bob@A.test"]);
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed.contains(&delivered) && !listed.contains(&failed),
        "{listed}"
    );
    assert!(
        listed.contains("1 finished message(s) shown of 2"),
        "{listed}"
    );
    // Restarted: the page's API finds them by search and by ID, with their steps.
    let server = Server::start_in(dir);
    let page = server.status_addr.unwrap();
    let found = wait_http(page, "/api/messages?q=permfail%40a.test", &[&failed]);
    assert!(!found.contains(&delivered), "{found}");
    let (code, detail) = http(page, "GET", &format!("/api/messages/{failed}"), &[]);
    assert_eq!(code, 200, "{detail}");
    assert!(
        detail.contains("\"state\":\"failed\"") && detail.contains("550 5.1.1"),
        "{detail}"
    );
    let (code, shown, _) = run_cli(server.dir.path(), &["show", &delivered]);
    assert!(code == 0 && shown.contains("DATA-DONE"), "{shown}");
    // And it keeps adding to them.
    let third = submit(&server, "a@sender.test", &["carol@a.test"], MSG);
    wait_http(
        page,
        &format!("/api/messages/{third}"),
        &["\"state\":\"delivered\""],
    );
    wait_http(page, "/api/messages?q=invoice", &["\"total\":3"]);
}
