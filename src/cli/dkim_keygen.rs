//! `qksmtp dkim-keygen`: makes a DKIM key (RSA or Ed25519, from the OS random source), writes
//! it as `DOMAIN.SELECTOR.key` (PKCS#8 PEM, mode 0600, never over an existing file), and says
//! what to paste into qksmtp.ini and what TXT record to publish in DNS.

use super::args::Keygen;
use crate::dkim::{self, Algorithm, PrivateKey};
use std::io::Write;
use std::path::Path;

/// The selector when none is given: one per algorithm, so the recommended pair (RSA plus
/// Ed25519) can be made with the defaults into one folder.
pub fn default_selector(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::RsaSha256 => "qksmtp",
        Algorithm::Ed25519Sha256 => "qksmtp-ed25519",
    }
}

/// Makes and writes the key; returns what to tell the user.
pub fn run(k: &Keygen) -> Result<String, String> {
    let domain = k.domain.trim_end_matches('.').to_ascii_lowercase();
    let selector = k
        .selector
        .as_deref()
        .unwrap_or(default_selector(k.algorithm));
    for name in [&domain[..], selector] {
        if !dkim::valid_name(name) {
            return Err(format!("\"{name}\" cannot be a DKIM domain or selector"));
        }
    }
    let path = k.out.join(format!("{domain}.{selector}.key"));
    if path.exists() {
        return Err(format!(
            "{} exists already; not overwritten",
            path.display()
        ));
    }
    let key =
        PrivateKey::generate(k.algorithm, k.bits.unwrap_or(2048)).map_err(|e| e.to_string())?;
    let pem = key.to_pem().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&k.out).map_err(|e| format!("{}: {e}", k.out.display()))?;
    write_private(&path, pem.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    let record = key.dns_record().map_err(|e| e.to_string())?;
    let path = std::path::absolute(&path).unwrap_or(path);
    Ok(render(&domain, selector, &path, &key, &record))
}

/// Creates `path` (failing if it exists), readable by its owner only on Unix.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The report: the file written, the INI section, the DNS record.
fn render(domain: &str, selector: &str, path: &Path, key: &PrivateKey, record: &str) -> String {
    let what = match key {
        PrivateKey::Rsa(_) => "an RSA key (rsa-sha256)",
        PrivateKey::Ed25519(_) => {
            "an Ed25519 key (ed25519-sha256; not every receiver checks these, so sign with an RSA key too)"
        }
    };
    format!(
        "wrote {} (keep it private): {what}.\n\n\
         Paste this section into qksmtp.ini:\n\n\
         [dkim:{domain}:{selector}]\nselector = {selector}\nkey = {}\n\n\
         Publish this DNS TXT record (then check it with: dig TXT {selector}._domainkey.{domain}):\n\n\
         {}\n",
        path.display(),
        path.display(),
        zone_line(domain, selector, record)
    )
}

/// The zone-file line of the record, its text in quoted strings of at most 255 bytes (the
/// limit of one DNS character-string; the record is their concatenation).
pub fn zone_line(domain: &str, selector: &str, record: &str) -> String {
    let strings: Vec<String> = record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!(
        "{selector}._domainkey.{domain}. IN TXT {}",
        strings.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_split_into_255_byte_strings() {
        let long = "v=DKIM1; k=rsa; p=".to_string() + &"A".repeat(600);
        let cases: &[(&str, &[usize])] = &[
            ("v=DKIM1; k=ed25519; p=abc", &[25]),
            (&long, &[255, 255, 108]),
            (&"B".repeat(255), &[255]),
        ];
        for (record, sizes) in cases {
            let line = zone_line("example.test", "s", record);
            let (head, strings) = line.split_once(" IN TXT ").unwrap();
            assert_eq!(head, "s._domainkey.example.test.");
            let parts: Vec<&str> = strings.trim_matches('"').split("\" \"").collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), *sizes);
            assert_eq!(parts.concat(), *record);
        }
    }
}
