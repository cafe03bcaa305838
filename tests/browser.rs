//! The status page in a real browser: headless Chromium loads it, its script polls the JSON
//! API, a message is submitted, and the page shows "delivered". Screenshots are kept under
//! the target folder (`target/tmp/status-*.png`) as CI artefacts. Without Chromium the test
//! is skipped, except under CI (`CI` set), where .ci/run installs it.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `url` with `what` (`--dump-dom` or `--screenshot=FILE`); the
/// virtual time budget lets the page's script run its polls.
fn browse(exe: &Path, profile: &Path, url: &str, what: &str) -> String {
    let out = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=800,1000",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(what)
        .arg(url)
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_page_shows_delivered_in_a_real_browser() {
    let Some(exe) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium on PATH");
        return;
    };
    let mx = FakeMx::start(Options::new());
    let ini = status_ini(&route("a.test", &mx, ""));
    let server = Server::start("browser", &ini);
    let url = format!("http://{}/", server.status_addr.unwrap());
    let profile = TempDir::new("chromium-profile");
    let first = browse(&exe, profile.path(), &url, "--dump-dom");
    assert!(first.contains("no messages yet"), "{first}");
    assert!(
        first.contains("data-polls=\""),
        "the page's script polled the JSON API:\n{first}"
    );

    let msg = "Subject: seen in a browser\r\n\r\nHi.\r\n.\r\n";
    let id = submit(&server, "a@sender.test", &["you@a.test"], msg);
    wait_for(Duration::from_secs(60), || {
        let dom = browse(&exe, profile.path(), &url, "--dump-dom");
        if dom.contains(&id) && dom.contains("<span class=\"st delivered\">delivered</span>") {
            assert!(
                dom.contains("seen in a browser") && dom.contains("data-polls=\""),
                "{dom}"
            );
            return Ok(());
        }
        Err(format!("the page never showed delivered:\n{dom}"))
    });
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, page) in [
        ("status-page.png", url.clone()),
        ("status-message.png", format!("{url}message/{id}")),
    ] {
        let file = shots.join(name);
        let _ = std::fs::remove_file(&file);
        browse(
            &exe,
            profile.path(),
            &page,
            &format!("--screenshot={}", file.display()),
        );
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "a screenshot in {}", file.display());
    }
}
