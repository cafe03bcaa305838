//! The status page in a real browser: Playwright (tests/playwright/drive.mjs) drives headless
//! Chromium while this test submits the mail it asks for. Screenshots are kept under the
//! target folder (`target/tmp/status-*.png`) as CI artefacts. Without Chromium or Playwright
//! the test is skipped, except under CI (`CI` set), where .ci/run installs them.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;
use std::path::Path;
use std::process::Command;

/// A message with a latin-1 text, an HTML body that tries a script and a remote image, and
/// an attachment.
const RICH: &str = "Subject: rich\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
    Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\n\
    Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
    Gr=FC=DFe from the text part\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
    <p>Hello <b>HTML</b></p><script>document.body.dataset.ran = 'yes'</script>\
    <img alt=remote src=\"http://127.0.0.1:9/remote.png\">\r\n--a--\r\n--m\r\n\
    Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\
    Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n.\r\n";

/// Playwright (`playwright-core` from npm, in tests/playwright/, pointed at the system's
/// chromium) clicks through the page: a delivery appears without reloading, times are local
/// (UTC on hover), it fits 400 px, Hold, Release, Retry and Delete each take effect, and
/// the search box and a state filter find what they should, and a message's page shows its
/// text, its HTML in a sandboxed frame (no script runs, nothing remote loads) and its
/// attachments; a destination paused from the page keeps its mail until resumed; a TLS
/// requirement not met is said on the message's page, whose and what failed.
/// Skipped without chromium or `npm ci --prefix tests/playwright`, except under CI.
#[test]
fn the_page_is_live_and_its_buttons_work_in_a_real_browser() {
    use std::io::{BufRead, BufReader, Write};
    let Some((exe, dir)) = common::browser::browser() else {
        return;
    };
    let mx = FakeMx::start(Options::new());
    let routes = route("a.test", &mx, "")
        + &route("b.test", &mx, "retry_delay = 1h")
        + &route("c.test", &mx, "retry_delay = 1h")
        + &route("d.test", &mx, "retry_delay = 1h")
        + &route("e.test", &mx, "retry_delay = 1h\ntls_policy = encrypt");
    let server = Server::start("playwright", &status_ini(&routes));
    let url = format!("http://{}/", server.status_addr.unwrap());
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut driver = Command::new("node")
        .arg(dir.join("drive.mjs"))
        .arg(&url)
        .arg(shots)
        .env("CHROMIUM", exe)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_driver = driver.stdin.take().unwrap();
    let mut done = Vec::new();
    for line in BufReader::new(driver.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(address) = line.strip_prefix("submit-html ") {
            let id = submit(&server, "a@sender.test", &[address], RICH);
            writeln!(to_driver, "{id}").unwrap();
        } else if let Some(address) = line.strip_prefix("submit ") {
            let msg = format!("Subject: clicked in a browser\r\n\r\nHi {address}.\r\n.\r\n");
            let id = submit(&server, "a@sender.test", &[address], &msg);
            writeln!(to_driver, "{id}").unwrap();
        } else if let Some(step) = line.strip_prefix("ok ") {
            done.push(step.to_string());
        }
    }
    let status = driver.wait().unwrap();
    assert!(status.success(), "the browser run failed after {done:?}");
    assert_eq!(
        done,
        [
            "live", "hold", "release", "retry", "delete", "search", "content", "pause", "tls"
        ]
    );
}

/// The bulk buttons in a real browser (tests/playwright/bulk.mjs): Hold on a destination
/// filter holds what it finds and nothing else; Delete on a search asks, then deletes what
/// it finds. Skipped like the test above.
#[test]
fn the_bulk_buttons_act_on_what_the_search_finds_in_a_real_browser() {
    let Some((exe, dir)) = common::browser::browser() else {
        return;
    };
    // Every domain goes to a closed port: the mail stays queued.
    let server = Server::start(
        "playwright-bulk",
        &status_ini("[domain:*]\nmx = 127.0.0.1:9\nretry_delay = 1h\n"),
    );
    let page = server.status_addr.unwrap();
    let msg = "Subject: bulk in a browser\r\n\r\nHi.\r\n.\r\n";
    let ids: Vec<String> = ["a@slow.test", "b@slow.test", "c@stay.test", "d@doomed.test"]
        .iter()
        .map(|to| submit(&server, "a@sender.test", &[to], msg))
        .collect();
    let out = Command::new("node")
        .arg(dir.join("bulk.mjs"))
        .arg(format!("http://{page}/"))
        .arg(env!("CARGO_TARGET_TMPDIR"))
        .args(&ids)
        .env("CHROMIUM", exe)
        .output()
        .expect("run node");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(said.lines().collect::<Vec<_>>(), ["ok hold", "ok delete"]);
    // The server agrees: held, held, untouched, gone.
    let state = |id: &str| http(page, "GET", &format!("/api/messages/{id}"), &[]);
    assert!(state(&ids[0]).1.contains("\"held\":true"));
    assert!(state(&ids[1]).1.contains("\"held\":true"));
    assert!(state(&ids[2]).1.contains("\"held\":false"));
    assert_eq!(state(&ids[3]).0, 404);
}
