//! SASL PLAIN (RFC 4616) and LOGIN as values: the server's side (the exchange of challenges
//! and responses, and the credentials it yields) and the client's responses
//! (`plain_response`, `login_response`). Pure: no I/O, no users.

use super::base64;

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
        base64::decode(line).ok_or(SaslError::Malformed)?
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

/// The client's side of PLAIN: `\0user\0password` (empty authorization identity),
/// base64-encoded, for `AUTH PLAIN <response>`.
pub fn plain_response(user: &str, password: &str) -> String {
    let mut message = Vec::with_capacity(user.len() + password.len() + 2);
    message.push(0);
    message.extend_from_slice(user.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    base64::encode(&message)
}

/// The client's side of LOGIN: the user name or the password, base64-encoded, sent as one
/// line after each `334` challenge.
pub fn login_response(text: &str) -> String {
    base64::encode(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::base64::encode as base64;

    fn creds(user: &str, password: &str) -> Step {
        Step::Done(Credentials {
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn the_client_responses_give_back_the_credentials() {
        let cases = [("alice", "s3cret"), ("jörg", ""), ("a b", "p:w=d")];
        for (user, password) in cases {
            let plain = plain_response(user, password);
            assert_eq!(start("PLAIN", Some(&plain)), Ok(creds(user, password)));
            assert_eq!(
                respond(Exchange::Plain, plain.as_bytes()),
                Ok(creds(user, password))
            );
            let Ok(Step::Challenge(next, _)) = start("LOGIN", Some(&login_response(user))) else {
                panic!("no password challenge for {user:?}")
            };
            let password_line = login_response(password);
            assert_eq!(
                respond(next, password_line.as_bytes()),
                Ok(creds(user, password))
            );
        }
        assert_eq!(plain_response("user", "pass"), "AHVzZXIAcGFzcw==");
        assert_eq!(login_response("user"), "dXNlcg==");
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
