//! Python's dkimpy as the judge of our DKIM signatures: runs tests/data/dkim_verify.py on a
//! message with the DNS TXT records given. Shared by the unit tests in src/intake/dkim (by
//! `#[path]`) and the integration tests.

#[path = "python.rs"]
#[allow(clippy::duplicate_mod)] // included by each judge, which unit tests in src include alone
mod python;

/// Runs dkimpy on `message` with `records`: `Some(pass)` per signature, top first; `None`
/// when dkimpy is not installed (a failure under CI).
pub fn dkimpy(message: &[u8], records: &str) -> Option<Vec<bool>> {
    let files: [(&str, &[u8]); 2] = [("message.eml", message), ("records", records.as_bytes())];
    let out = python::run("dkim_verify.py", &files, "dkimpy pynacl")?;
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
