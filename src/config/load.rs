//! INI text -> validated `Config`, every error naming its line. `parse` is pure; `load` reads
//! the file and also checks that the TLS certificate and key files can be read and used.

mod reader;
mod sections;

use super::{AccessConfig, Config, DeliveryConfig, DkimConfig, DomainRule, ServerConfig};
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in the INI file, with the line it is on when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

/// Something accepted but worth fixing (same shape as an error: line and message).
pub type Warning = ConfigError;

impl ConfigError {
    pub fn new(line: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The built-in settings (what an empty INI file at `path` means).
pub fn defaults(path: &Path, hostname: &str) -> Config {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Config {
        server: ServerConfig::defaults(&base, hostname),
        access: AccessConfig {
            rules: Vec::new(),
            relay_from: crate::access::loopback(),
        },
        users: Vec::new(),
        delivery: DeliveryConfig::defaults(hostname),
        default_rule: DomainRule::default(),
        domains: Vec::new(),
        relays: Vec::new(),
        dkim: Vec::new(),
        path,
    }
}

/// Reads INI `text` (no file access). `path` is where the text came from: relative paths in
/// it are resolved against its folder. `hostname` is the system host name (the default for
/// `server.hostname` and `delivery.helo_name`). Returns the settings and the warnings, or
/// every error found.
pub fn parse(
    text: &str,
    path: &Path,
    hostname: &str,
) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (raw, mut errors) = reader::read(text)?;
    let mut config = defaults(path, hostname);
    let mut warnings = Vec::new();
    sections::apply(&raw, &mut config, &mut errors, &mut warnings);
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        Err(errors)
    }
}

/// Reads and parses the INI file at `path`, then checks that `tls_cert` and `tls_key` are
/// readable PEM files (the key in PKCS#8 form, `BEGIN PRIVATE KEY`) that make a working TLS
/// identity together (the key belongs to the certificate).
pub fn load(path: &Path) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::new(
            None,
            format!("cannot read {}: {e}", path.display()),
        )]
    })?;
    let (config, warnings) = parse(&text, path, &crate::config::system_hostname())?;
    let mut errors = Vec::new();
    let files = [
        ("tls_cert", &config.server.tls_cert),
        ("tls_key", &config.server.tls_key),
    ];
    for (key, file) in files {
        if let Some(Err(message)) = file.as_ref().map(|file| check_pem(key, file)) {
            let line = reader::key_line(
                text.strip_prefix('\u{feff}').unwrap_or(&text),
                "server",
                key,
            );
            errors.push(ConfigError::new(line, message));
        }
    }
    if let (true, Some(cert), Some(key)) = (
        errors.is_empty(),
        &config.server.tls_cert,
        &config.server.tls_key,
    ) && let Err(message) = crate::identity::acceptor(cert, key)
    {
        let line = reader::key_line(
            text.strip_prefix('\u{feff}').unwrap_or(&text),
            "server",
            "tls_key",
        );
        errors.push(ConfigError::new(
            line,
            format!("tls_cert/tls_key: {message}"),
        ));
    }
    let mut warnings = warnings;
    for dkim in &config.dkim {
        check_dkim_key(dkim, &mut errors, &mut warnings);
    }
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(errors)
    }
}

/// A `[dkim:...]` key must be a readable private key of a kind DKIM signs with (and of the
/// `algorithm` when given); a 1024-bit RSA key and a key file others may read are warned of.
fn check_dkim_key(dkim: &DkimConfig, errors: &mut Vec<ConfigError>, warnings: &mut Vec<Warning>) {
    let name = format!("[dkim:{}:{}]", dkim.domain, dkim.selector);
    let key = match crate::dkim::key::load(&dkim.key) {
        Ok(key) => key,
        Err(e) => return errors.push(ConfigError::new(dkim.line, format!("{name}: {e}"))),
    };
    if let Some(want) = dkim.algorithm.filter(|a| *a != key.algorithm()) {
        let message = format!(
            "{name}: algorithm = {} but {} holds a {} key",
            want.name(),
            dkim.key.display(),
            key.algorithm().name()
        );
        return errors.push(ConfigError::new(dkim.line, message));
    }
    if key.bits() == Some(1024) {
        let message = format!(
            "{name}: a 1024-bit RSA key is weak and some receivers ignore it; make a 2048-bit one with qksmtp dkim-keygen"
        );
        warnings.push(Warning::new(dkim.line, message));
    }
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(&dkim.key) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            let message = format!(
                "{name}: {} may be read by other users; chmod 600 it",
                dkim.key.display()
            );
            warnings.push(Warning::new(dkim.line, message));
        }
    }
}

/// `Err(explanation)` unless `file` is a readable PEM certificate (`tls_cert`) or PKCS#8
/// private key (`tls_key`).
fn check_pem(key: &str, file: &PathBuf) -> Result<(), String> {
    let shown = file.display();
    if !file.is_file() {
        return Err(format!(
            "{key} = \"{shown}\": no such file (a self-signed pair can be made with \
            openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 3650 -subj /CN=localhost)"
        ));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| format!("{key} = \"{shown}\": cannot read the file: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if key == "tls_cert" {
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "{key} = \"{shown}\": not a PEM certificate (no -----BEGIN CERTIFICATE----- line)"
            ));
        }
        return Ok(());
    }
    if text.contains("-----BEGIN PRIVATE KEY-----") {
        Ok(())
    } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        Err(format!(
            "{key} = \"{shown}\": the key is protected by a password; make one without \
            (openssl pkcs8 -topk8 -nocrypt -in {shown} -out key.pem)"
        ))
    } else if text.contains("PRIVATE KEY-----") {
        Err(format!(
            "{key} = \"{shown}\": the key must be in PKCS#8 form (BEGIN PRIVATE KEY); \
            convert it with: openssl pkcs8 -topk8 -nocrypt -in {shown} -out key.pem"
        ))
    } else {
        Err(format!(
            "{key} = \"{shown}\": not a PEM private key (no -----BEGIN PRIVATE KEY----- line)"
        ))
    }
}

#[cfg(test)]
mod tests;
