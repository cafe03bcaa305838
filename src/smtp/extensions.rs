//! What a server's EHLO reply offers (PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, STARTTLS,
//! AUTH, ENHANCEDSTATUSCODES), read from the reply lines, and the AUTH mechanism a client
//! chooses from it. Pure protocol: the client reads it, the tests check it against the
//! server's own EHLO reply.

use crate::smtp::reply::Reply;

/// The ESMTP extensions a server announced. All false / empty after HELO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    /// SIZE was announced (RFC 1870).
    pub size: bool,
    /// The fixed limit SIZE announced; `None` when absent or 0 (no fixed limit).
    pub size_limit: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub starttls: bool,
    /// AUTH mechanisms, upper-cased (`PLAIN`, `LOGIN`, ...), from `AUTH` and `AUTH=` lines.
    pub auth: Vec<String>,
    pub enhanced_status_codes: bool,
}

impl Extensions {
    /// Reads the lines after the first of a 250 EHLO reply. Unknown keywords are ignored.
    pub fn from_ehlo(reply: &Reply) -> Extensions {
        let mut ext = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(first) = words.next() else { continue };
            let first = first.to_ascii_uppercase();
            // The pre-standard `AUTH=LOGIN PLAIN` form is still sent by some servers.
            let (keyword, inline) = match first.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (first, None),
            };
            let params: Vec<String> = inline
                .into_iter()
                .chain(words.map(str::to_string))
                .filter(|p| !p.is_empty())
                .collect();
            ext.apply(&keyword, &params);
        }
        ext
    }

    fn apply(&mut self, keyword: &str, params: &[String]) {
        match keyword {
            "PIPELINING" => self.pipelining = true,
            "SIZE" => {
                self.size = true;
                self.size_limit = params
                    .first()
                    .and_then(|p| p.parse::<u64>().ok())
                    .filter(|&n| n > 0);
            }
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "DSN" => self.dsn = true,
            "STARTTLS" => self.starttls = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "AUTH" => {
                for mech in params {
                    let mech = mech.to_ascii_uppercase();
                    if !self.auth.contains(&mech) {
                        self.auth.push(mech);
                    }
                }
            }
            _ => {}
        }
    }

    #[cfg(test)]
    /// Short list for the record: `PIPELINING SIZE=10240000 8BITMIME STARTTLS AUTH=PLAIN,LOGIN`.
    pub fn summary(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let flags = [
            (self.pipelining, "PIPELINING"),
            (self.eight_bit_mime, "8BITMIME"),
            (self.smtputf8, "SMTPUTF8"),
            (self.dsn, "DSN"),
            (self.starttls, "STARTTLS"),
            (self.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
        ];
        if self.size {
            out.push(match self.size_limit {
                Some(n) => format!("SIZE={n}"),
                None => "SIZE".to_string(),
            });
        }
        out.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_string()));
        if !self.auth.is_empty() {
            out.push(format!("AUTH={}", self.auth.join(",")));
        }
        out.join(" ")
    }
}

/// The SASL mechanisms the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    Plain,
    Login,
}

impl AuthMechanism {
    pub fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
        }
    }
}

/// The mechanism to use: the preferred one when offered, else PLAIN, else LOGIN.
/// `None` when the server offers neither.
pub fn choose_mechanism(
    offered: &[String],
    preferred: Option<AuthMechanism>,
) -> Option<AuthMechanism> {
    let order = [
        preferred,
        Some(AuthMechanism::Plain),
        Some(AuthMechanism::Login),
    ];
    order
        .into_iter()
        .flatten()
        .find(|m| offered.iter().any(|o| o == m.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ehlo(lines: &[&str]) -> Extensions {
        let mut all = vec!["mx.test greets you".to_string()];
        all.extend(lines.iter().map(|l| l.to_string()));
        Extensions::from_ehlo(&Reply {
            code: 250,
            enhanced: None,
            lines: all,
        })
    }

    #[test]
    fn keywords_table() {
        let e = ehlo(&[
            "PIPELINING",
            "SIZE 10240000",
            "8BITMIME",
            "smtputf8",
            "DSN",
            "STARTTLS",
            "AUTH PLAIN LOGIN CRAM-MD5",
            "AUTH=LOGIN PLAIN",
            "ENHANCEDSTATUSCODES",
            "XFOO bar",
        ]);
        assert!(e.pipelining && e.size && e.eight_bit_mime && e.smtputf8 && e.dsn);
        assert!(e.starttls && e.enhanced_status_codes);
        assert_eq!(e.size_limit, Some(10_240_000));
        assert_eq!(e.auth, vec!["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert_eq!(
            e.summary(),
            "SIZE=10240000 PIPELINING 8BITMIME SMTPUTF8 DSN STARTTLS ENHANCEDSTATUSCODES \
             AUTH=PLAIN,LOGIN,CRAM-MD5"
        );
    }

    #[test]
    fn size_variants() {
        let cases: &[(&[&str], bool, Option<u64>)] = &[
            (&["SIZE"], true, None),
            (&["SIZE 0"], true, None),
            (&["SIZE 1000"], true, Some(1000)),
            (&["SIZE nonsense"], true, None),
            (&[], false, None),
        ];
        for (lines, size, limit) in cases {
            let e = ehlo(lines);
            assert_eq!((e.size, e.size_limit), (*size, *limit), "{lines:?}");
        }
    }

    #[test]
    fn first_line_is_not_a_keyword() {
        let e = Extensions::from_ehlo(&Reply::new(250, None, "PIPELINING"));
        assert_eq!(e, Extensions::default());
    }

    #[test]
    fn mechanism_choice_table() {
        use AuthMechanism::*;
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let cases: Vec<(Vec<String>, Option<AuthMechanism>, Option<AuthMechanism>)> = vec![
            (s(&["LOGIN", "PLAIN"]), None, Some(Plain)),
            (s(&["LOGIN"]), None, Some(Login)),
            (s(&["LOGIN", "PLAIN"]), Some(Login), Some(Login)),
            (s(&["PLAIN"]), Some(Login), Some(Plain)),
            (s(&["CRAM-MD5"]), None, None),
            (s(&[]), Some(Plain), None),
        ];
        for (offered, preferred, want) in cases {
            assert_eq!(choose_mechanism(&offered, preferred), want, "{offered:?}");
        }
    }

    /// The server's own EHLO reply, on the wire and read back, offers what it lists.
    #[test]
    fn the_server_ehlo_reply_reads_back() {
        let keywords: Vec<String> = [
            "PIPELINING",
            "SIZE 10240000",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "DSN",
            "HELP",
            "STARTTLS",
            "AUTH PLAIN LOGIN",
        ]
        .map(String::from)
        .to_vec();
        let wire = Reply::ehlo("mx.test", "client.test", &keywords).to_wire();
        let replies = crate::smtp::reply_parser::parse_all(&wire).unwrap();
        let e = Extensions::from_ehlo(&replies[0]);
        let want = Extensions {
            pipelining: true,
            size: true,
            size_limit: Some(10_240_000),
            eight_bit_mime: true,
            smtputf8: true,
            dsn: true,
            starttls: true,
            auth: vec!["PLAIN".into(), "LOGIN".into()],
            enhanced_status_codes: true,
        };
        assert_eq!(e, want);
    }
}
