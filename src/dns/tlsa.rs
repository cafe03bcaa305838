//! A TLSA record (RFC 6698): what a server's certificate chain must match for DANE.

use std::fmt;

/// Certificate usage, selector and matching type as numbers, and the association data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    pub data: Vec<u8>,
}

impl fmt::Display for Tlsa {
    /// `3 1 1 8a9f...` as in a zone file (the data in lower-case hex).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        self.data.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_as_in_a_zone_file() {
        let r = Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0x8a, 0x0f],
        };
        assert_eq!(r.to_string(), "3 1 1 8a0f");
    }
}
