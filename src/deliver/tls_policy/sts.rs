//! MTA-STS texts (RFC 8461): the `_mta-sts` TXT record (`v=STSv1; id=...`), the policy file
//! (`version`, `mode`, `mx`, `max_age`), and whether an MX host name matches the policy's
//! patterns. Pure parsers with table tests; fetching and caching are elsewhere.

use std::fmt;
use std::time::Duration;

/// The longest `max_age` a policy may give (RFC 8461 §3.2: about a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        })
    }
}

/// A domain's MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// `mx.example.test` or `*.example.test`, lower case, no trailing dot.
    pub mx: Vec<String>,
    pub max_age: Duration,
}

/// The `id` of a domain's one `v=STSv1` TXT record. `None` when there is no such record,
/// several, or one that is not well formed: then the domain has no policy (RFC 8461 §3.1).
pub fn record_id(txts: &[String]) -> Option<String> {
    let sts: Vec<&String> = txts.iter().filter(|t| t.starts_with("v=STSv1")).collect();
    let [record] = sts[..] else { return None };
    let mut fields = record.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next() != Some("v=STSv1") {
        return None;
    }
    let mut id = None;
    for field in fields {
        let (key, value) = field.split_once('=')?;
        if key.trim() == "id" && id.is_none() {
            id = Some(value.trim());
        }
    }
    let id = id?;
    let valid = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| id.to_string())
}

/// Reads a policy file. Unknown fields are ignored; lines end with LF or CRLF.
pub fn parse(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("line {line:?} is not `key: value`"))?;
        let value = value.trim();
        match key {
            "version" => version = version.or(Some(value)),
            "mode" => mode = mode.or(Some(value)),
            "max_age" => max_age = max_age.or(Some(value)),
            "mx" => mx.push(mx_pattern(value)?),
            _ => {}
        }
    }
    match version {
        Some("STSv1") => {}
        Some(other) => return Err(format!("version {other:?}, not STSv1")),
        None => return Err("no version".into()),
    }
    let mode = match mode {
        Some("enforce") => Mode::Enforce,
        Some("testing") => Mode::Testing,
        Some("none") => Mode::None,
        Some(other) => return Err(format!("mode {other:?}, not enforce, testing or none")),
        None => return Err("no mode".into()),
    };
    let max_age = max_age.ok_or("no max_age")?;
    let seconds: u64 = match max_age.parse() {
        Ok(n) if max_age.len() <= 10 && max_age.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => return Err(format!("max_age {max_age:?} is not a number of seconds")),
    };
    if seconds > MAX_AGE_LIMIT {
        return Err(format!("max_age {seconds} is above {MAX_AGE_LIMIT}"));
    }
    if mx.is_empty() && mode != Mode::None {
        return Err("no mx".into());
    }
    Ok(Policy {
        mode,
        mx,
        max_age: Duration::from_secs(seconds),
    })
}

/// An `mx` value: a host name, or `*.` and one.
fn mx_pattern(value: &str) -> Result<String, String> {
    let name = value.strip_prefix("*.").unwrap_or(value);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let name = name.trim_end_matches('.');
    if name.is_empty() || !name.split('.').all(label_ok) {
        return Err(format!("mx {value:?} is not a host name or *.name"));
    }
    Ok(value.trim_end_matches('.').to_ascii_lowercase())
}

impl Policy {
    /// `host` matches one of the patterns: exactly, or `*.example.test` for one more label
    /// on the left (`mx.example.test`, not `example.test` nor `a.mx.example.test`).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

#[cfg(test)]
mod tests;
