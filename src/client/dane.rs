//! DANE matching (RFC 6698, RFC 7671, RFC 7672 §3): which usable TLSA record, if any, the
//! certificate chain a server sent matches. Pure: DER in, the matching record out. DANE-EE
//! (usage 3) matches the server's own certificate and skips every other check; DANE-TA
//! (usage 2) matches a CA certificate of the chain, which must then vouch for the server
//! (the caller checks that). PKIX-TA and PKIX-EE (0, 1) are unusable for SMTP (RFC 7672
//! §3.1.3), as are unknown selectors and matching types.

use crate::dns::Tlsa;
use sha2::{Digest, Sha256, Sha512};

/// A record that matched: its index in the set, and the chain certificate it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub record: usize,
    /// 0 = the server's own certificate.
    pub cert: usize,
}

/// Records DANE can use for SMTP: usage 2 or 3, selector 0 or 1, matching 0, 1 or 2.
pub fn usable(records: &[Tlsa]) -> bool {
    records.iter().any(is_usable)
}

fn is_usable(r: &Tlsa) -> bool {
    matches!(r.usage, 2 | 3) && r.selector <= 1 && r.matching <= 2
}

/// The first usable record that matches: DANE-EE records against the server's certificate,
/// DANE-TA records against the certificates after it. `None` when nothing matches.
pub fn find(records: &[Tlsa], chain: &[Vec<u8>]) -> Option<Matched> {
    for (i, r) in records.iter().enumerate().filter(|(_, r)| is_usable(r)) {
        let certs = match r.usage {
            3 => 0..chain.len().min(1),
            _ => 1.min(chain.len())..chain.len(),
        };
        for c in certs {
            if selected(r.selector, &chain[c]).is_some_and(|s| digest(r.matching, s) == r.data) {
                return Some(Matched { record: i, cert: c });
            }
        }
    }
    None
}

/// The SHA-256 of the server's certificate, in hex: what a mismatch names.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes a selector picks: the whole certificate, or its SubjectPublicKeyInfo.
fn selected(selector: u8, cert: &[u8]) -> Option<&[u8]> {
    match selector {
        0 => Some(cert),
        _ => spki(cert),
    }
}

fn digest(matching: u8, data: &[u8]) -> Vec<u8> {
    match matching {
        0 => data.to_vec(),
        1 => Sha256::digest(data).to_vec(),
        _ => Sha512::digest(data).to_vec(),
    }
}

/// The SubjectPublicKeyInfo of a DER certificate (RFC 5280 §4.1): the seventh field of
/// tbsCertificate, counting the optional `[0]` version.
fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (_, body, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(body)?;
    let (tag, _, _) = tlv(tbs)?;
    // [0] version, serial, signature, issuer, validity, subject: skip them.
    let skip = if tag == 0xa0 { 6 } else { 5 };
    for _ in 0..skip {
        let (_, _, rest) = tlv(tbs)?;
        tbs = rest;
    }
    let (tag, _, rest) = tlv(tbs)?;
    (tag == 0x30).then(|| &tbs[..tbs.len() - rest.len()])
}

/// One DER element: (tag, contents, what follows). Lengths up to 4 bytes long.
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests;
