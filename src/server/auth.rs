//! SMTP AUTH (RFC 4954) on the server side: when AUTH is offered and allowed, the replies for
//! SASL errors, and checking credentials against `[users]` (with a fixed delay on failure).
//! The exchange itself is `smtp::sasl` (pure); the session drives it.

use super::connection::Connection;
use crate::config::{Config, User};
use crate::password;
use crate::smtp::reply::Reply;
use crate::smtp::sasl::{Credentials, SaslError};
use std::time::{Duration, Instant};

/// RFC 4954 §4: a line of the AUTH exchange (the AUTH command with its initial response, or
/// a response to a challenge) may be up to 12288 octets.
pub const MAX_AUTH_LINE: usize = 12288;

/// How long a failed login takes in all (slows down password guessing; the same for an
/// unknown user and a wrong password).
pub const FAILURE_DELAY: Duration = Duration::from_secs(1);

/// The EHLO keyword, when AUTH is offered to this connection.
pub const EHLO_KEYWORD: &str = "AUTH PLAIN LOGIN";

/// AUTH is offered when there are users, and only over TLS or to a client on this computer
/// (passwords never cross a network in clear text).
pub fn offered(config: &Config, conn: &Connection) -> bool {
    !config.users.is_empty() && (conn.tls || conn.peer.ip().to_canonical().is_loopback())
}

/// Whether AUTH may start now (the session has checked it is outside a transaction).
pub fn may_start(config: &Config, conn: &Connection) -> Result<(), Reply> {
    if config.users.is_empty() {
        Err(Reply::auth_not_available())
    } else if conn.auth_user.is_some() {
        Err(Reply::bad_sequence("already authenticated"))
    } else if !offered(config, conn) {
        Err(Reply::auth_needs_encryption())
    } else {
        Ok(())
    }
}

pub fn sasl_error_reply(e: SaslError) -> Reply {
    match e {
        SaslError::UnknownMechanism => Reply::auth_unknown_mechanism(),
        SaslError::Malformed => Reply::auth_malformed(),
        SaslError::Cancelled => Reply::auth_cancelled(),
    }
}

/// The user's name when the password is right. A failure returns only after
/// `FAILURE_DELAY` from the start of the check, whatever made it fail.
pub fn check(users: &[User], creds: &Credentials) -> Option<String> {
    let started = Instant::now();
    let user = users.iter().find(|u| u.name == creds.user);
    match user {
        Some(u) if password::verify(&u.password, &creds.password) => Some(u.name.clone()),
        _ => {
            std::thread::sleep(FAILURE_DELAY.saturating_sub(started.elapsed()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(peer: &str, tls: bool) -> Connection {
        Connection {
            peer: peer.parse().unwrap(),
            helo: Some("c.test".into()),
            esmtp: true,
            relay_allowed: false,
            auth_user: None,
            local_user: None,
            tls,
            errors: 0,
        }
    }

    #[test]
    fn offered_over_tls_or_to_loopback_when_there_are_users() {
        let mut config = crate::config::load::defaults(std::path::Path::new("/x.ini"), "h.test");
        let remote = conn("192.0.2.7:1025", false);
        assert_eq!(
            may_start(&config, &remote),
            Err(Reply::auth_not_available())
        );
        config.users.push(User {
            name: "alice".into(),
            password: "pw".into(),
        });
        assert!(!offered(&config, &remote));
        assert_eq!(
            may_start(&config, &remote),
            Err(Reply::auth_needs_encryption())
        );
        assert_eq!(Reply::auth_needs_encryption().code, 538);
        assert!(offered(&config, &conn("192.0.2.7:1025", true)));
        assert!(offered(&config, &conn("127.0.0.2:1025", false)));
        assert!(offered(&config, &conn("[::1]:1025", false)));
        assert_eq!(may_start(&config, &conn("[::1]:1025", false)), Ok(()));
        let mut done = conn("127.0.0.1:1025", false);
        done.auth_user = Some("alice".into());
        assert!(may_start(&config, &done).unwrap_err().code == 503);
    }

    #[test]
    fn check_accepts_the_right_password_and_delays_failures() {
        let users = vec![User {
            name: "alice".into(),
            password: "s3cret".into(),
        }];
        let creds = |user: &str, password: &str| Credentials {
            user: user.into(),
            password: password.into(),
        };
        let t = Instant::now();
        assert_eq!(
            check(&users, &creds("alice", "s3cret")),
            Some("alice".into())
        );
        assert!(t.elapsed() < FAILURE_DELAY);
        let t = Instant::now();
        assert_eq!(check(&users, &creds("alice", "wrong")), None);
        assert_eq!(check(&users, &creds("bob", "s3cret")), None);
        assert!(t.elapsed() >= FAILURE_DELAY * 2);
    }
}
