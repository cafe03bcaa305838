//! DKIM signing (RFC 6376, RFC 8463 for Ed25519): a `Signer` is a value (domain, selector,
//! key, headers, canonicalization, expiry) whose `sign` gives the `DKIM-Signature` header
//! line for a message (`sign`, over `canon`); `choose` says which signers apply to a message
//! by its From: domain; `key` reads, makes and publishes keys. Pure except `key::load` and the
//! OS random source that key generation and RSA blinding draw on.

mod bodyhash;
mod canon;
pub mod key;
mod sign;
#[cfg(test)]
pub(crate) mod tests;

pub use bodyhash::BodyHasher;
pub use canon::Canon;
pub use key::PrivateKey;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The headers signed by default when present (issue 15); From is always signed, once more
/// than present so that no From can be added above ours.
pub const DEFAULT_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// What went wrong with a key, a name or a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimError {
    Unreadable {
        path: PathBuf,
        reason: String,
    },
    /// The file holds no private key (what it holds instead).
    NotPrivateKey(String),
    /// A private key of a kind that cannot sign DKIM.
    Unsupported(String),
    /// RSA outside 1024..=4096 bits.
    RsaBits(usize),
    /// A domain or selector that cannot go in a DKIM-Signature header.
    BadName(String),
    /// The crypto library failed (random source, encoding).
    Crypto(String),
}

impl std::fmt::Display for DkimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DkimError::Unreadable { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
            DkimError::NotPrivateKey(what) => write!(f, "not a private key: {what}"),
            DkimError::Unsupported(what) => write!(f, "unsupported key: {what}"),
            DkimError::RsaBits(bits) => write!(
                f,
                "an RSA key of {bits} bits; DKIM needs {} to {}",
                key::RSA_BITS.start(),
                key::RSA_BITS.end()
            ),
            DkimError::BadName(name) => write!(f, "\"{name}\" cannot be a DKIM domain or selector"),
            DkimError::Crypto(e) => write!(f, "the crypto library failed: {e}"),
        }
    }
}

impl std::error::Error for DkimError {}

/// `a=`: which the key decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RsaSha256,
    Ed25519Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }
}

/// Which messages a signer signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Those whose From: domain is `domain` or below it (`[dkim:DOMAIN]`).
    Domain,
    /// Those that no `Domain` signer matches, signed as `domain` (`[dkim:*]`).
    Everything,
}

/// One DKIM key in use: everything that makes a signature but the message and the time.
#[derive(Debug, Clone)]
pub struct Signer {
    /// `d=`, lower case.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    pub key: Arc<PrivateKey>,
    /// The names that are signed when present (`h=`), From always among them.
    pub headers: Vec<String>,
    /// `c=` header/body.
    pub canonicalization: (Canon, Canon),
    /// `x=` is `t=` plus this, when set.
    pub expire: Option<Duration>,
    pub scope: Scope,
}

impl Signer {
    /// A signer for `domain` with the defaults: the default headers, relaxed/relaxed, no
    /// expiry, messages from `domain` and below.
    pub fn new(domain: &str, selector: &str, key: PrivateKey) -> Result<Signer, DkimError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        for name in [&domain[..], selector] {
            if !valid_name(name) {
                return Err(DkimError::BadName(name.to_string()));
            }
        }
        Ok(Signer {
            domain,
            selector: selector.to_string(),
            key: Arc::new(key),
            headers: DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect(),
            canonicalization: (Canon::Relaxed, Canon::Relaxed),
            expire: None,
            scope: Scope::Domain,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }
}

/// Whether `name` can be a DKIM domain or selector: DNS labels of letters, digits, `-` and
/// `_`, separated by dots.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The signers for a message from `from_domain`: those of the most specific domain that is
/// `from_domain` or a parent of it (all its selectors: RSA and Ed25519 side by side), else
/// every `Everything` signer.
pub fn choose<'s>(signers: &'s [Signer], from_domain: Option<&str>) -> Vec<&'s Signer> {
    let from = from_domain.map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let covers = |s: &Signer| match &from {
        Some(from) => {
            s.scope == Scope::Domain
                && (*from == s.domain
                    || from
                        .strip_suffix(&s.domain)
                        .is_some_and(|below| below.ends_with('.')))
        }
        None => false,
    };
    let best = signers
        .iter()
        .filter(|s| covers(s))
        .map(|s| s.domain.len())
        .max();
    signers
        .iter()
        .filter(|s| match best {
            Some(len) => covers(s) && s.domain.len() == len,
            None => s.scope == Scope::Everything,
        })
        .collect()
}

/// The domain of the (first) From: address, lower case.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let value = crate::headers::header_field(message, "from")?;
    let angle = value
        .find('<')
        .and_then(|open| Some(&value[open + 1..open + 1 + value[open + 1..].find('>')?]));
    let address = angle.unwrap_or_else(|| value.split(',').next().unwrap_or(""));
    let domain: String = address
        .rsplit_once('@')?
        .1
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let domain = domain.trim_end_matches('.').to_lowercase();
    (!domain.is_empty()).then_some(domain)
}
