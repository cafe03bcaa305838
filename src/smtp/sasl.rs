//! The server side of SASL PLAIN (RFC 4616) and LOGIN as values: base64 decoding, the
//! exchange of challenges and responses, and the credentials it yields. Pure: no I/O, no users.

/// `334 Username:` and `334 Password:` of the LOGIN mechanism, base64-encoded.
pub const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

/// What the client claims: a user name and a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// Where an unfinished exchange is: which response the server waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// `AUTH PLAIN` without an initial response: waiting for the PLAIN message.
    Plain,
    /// `AUTH LOGIN`: waiting for the user name.
    LoginUser,
    /// `AUTH LOGIN`: user name given, waiting for the password.
    LoginPassword(String),
}

/// The result of one step of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send `334 challenge` and wait for the client's next line.
    Challenge(Exchange, &'static str),
    /// The exchange is complete: check these.
    Done(Credentials),
}

/// Why an exchange ended without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    UnknownMechanism,
    /// Not base64, or not a well-formed message of the mechanism.
    Malformed,
    /// The client sent `*`.
    Cancelled,
}

/// Starts `AUTH mechanism [initial-response]` (mechanism already upper-case).
pub fn start(mechanism: &str, initial: Option<&str>) -> Result<Step, SaslError> {
    match (mechanism, initial) {
        ("PLAIN", None) => Ok(Step::Challenge(Exchange::Plain, "")),
        ("LOGIN", None) => Ok(Step::Challenge(Exchange::LoginUser, LOGIN_USERNAME)),
        ("PLAIN", Some(first)) => respond(Exchange::Plain, first.as_bytes()),
        ("LOGIN", Some(first)) => respond(Exchange::LoginUser, first.as_bytes()),
        _ => Err(SaslError::UnknownMechanism),
    }
}

/// Takes the client's response line (without CRLF) to the challenge of `exchange`.
pub fn respond(exchange: Exchange, line: &[u8]) -> Result<Step, SaslError> {
    let line = line.trim_ascii();
    if line == b"*" {
        return Err(SaslError::Cancelled);
    }
    // RFC 4954 §4: "=" is an empty initial response.
    let decoded = if line == b"=" {
        Vec::new()
    } else {
        decode_base64(line).ok_or(SaslError::Malformed)?
    };
    match exchange {
        Exchange::Plain => plain_message(&decoded).map(Step::Done),
        Exchange::LoginUser => {
            let user = utf8(decoded)?;
            Ok(Step::Challenge(
                Exchange::LoginPassword(user),
                LOGIN_PASSWORD,
            ))
        }
        Exchange::LoginPassword(user) => Ok(Step::Done(Credentials {
            user,
            password: utf8(decoded)?,
        })),
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, SaslError> {
    String::from_utf8(bytes).map_err(|_| SaslError::Malformed)
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`. An authorization identity other than the
/// user itself is not supported (it is refused as malformed).
pub fn plain_message(message: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if user.is_empty() || (!authzid.is_empty() && authzid != user) {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        user: utf8(user.to_vec())?,
        password: utf8(password.to_vec())?,
    })
}

/// Standard base64 (RFC 4648 §4). Padding may be omitted; anything else not in the alphabet,
/// misplaced padding, or leftover bits that are not zero make it invalid.
pub fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let padded = body.len() < text.len();
    if (padded && !text.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in body {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::base64;

    fn creds(user: &str, password: &str) -> Step {
        Step::Done(Credentials {
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn base64_decode_table() {
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
            assert_eq!(decode_base64(text.as_bytes()).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn base64_round_trips_with_the_client_encoder() {
        for len in 0..70u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(
                decode_base64(base64(&data).as_bytes()),
                Some(data.clone()),
                "{len}"
            );
        }
    }

    #[test]
    fn plain_table() {
        let plain = |raw: &[u8]| respond(Exchange::Plain, base64(raw).as_bytes());
        assert_eq!(plain(b"\0alice\0s3cret"), Ok(creds("alice", "s3cret")));
        assert_eq!(plain(b"alice\0alice\0pw"), Ok(creds("alice", "pw")));
        assert_eq!(plain(b"\0alice\0"), Ok(creds("alice", "")));
        assert_eq!(plain(b"bob\0alice\0pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"\0\0pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"alice pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"\0a\0b\0c"), Err(SaslError::Malformed));
        assert_eq!(plain(b"\0a\0\xff"), Err(SaslError::Malformed));
        assert_eq!(
            respond(Exchange::Plain, b"not base64!"),
            Err(SaslError::Malformed)
        );
        assert_eq!(respond(Exchange::Plain, b"*"), Err(SaslError::Cancelled));
        assert_eq!(respond(Exchange::Plain, b"="), Err(SaslError::Malformed));
    }

    #[test]
    fn start_table() {
        let initial = base64(b"\0u\0p");
        assert_eq!(
            start("PLAIN", None),
            Ok(Step::Challenge(Exchange::Plain, ""))
        );
        assert_eq!(start("PLAIN", Some(&initial)), Ok(creds("u", "p")));
        assert_eq!(
            start("LOGIN", None),
            Ok(Step::Challenge(Exchange::LoginUser, LOGIN_USERNAME))
        );
        assert_eq!(
            start("LOGIN", Some("dQ==")),
            Ok(Step::Challenge(
                Exchange::LoginPassword("u".into()),
                LOGIN_PASSWORD
            ))
        );
        assert_eq!(start("CRAM-MD5", None), Err(SaslError::UnknownMechanism));
        assert_eq!(start("PLAIN", Some("*")), Err(SaslError::Cancelled));
    }

    #[test]
    fn login_exchange() {
        let Ok(Step::Challenge(next, challenge)) = respond(Exchange::LoginUser, b"YWxpY2U=") else {
            panic!("no password challenge")
        };
        assert_eq!(challenge, LOGIN_PASSWORD);
        assert_eq!(next, Exchange::LoginPassword("alice".into()));
        assert_eq!(respond(next, b"czNjcmV0\r"), Ok(creds("alice", "s3cret")));
        assert_eq!(
            respond(Exchange::LoginUser, b"%%%"),
            Err(SaslError::Malformed)
        );
        assert_eq!(
            respond(Exchange::LoginPassword("a".into()), b"*"),
            Err(SaslError::Cancelled)
        );
        assert_eq!(LOGIN_USERNAME, base64(b"Username:"));
        assert_eq!(LOGIN_PASSWORD, base64(b"Password:"));
    }
}
