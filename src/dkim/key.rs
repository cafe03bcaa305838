//! DKIM private keys: read from PEM (PKCS#8 for RSA and Ed25519, PKCS#1 `RSA PRIVATE KEY` as
//! `openssl genrsa` writes), made anew from the OS random source, written as PKCS#8 PEM, and
//! the public half as the DNS TXT record (`v=DKIM1; k=...; p=...`). The one signing
//! primitive over a SHA-256 digest (RSA PKCS#1 v1.5, RFC 8463 Ed25519).

use super::{Algorithm, DkimError};
use base64ct::{Base64, Encoding};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding, ObjectIdentifier, PrivateKeyInfo};
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::Sha256;
use std::path::Path;

const RSA_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// RSA sizes we sign with (RFC 8301: at least 1024; more than 4096 is slow for receivers).
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 1024..=4096;

/// A private key we can sign with. Its `Debug` shows the kind, never the key.
pub enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKey::Rsa(k) => write!(f, "PrivateKey::Rsa({} bits)", k.n().bits()),
            PrivateKey::Ed25519(_) => write!(f, "PrivateKey::Ed25519"),
        }
    }
}

/// Reads a key file (the I/O edge of `parse_pem`).
pub fn load(path: &Path) -> Result<PrivateKey, DkimError> {
    let text = std::fs::read(path).map_err(|e| DkimError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_pem(&String::from_utf8_lossy(&text))
}

/// The label of the first PEM block (`PRIVATE KEY` of `-----BEGIN PRIVATE KEY-----`).
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
}

/// A private key from PEM text.
pub fn parse_pem(text: &str) -> Result<PrivateKey, DkimError> {
    let text = text.trim_start_matches('\u{feff}');
    let damaged = |e: &dyn std::fmt::Display| DkimError::NotPrivateKey(format!("damaged: {e}"));
    let key = match pem_label(text) {
        None => return Err(DkimError::NotPrivateKey("no PEM block".into())),
        Some("RSA PRIVATE KEY") => PrivateKey::Rsa(Box::new(
            RsaPrivateKey::from_pkcs1_pem(text).map_err(|e| damaged(&e))?,
        )),
        Some("PRIVATE KEY") => {
            let (_, doc) = rsa::pkcs8::SecretDocument::from_pem(text).map_err(|e| damaged(&e))?;
            let info = PrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| damaged(&e))?;
            match info.algorithm.oid {
                RSA_OID => PrivateKey::Rsa(Box::new(
                    RsaPrivateKey::try_from(info).map_err(|e| damaged(&e))?,
                )),
                ED25519_OID => PrivateKey::Ed25519(Box::new(
                    ed25519_dalek::SigningKey::from_pkcs8_der(doc.as_bytes())
                        .map_err(|e| damaged(&e))?,
                )),
                other => {
                    return Err(DkimError::Unsupported(format!(
                        "a PKCS#8 key of algorithm {other} (only RSA and Ed25519 sign DKIM)"
                    )));
                }
            }
        }
        Some("ENCRYPTED PRIVATE KEY") => {
            return Err(DkimError::Unsupported(
                "an encrypted key (decrypt it: openssl pkey -in FILE -out NEW)".into(),
            ));
        }
        Some(label) if label.ends_with("PRIVATE KEY") => {
            return Err(DkimError::Unsupported(format!("a \"{label}\"")));
        }
        Some(label) => return Err(DkimError::NotPrivateKey(format!("a \"{label}\""))),
    };
    if let PrivateKey::Rsa(k) = &key
        && !RSA_BITS.contains(&k.n().bits())
    {
        return Err(DkimError::RsaBits(k.n().bits()));
    }
    Ok(key)
}

impl PrivateKey {
    /// A new key from the OS random source: RSA of `bits` bits, or Ed25519.
    pub fn generate(algorithm: Algorithm, bits: usize) -> Result<PrivateKey, DkimError> {
        match algorithm {
            Algorithm::Ed25519Sha256 => Ok(PrivateKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::generate(&mut OsRng),
            ))),
            Algorithm::RsaSha256 if !RSA_BITS.contains(&bits) => Err(DkimError::RsaBits(bits)),
            Algorithm::RsaSha256 => RsaPrivateKey::new(&mut OsRng, bits)
                .map(|k| PrivateKey::Rsa(Box::new(k)))
                .map_err(|e| DkimError::Crypto(e.to_string())),
        }
    }

    /// The RSA modulus size in bits; `None` for Ed25519.
    pub fn bits(&self) -> Option<usize> {
        match self {
            PrivateKey::Rsa(k) => Some(k.size() * 8),
            PrivateKey::Ed25519(_) => None,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Rsa(_) => Algorithm::RsaSha256,
            PrivateKey::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The key as unencrypted PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<String, DkimError> {
        let pem = match self {
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map(|p| p.to_string())
            .map_err(|e| DkimError::Crypto(e.to_string()))
    }

    /// The DNS TXT record of the public key: `v=DKIM1; k=rsa; p=` and the SubjectPublicKeyInfo
    /// in base64 (RFC 6376 §3.6.1), or `k=ed25519; p=` and the 32 bytes (RFC 8463 §4).
    pub fn dns_record(&self) -> Result<String, DkimError> {
        let (k, public) = match self {
            PrivateKey::Rsa(key) => (
                "rsa",
                key.to_public_key()
                    .to_public_key_der()
                    .map_err(|e| DkimError::Crypto(e.to_string()))?
                    .into_vec(),
            ),
            PrivateKey::Ed25519(key) => ("ed25519", key.verifying_key().to_bytes().to_vec()),
        };
        Ok(format!(
            "v=DKIM1; k={k}; p={}",
            Base64::encode_string(&public)
        ))
    }

    /// The signature over the SHA-256 `digest` of the signed data. RSA is blinded with the OS
    /// random source against timing attacks; the signature itself is deterministic.
    pub(super) fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, DkimError> {
        match self {
            PrivateKey::Rsa(key) => key
                .sign_with_rng(&mut OsRng, Pkcs1v15Sign::new::<Sha256>(), digest)
                .map_err(|e| DkimError::Crypto(e.to_string())),
            PrivateKey::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                Ok(key.sign(digest).to_bytes().to_vec())
            }
        }
    }
}
