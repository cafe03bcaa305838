//! Runs one of the Python judges in tests/data (dkimpy, postfix-mta-sts-resolver) on files
//! written to a private temporary folder. Included by `#[path]` from the judges' helpers, which
//! are themselves shared with unit tests in src.

use std::process::Output;

/// Writes `files` (name, bytes) to a fresh folder, runs `python3 tests/data/SCRIPT` with their
/// paths as arguments and returns what it printed; `None` when the script says (exit code 3)
/// that its module is missing, or python3 is not there: a failure under CI, where `.ci/run`
/// installs `needs` (the pip packages, in words).
pub fn run(script: &str, files: &[(&str, &[u8])], needs: &str) -> Option<Output> {
    let dir = std::env::temp_dir().join(format!(
        "qksmtp-{}-{}-{:?}",
        script.trim_end_matches(".py"),
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = std::process::Command::new("python3");
    command.arg(format!(
        "{}/tests/data/{script}",
        env!("CARGO_MANIFEST_DIR")
    ));
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
        command.arg(dir.join(name));
    }
    let out = command.output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(out) if out.status.code() != Some(3) => Some(out),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have python3 with {needs} (.ci/run installs them)"
            );
            eprintln!("skipped: no python3 with {needs} (pip install {needs})");
            None
        }
    }
}
