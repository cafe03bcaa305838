//! `status_password` on the real binary: without it nobody gets the page, the API or the
//! action token (401 with a Basic challenge); with it (HTTP Basic, any user name) the page
//! carries the token and actions work; the qksmtp commands that use the API still work,
//! with the token of `spool/.status`; a reload that removes the password opens the page.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;
use std::process::Command;

const MSG: &str = "Subject: login test\r\nFrom: a@sender.test\r\n\r\nHi.\r\n.\r\n";

/// The `status_password = HASH` line that `qksmtp passwd status_password` prints.
fn password_line(password: &str) -> String {
    let out = run_with_stdin(
        Command::new(BIN).args(["passwd", "status_password"]),
        &format!("{password}\n"),
    );
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(line.starts_with("status_password = $argon2id$"), "{line}");
    line
}

fn basic(password: &str) -> String {
    let pair = format!("admin:{password}");
    format!("Basic {}", b64(pair.as_bytes()))
}

#[test]
fn the_status_page_needs_its_password_and_the_commands_still_work() {
    let mx = FakeMx::start(Options::new());
    let line = password_line("correct horse");
    let ini = with_status_page(&base_ini(&line, &route("a.test", &mx, "retry_delay = 1h")));
    let server = Server::start("status-login", &ini);
    let page = server.status_addr.unwrap();
    let dir = server.dir.path().to_path_buf();
    let status_file = std::fs::read_to_string(server.spool().join(".status")).unwrap();
    let token = status_file.lines().nth(1).unwrap().to_string();
    let id = submit(&server, "a@sender.test", &["tempfail@a.test"], MSG);

    // Without the password (or with a wrong one): 401, a challenge, and no token anywhere.
    // A wrong one is logged and costs its address time (1 s, then 2 s...), so it is tried
    // on two paths only.
    let wrong = basic("wrong");
    let message = format!("/message/{id}");
    let every = ["/", "/api/status", "/api/messages", &message];
    for headers in [vec![], vec![("Authorization", wrong.as_str())]] {
        let paths = match headers.is_empty() {
            true => &every[..],
            false => &every[2..],
        };
        for &path in paths {
            let (code, head, body) = http_full(page, "GET", path, &headers);
            assert_eq!(code, 401, "{path}: {head}\n{body}");
            assert!(head.contains("WWW-Authenticate: Basic realm="), "{head}");
            assert!(!body.contains(&token) && !body.contains(&id), "{body}");
        }
        let (code, _, _) = http_full(page, "POST", "/api/flush", &headers);
        assert_ne!(code, 200);
    }
    let said = server.wait_stderr("wrong status_password (2 in a row)");
    assert!(said.contains("127.0.0.1: "), "{said}");

    // With it: the page, with the token in it; actions with page and token.
    let right = basic("correct horse");
    let auth = ("Authorization", right.as_str());
    let (code, body) = http(page, "GET", "/", &[auth]);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&token),
        "the logged-in page carries the token"
    );
    let (code, body) = http(page, "GET", &format!("/api/messages/{id}"), &[auth]);
    assert!(code == 200 && body.contains("tempfail@a.test"), "{body}");
    let act = [auth, ("X-Qksmtp-Token", token.as_str())];
    let (code, body) = http(page, "POST", &format!("/api/messages/{id}/hold"), &act);
    assert_eq!(code, 200, "{body}");
    assert_eq!(http(page, "POST", "/api/flush", &[auth]).0, 403, "no token");

    // Python's urllib, a client nobody here wrote, answers the challenge as a browser does:
    // a first request without credentials, the 401, then the password.
    let login = format!(
        "import urllib.request as u\nurl = 'http://{page}/api/status'\n\
         m = u.HTTPPasswordMgrWithDefaultRealm()\nm.add_password(None, url, 'me', 'correct horse')\n\
         print(u.build_opener(u.HTTPBasicAuthHandler(m)).open(url).status)\n"
    );
    let out = Command::new("python3")
        .args(["-c", &login])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.trim(),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The commands: through the API with the token of spool/.status.
    let (code, listed, err) = run_cli(&dir, &["queue"]);
    assert!(code == 0 && listed.contains("[held]"), "{listed}{err}");
    let (code, out, err) = run_cli(&dir, &["release", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(&dir, &["flush"]);
    assert_eq!(code, 0, "{out}{err}");
    let sent = run_cli_stdin(
        &dir,
        &["send", "-f", "a@sender.test", "ok@a.test"],
        "Subject: sent\n\nby the command\n",
    );
    assert_eq!(sent.0, 0, "{}{}", sent.1, sent.2);
    mx.wait_deliveries(1, WAIT);

    // Reloaded without the password, the page opens to all in status_allow again.
    let open = with_status_page(&base_ini("", &route("a.test", &mx, "retry_delay = 1h")));
    let open = open.replace(
        "status_listen = 127.0.0.1:0",
        &format!("status_listen = {page}"),
    );
    write_ini(server.dir.path(), &open);
    let (code, out, err) = run_cli(&dir, &["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(http(page, "GET", "/api/status", &[]).0, 200);
}
