//! Python's dkimpy as the judge of our DKIM signatures: runs tests/data/dkim_verify.py on a
//! message with the DNS TXT records given. Shared by the unit tests in src/intake/dkim (by
//! `#[path]`) and the integration tests.

/// Runs dkimpy on `message` with `records`: `Some(pass)` per signature, top first; `None`
/// when dkimpy is not installed (a failure under CI).
pub fn dkimpy(message: &[u8], records: &str) -> Option<Vec<bool>> {
    let dir = std::env::temp_dir().join(format!(
        "qksmtp-dkimpy-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("message.eml"), message).unwrap();
    std::fs::write(dir.join("records"), records).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dkim_verify.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(dir.join("message.eml"))
        .arg(dir.join("records"))
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(out) if out.status.code() != Some(3) => out,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have python3 with dkimpy and pynacl (.ci/run installs them)"
            );
            eprintln!("skipped: no python3 with dkimpy (pip install dkimpy pynacl)");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdicts: Vec<bool> = stdout.lines().map(|l| l.ends_with(" pass")).collect();
    if verdicts.iter().any(|ok| !ok) {
        eprintln!(
            "dkimpy said:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(verdicts)
}
