//! Standard base64 (RFC 4648 §4), both ways, for SASL: the client encodes its AUTH payloads,
//! the server decodes them. Pure.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `data` in base64, with padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes `text` stands for. Padding may be omitted; anything else not in the alphabet,
/// misplaced padding, or leftover bits that are not zero make it invalid (`None`).
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let padded = body.len() < text.len();
    if (padded && !text.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return None;
    }
    let mut bytes = Sextets::with_capacity(body.len());
    for &c in body {
        bytes.push(value(c)?);
    }
    let (out, leftover) = bytes.finish();
    (leftover == 0).then_some(out)
}

/// The 6-bit value of a character of the alphabet.
pub fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// 6-bit values gathered into bytes; what is left over at the end (bits that make no whole
/// byte) is given with the bytes, for the strict decoder to refuse.
pub struct Sextets {
    out: Vec<u8>,
    acc: u32,
    bits: u32,
}

impl Sextets {
    /// For about `chars` characters.
    pub fn with_capacity(chars: usize) -> Sextets {
        Sextets {
            out: Vec::with_capacity(chars * 3 / 4),
            acc: 0,
            bits: 0,
        }
    }

    pub fn push(&mut self, v: u8) {
        self.acc = (self.acc << 6) | u32::from(v);
        self.bits += 6;
        if self.bits >= 8 {
            self.bits -= 8;
            self.out.push((self.acc >> self.bits) as u8);
            self.acc &= (1 << self.bits) - 1;
        }
    }

    pub fn finish(self) -> (Vec<u8>, u32) {
        (self.out, self.acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"\0user\0pass", "AHVzZXIAcGFzcw=="),
            (b"\xff\xfe\xfd", "//79"),
        ];
        for (input, want) in cases {
            assert_eq!(encode(input), *want, "{input:?}");
        }
    }

    #[test]
    fn decode_table() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("Zg==", Some(b"f")),
            ("Zm8=", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("Zm9vYg==", Some(b"foob")),
            ("Zm9vYg", Some(b"foob")),
            ("Zm9vYmE=", Some(b"fooba")),
            ("Zm9vYmFy", Some(b"foobar")),
            ("AHVzZXIAcGFzcw==", Some(b"\0user\0pass")),
            ("Zm9v!", None),
            ("Zm9vY", None),
            ("Zm=9", None),
            ("Zh==", None),
            ("Zm9=v", None),
            ("Zg===", None),
            ("Z===", None),
            ("Zm 9v", None),
        ];
        for (text, want) in cases {
            assert_eq!(decode(text.as_bytes()).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn round_trips() {
        for len in 0..70u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(
                decode(encode(&data).as_bytes()),
                Some(data.clone()),
                "{len}"
            );
        }
    }
}
