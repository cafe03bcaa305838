//! First-setup commands: `qksmtp passwd` (a password hash for `[users]`) and `qksmtp gencert`
//! (a self-signed certificate for `tls_cert`/`tls_key`, made by the openssl CLI).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// The one-line openssl command that makes a self-signed pair (also in the README and INI).
pub const OPENSSL_ONE_LINER: &str = "openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
    -out cert.pem -days 3650 -subj /CN=localhost";

/// Reads a password (from the terminal, asked twice without echo; else
/// the first line of standard input) and returns the `[users]` line: `NAME = $argon2id$...`,
/// or the hash alone without a name.
pub fn passwd(name: Option<&str>) -> Result<String, String> {
    if let Some(name) = name
        && (name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '='))
    {
        return Err(format!("\"{name}\" cannot be a user name (no spaces or =)"));
    }
    let password = if std::io::stdin().is_terminal() {
        let first = prompt("Password: ")?;
        if prompt("Again: ")? != first {
            return Err("the two passwords differ; nothing changed".into());
        }
        first
    } else {
        read_line()?
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    let hash = crate::password::hash(&password)?;
    Ok(match name {
        Some(name) => format!("{name} = {hash}"),
        None => hash,
    })
}

fn read_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks on the terminal (or Windows console) with echo off.
fn prompt(text: &str) -> Result<String, String> {
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let hidden = crate::console::EchoOff::new();
    let line = read_line();
    if hidden.is_some() {
        drop(hidden);
        eprintln!();
    }
    line
}

/// Makes `cert.pem` and `key.pem` (PKCS#8, unencrypted) in `out` with the openssl CLI, for
/// `hostname`, `localhost` and 127.0.0.1, valid `days` days. Returns what to tell the user.
pub fn gencert(days: u32, out: &Path, hostname: &str) -> Result<String, String> {
    let cert = out.join("cert.pem");
    let key = out.join("key.pem");
    for file in [&cert, &key] {
        if file.exists() {
            return Err(format!(
                "{} exists already; not overwritten",
                file.display()
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let san = format!("subjectAltName=DNS:{hostname},DNS:localhost,IP:127.0.0.1");
    let result = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            &days.to_string(),
            "-subj",
            &format!("/CN={hostname}"),
        ])
        .args(["-addext", &san])
        .stdin(Stdio::null())
        .output();
    let output = match result {
        Ok(o) => o,
        Err(e) => {
            return Err(format!(
                "cannot run openssl ({e}); install OpenSSL, or make the pair elsewhere with:\n  {OPENSSL_ONE_LINER}"
            ));
        }
    };
    if !output.status.success() {
        return Err(format!(
            "openssl failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    Ok(format!(
        "wrote {} and {} (self-signed for {hostname}, valid {days} days).\n\
         Put these lines in [server] of qksmtp.ini, then run qksmtp check:\n\
         tls_cert = {}\ntls_key = {}\n",
        cert.display(),
        key.display(),
        abs(&cert).display(),
        abs(&key).display()
    ))
}
