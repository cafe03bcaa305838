//! postfix-mta-sts-resolver (PyPI) as the second reader of MTA-STS policies: runs
//! tests/data/sts_resolver_check.py, which gives each policy text to the resolver's own
//! `resolve()` as an HTTPS body. Shared by the unit tests in src/deliver/tls_policy/sts (by
//! `#[path]`).

#[path = "python.rs"]
#[allow(clippy::duplicate_mod)] // included by each judge, which unit tests in src include alone
mod python;

/// What the resolver made of one policy: `None` when it refused it, else (mode, max_age, mx
/// values as it keeps them).
pub type Verdict = Option<(String, u64, Vec<String>)>;

/// The resolver's verdict on each of `policies`, in order; `None` when the resolver is not
/// installed (a failure under CI).
pub fn sts_resolver(policies: &[String]) -> Option<Vec<Verdict>> {
    let list: Vec<String> = policies.iter().map(|p| json_string(p)).collect();
    let json = format!("[{}]", list.join(","));
    let files: [(&str, &[u8]); 1] = [("policies.json", json.as_bytes())];
    let out = python::run("sts_resolver_check.py", &files, "postfix-mta-sts-resolver")?;
    assert!(
        out.status.success(),
        "sts_resolver_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<Verdict> = stdout.lines().map(verdict).collect();
    assert_eq!(verdicts.len(), policies.len(), "{stdout}");
    Some(verdicts)
}

fn verdict(line: &str) -> Verdict {
    if line == "refused" {
        return None;
    }
    let mut fields = line.split('\t');
    let mode = fields.next().unwrap().to_string();
    let max_age = fields.next().unwrap().parse().unwrap();
    Some((mode, max_age, fields.map(str::to_string).collect()))
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
