//! Bulk queue actions: `qksmtp retry|hold|release|delete` with `--all`, `--domain`, `--from`,
//! `--older-than`, through the API while the server runs and on the spool while it is
//! stopped; `delete` without a terminal needs `--yes`.

mod common;
use common::*;

const MSG: &str = "Subject: bulk test\r\nFrom: a@sender.test\r\n\r\nHi.\r\n.\r\n";

fn held(page: std::net::SocketAddr, id: &str) -> bool {
    let (code, body) = http(page, "GET", &format!("/api/messages/{id}"), &[]);
    assert_eq!(code, 200, "{id}: {body}");
    body.contains("\"held\":true")
}

#[test]
fn bulk_actions_take_what_the_selectors_name_with_the_server_up_and_down() {
    // Every domain goes to a closed port: the mail stays queued.
    let server = Server::start(
        "bulk",
        &status_ini("[domain:*]\nmx = 127.0.0.1:9\nretry_delay = 1h\n"),
    );
    let page = server.status_addr.unwrap();
    let dir = server.dir.path().to_path_buf();
    let first = submit(&server, "a@sender.test", &["x@slow.test"], MSG);
    let second = submit(
        &server,
        "b@sender.test",
        &["y@slow.test", "z@other.test"],
        MSG,
    );
    let other = submit(&server, "a@sender.test", &["w@other.test"], MSG);
    let news = submit(&server, "list@news.test", &["v@other.test"], MSG);
    // Up: through the API.
    let (code, out, err) = run_cli(&dir, &["hold", "--domain", "SLOW.test"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 message(s) held"), "{out}");
    let now_held: Vec<bool> = [&first, &second, &other, &news]
        .iter()
        .map(|id| held(page, id))
        .collect();
    assert_eq!(now_held, [true, true, false, false]);
    // A dry run lists and changes nothing.
    let (code, out, _) = run_cli(&dir, &["delete", "--from", "@news.test", "--dry-run"]);
    assert!(
        code == 0 && out.contains(&news) && out.contains("1 message(s) would be deleted"),
        "{out}"
    );
    assert!(!out.contains(&other), "{out}");
    // No terminal to ask on: delete needs --yes, and deletes nothing without it.
    let (code, out, err) = run_cli(&dir, &["delete", "--from", "@news.test"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("would delete 1 message(s)") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(
        http(page, "GET", &format!("/api/messages/{news}"), &[]).0,
        200
    );
    let (code, out, err) = run_cli(&dir, &["delete", "--from", "list@NEWS.test", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 message(s) deleted"), "{out}");
    assert_eq!(
        http(page, "GET", &format!("/api/messages/{news}"), &[]).0,
        404
    );
    // Nothing matches: said, and not an error.
    let (code, out, _) = run_cli(&dir, &["retry", "--from", "nobody@sender.test"]);
    assert!(code == 0 && out.contains("no message"), "{out}");
    // Bad selectors are usage errors that name the fix.
    let (code, _, err) = run_cli(&dir, &["delete", "--all", "--from", "<>"]);
    assert!(
        code == 2 && err.contains("--all takes every message"),
        "{err}"
    );
    let (code, _, err) = run_cli(&dir, &["hold", "--older-than", "ages"]);
    assert!(code == 2 && err.contains("duration"), "{err}");
    // Down: on the spool, with the same selectors.
    let (_, kept) = server.terminate();
    let dir = kept.path();
    let (code, out, _) = run_cli(dir, &["release", "--from", "b@sender.test"]);
    assert!(code == 0 && out.contains("1 message(s) released"), "{out}");
    let (_, listed, _) = run_cli(dir, &["queue"]);
    assert_eq!(listed.matches("[held]").count(), 1, "{listed}");
    assert!(listed.contains(&first), "{listed}");
    let (code, out, _) = run_cli(dir, &["delete", "--older-than", "1h", "--yes"]);
    assert!(
        code == 0 && out.contains("no message to be deleted"),
        "{out}"
    );
    let (code, out, err) = run_cli(dir, &["delete", "--all", "--yes"]);
    assert!(
        code == 0 && out.contains("3 message(s) deleted"),
        "{out}{err}"
    );
    assert!(spool_files(&dir.join("spool"), "env").is_empty());
}
