//! Passwords of `[users]`: the Argon2id hash `qksmtp passwd` makes (a PHC string,
//! `$argon2id$v=19$...`), and checking a password against what the INI holds (such a hash, or
//! with a warning plain text, compared in constant time). A check needs the hash's working
//! memory (~19 MiB by default): `Memory` lets a thread that runs many keep it between them.

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Argon2's working memory, kept by a thread between the checks it runs.
#[derive(Default)]
pub struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// Gives the memory back to the system (not only to this thread's allocator arena).
    pub fn release(&mut self) {
        if self.blocks.is_empty() {
            return;
        }
        self.blocks = Vec::new();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free memory to the system; it has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::new());
        }
        &mut self.blocks[..count]
    }
}

/// True when `password` matches `stored` (a hash or plain text).
pub fn verify(stored: &str, password: &str) -> bool {
    verify_with(stored, password, &mut Memory::default())
}

/// `verify`, with the hash's working memory taken from (and left in) `memory`.
pub fn verify_with(stored: &str, password: &str, memory: &mut Memory) -> bool {
    match classify(stored) {
        Stored::Plain => constant_time_eq(stored.as_bytes(), password.as_bytes()),
        Stored::Unknown => false,
        Stored::Hash => PasswordHash::new(stored)
            .is_ok_and(|parsed| verify_hash(&parsed, password.as_bytes(), memory)),
    }
}

/// Hashes `password` with the salt and parameters of `parsed`, compares with its output.
fn verify_hash(parsed: &PasswordHash, password: &[u8], memory: &mut Memory) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::new(parsed.algorithm.as_str());
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(parsed))
    else {
        return false;
    };
    let blocks = memory.blocks(params.block_count());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks)
        .is_ok()
        && constant_time_eq(&out, expected.as_bytes())
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
    fn memory_is_reused_across_checks_and_released() {
        let mut memory = Memory::default();
        let small = hash_with("pw", Params::new(64, 1, 1, None).unwrap());
        for (stored, password, expect) in [
            (TEST_HASH, "s3cret", true),
            (small.as_str(), "pw", true),
            (TEST_HASH, "wrong", false),
            (small.as_str(), "pw2", false),
            ("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ", "pw", false),
        ] {
            assert_eq!(
                verify_with(stored, password, &mut memory),
                expect,
                "{stored}"
            );
        }
        assert_eq!(memory.blocks.len(), 19456, "the largest kept");
        memory.release();
        assert!(memory.blocks.is_empty());
    }

    fn hash_with(password: &str, params: Params) -> String {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string()
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
