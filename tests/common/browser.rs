//! The real browser the page's tests click with: Debian's chromium, driven by Playwright
//! (`playwright-core` from npm in tests/playwright/, installed by `npm ci --prefix
//! tests/playwright`).

use std::path::{Path, PathBuf};

/// The chromium program and the tests/playwright folder; `None` (the test is skipped, saying
/// why) when either is missing, except under CI, where .ci/run installs both.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/playwright");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let exe = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file());
    match (exe, dir.join("node_modules/playwright-core").is_dir()) {
        (Some(exe), true) => Some((exe, dir)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have chromium and tests/playwright/node_modules (.ci/run installs them)"
            );
            eprintln!(
                "skipped: no chromium or no playwright-core (npm ci --prefix tests/playwright)"
            );
            None
        }
    }
}
