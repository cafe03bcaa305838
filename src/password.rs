//! Passwords of `[users]`: the Argon2id hash `qksmtp passwd` makes (a PHC string,
//! `$argon2id$v=19$...`), and checking a password against what the INI holds (such a hash, or
//! with a warning plain text, compared in constant time).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::Mutex;

/// One Argon2 check at a time: each uses ~19 MiB, and many sessions could log in at once.
static GATE: Mutex<()> = Mutex::new(());

/// A salted Argon2id hash of `password` (default parameters), as a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// What an `[users]` value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// An Argon2 PHC string.
    Hash,
    /// Anything not starting with `$`: the password itself.
    Plain,
    /// Starts with `$` but is not an Argon2 hash this program can check.
    Unknown,
}

pub fn classify(stored: &str) -> Stored {
    if !stored.starts_with('$') {
        Stored::Plain
    } else if stored.starts_with("$argon2") && PasswordHash::new(stored).is_ok() {
        Stored::Hash
    } else {
        Stored::Unknown
    }
}

/// True when `password` matches `stored` (a hash or plain text).
pub fn verify(stored: &str, password: &str) -> bool {
    match classify(stored) {
        Stored::Plain => constant_time_eq(stored.as_bytes(), password.as_bytes()),
        Stored::Unknown => false,
        Stored::Hash => {
            let Ok(parsed) = PasswordHash::new(stored) else {
                return false;
            };
            let _one_at_a_time = GATE.lock().unwrap_or_else(|p| p.into_inner());
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }
    }
}

/// Compares without stopping at the first difference (the length is not hidden).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `s3cret`, hashed by `qksmtp passwd` (for tests elsewhere).
#[cfg(test)]
pub const TEST_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$9ZT7dMblZscypg8+E4KwpA$HVzMJzl9l75HtMpzKVpa0VupBO1BWMPj0yt0lEaQEEY";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_made_earlier_still_verifies() {
        assert!(verify(TEST_HASH, "s3cret"));
        assert!(!verify(TEST_HASH, "s3cret "));
    }

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert_eq!(classify(&h), Stored::Hash);
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct horsE"));
        assert!(!verify(&h, ""));
        assert_ne!(hash("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn plain_and_unknown() {
        assert_eq!(classify("secret"), Stored::Plain);
        assert!(verify("secret", "secret"));
        assert!(!verify("secret", "secreT"));
        assert!(!verify("secret", "secret2"));
        assert_eq!(classify("$1$abc$def"), Stored::Unknown);
        assert_eq!(classify("$argon2id$garbage"), Stored::Unknown);
        assert!(!verify("$1$abc$def", "$1$abc$def"));
    }
}
