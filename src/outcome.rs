//! The one place that decides what a delivery result means: delivered, temporary (retry),
//! permanent (bounce now) or policy (skip the remaining direct attempts). Bounces, the log and
//! the status page all render the same `Outcome`; with it the other values they share: why a
//! recipient was given up (`GiveUp`) and what a notice reports of it (`Action`).

use crate::config::pattern::Pattern;
use crate::dns::DnsError;
use crate::smtp::reply::{Enhanced, Reply};
use crate::transcript::tls::{Demand, TlsState};
use crate::transcript::{Failure, FailureKind, StepKind};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// 4xx, timeouts, refused or dropped connections, DNS SERVFAIL/timeouts: try again later.
    Temporary,
    /// 5xx about the recipient or the message, NXDOMAIN, null MX: give up now.
    Permanent,
    /// 5.7.x: the server refuses us, not the address. From a direct attempt this skips to the
    /// relay stage when relay attempts are configured (else it is permanent).
    Policy,
}

/// What happened to one recipient in one attempt, with enough to explain it to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The step where it was decided (RCPT for a refused address, DataDone for the final reply,
    /// Connect for a refused connection...).
    pub step: StepKind,
    /// `mx1.example.test [192.0.2.1]:25`, or `relay isp (smtp.isp.test [192.0.2.9]:587)`.
    pub route: String,
    /// The remote server's reply, exactly, when there was one.
    pub reply: Option<Reply>,
    /// Our own words when there was no reply ("connection refused", "no answer in 30s").
    pub detail: String,
    /// The RFC 3463 status for logs and DSNs: from the reply, or chosen for the failure.
    pub status: Enhanced,
    /// How the connection travelled, when it got as far as deciding (see `TlsState`).
    pub tls: Option<TlsState>,
}

impl Outcome {
    /// From a reply the server gave to a step (RCPT, DATA, MAIL...).
    pub fn from_reply(step: StepKind, route: &str, reply: &Reply) -> Outcome {
        let verdict = classify_reply(step, reply);
        let status = reply.enhanced.unwrap_or_else(|| default_status(reply.code));
        Outcome {
            verdict,
            step,
            route: route.to_string(),
            reply: Some(reply.clone()),
            tls: None,
            detail: String::new(),
            status,
        }
    }

    /// From a failure of the connection or the conversation.
    pub fn from_failure(route: &str, failure: &Failure) -> Outcome {
        match &failure.kind {
            FailureKind::Reply(reply) => Outcome::from_reply(failure.step, route, reply),
            other => {
                let (detail, status) = match other {
                    FailureKind::Timeout => (
                        format!("no answer in time at {}", step_name(failure.step)),
                        Enhanced::new(4, 4, 1),
                    ),
                    FailureKind::ConnectRefused => {
                        ("connection refused".to_string(), Enhanced::new(4, 4, 1))
                    }
                    FailureKind::Closed => (
                        "the server closed the connection".to_string(),
                        Enhanced::new(4, 4, 2),
                    ),
                    FailureKind::Io(e) => (format!("network error: {e}"), Enhanced::new(4, 4, 2)),
                    FailureKind::Tls(e) => (format!("TLS failed: {e}"), Enhanced::new(4, 7, 5)),
                    FailureKind::Protocol(e) => {
                        (format!("protocol error: {e}"), Enhanced::new(4, 5, 0))
                    }
                    FailureKind::Reply(_) => unreachable!("handled above"),
                };
                Outcome {
                    verdict: Verdict::Temporary,
                    step: failure.step,
                    route: route.to_string(),
                    reply: None,
                    tls: None,
                    detail,
                    status,
                }
            }
        }
    }

    /// A server that did not give the TLS `demand` required (no STARTTLS, a failed handshake,
    /// a certificate refused, an MX host outside the MTA-STS policy): nothing was sent. As
    /// `from_failure` (temporary: the server may mend it), with the demand kept so that the
    /// log, the page and a bounce say the policy.
    pub fn tls_unmet(route: &str, failure: &Failure, demand: Demand) -> Outcome {
        Outcome {
            tls: Some(TlsState::Unmet { demand }),
            ..Outcome::from_failure(route, failure)
        }
    }

    /// The TLS demand this attempt failed to meet, when that is why it failed.
    pub fn unmet_tls(&self) -> Option<Demand> {
        match self.tls {
            Some(TlsState::Unmet { demand }) => Some(demand),
            _ => None,
        }
    }

    /// Whose TLS requirement this attempt did not meet, which server, and what failed, in the
    /// words the message page, the API and a bounce share: "a.test requires a verified
    /// encrypted connection (DANE); its mail server mx.a.test [192.0.2.1]:25 did not give it
    /// (TLS failed: ...)". `None` when TLS is not why it failed. `domain` is the recipient's.
    pub fn tls_unmet_words(&self, domain: &str) -> Option<String> {
        let demand = self.unmet_tls()?;
        let who = match demand {
            Demand::MtaSts { .. } | Demand::Dane => format!("{domain} requires"),
            Demand::Opportunistic | Demand::Encrypt | Demand::Verify | Demand::Relay { .. } => {
                format!("This server's settings require, for mail to {domain},")
            }
        };
        let server = match self.route.as_str() {
            "" => "its mail server".to_string(),
            route => format!("its mail server {route}"),
        };
        Some(format!(
            "{who} {}; {server} did not give it ({})",
            demand.requires(),
            self.reason()
        ))
    }

    /// What a recipient's last attempt came to, kept with it and shown by the status page and
    /// `qksmtp queue`: the TLS requirement not met (`tls_unmet_words`), else the reply or our
    /// words for the failure.
    pub fn last_result(&self, domain: &str) -> String {
        self.tls_unmet_words(domain)
            .unwrap_or_else(|| self.reason())
    }

    /// From the DNS lookup of the recipient's domain.
    pub fn from_dns(domain: &str, error: &DnsError) -> Outcome {
        let (verdict, detail, status) = match error {
            DnsError::NxDomain { .. } => (
                Verdict::Permanent,
                format!("the domain {domain} does not exist (NXDOMAIN)"),
                Enhanced::new(5, 1, 2),
            ),
            DnsError::NoAddresses { name } => (
                Verdict::Permanent,
                format!("the mail server {name} has no address"),
                Enhanced::new(5, 4, 4),
            ),
            DnsError::InvalidName { name, detail } => (
                Verdict::Permanent,
                format!("{name} is not a valid domain name: {detail}"),
                Enhanced::new(5, 1, 2),
            ),
            DnsError::Setup { detail } => (
                Verdict::Temporary,
                format!("DNS is not usable on this computer: {detail}"),
                Enhanced::new(4, 4, 3),
            ),
            DnsError::Temporary { name, detail } => (
                Verdict::Temporary,
                format!("DNS lookup of {name} failed: {detail}"),
                Enhanced::new(4, 4, 3),
            ),
        };
        Outcome {
            verdict,
            step: StepKind::Dns,
            route: domain.to_string(),
            reply: None,
            tls: None,
            detail,
            status,
        }
    }

    /// From the address lookup of a mail server (an MX host, a fixed `mx`, a relay): a name
    /// that does not resolve leaves no usable mail server (5.4.4), which says nothing about
    /// the recipient's address; a DNS that does not answer is temporary, as for the domain.
    pub fn from_host_dns(host: &str, error: &DnsError) -> Outcome {
        let detail = match error {
            DnsError::NxDomain { .. } => format!("the mail server {host} does not exist in DNS"),
            DnsError::NoAddresses { .. } => format!("the mail server {host} has no address"),
            DnsError::InvalidName { detail, .. } => {
                format!("the mail server {host} is not a valid name: {detail}")
            }
            DnsError::Setup { .. } | DnsError::Temporary { .. } => {
                return Outcome::from_dns(host, error);
            }
        };
        Outcome {
            verdict: Verdict::Permanent,
            step: StepKind::Dns,
            route: host.to_string(),
            reply: None,
            tls: None,
            detail: format!("{detail}: no usable mail server"),
            status: Enhanced::new(5, 4, 4),
        }
    }

    /// RFC 7505: the domain says it accepts no mail.
    pub fn null_mx(domain: &str) -> Outcome {
        Outcome {
            verdict: Verdict::Permanent,
            step: StepKind::Dns,
            route: domain.to_string(),
            reply: None,
            tls: None,
            detail: format!("the domain {domain} accepts no mail (null MX)"),
            status: Enhanced::new(5, 1, 10),
        }
    }

    /// RFC 5321 §6.3: the destination is this server itself (its address is one we listen
    /// on, or it greets with our own name). Permanent, as Postfix says it.
    pub fn mail_loop(domain: &str, route: &str) -> Outcome {
        Outcome {
            verdict: Verdict::Permanent,
            step: StepKind::Connect,
            route: route.to_string(),
            reply: None,
            tls: None,
            detail: format!("mail for {domain} loops back to myself"),
            status: Enhanced::new(5, 4, 6),
        }
    }

    /// `550 5.1.1 user unknown` or our detail, in one line.
    pub fn reason(&self) -> String {
        match &self.reply {
            Some(r) => r.one_line(),
            None => self.detail.clone(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {} via {}: {}",
            verdict_name(self.verdict),
            step_name(self.step),
            self.route,
            self.reason()
        )?;
        match self.unmet_tls() {
            Some(demand) => write!(f, " (required {})", demand.requires()),
            None => Ok(()),
        }
    }
}

/// The verdict for a reply to a step.
pub fn classify_reply(step: StepKind, reply: &Reply) -> Verdict {
    match reply.code {
        200..=399 => Verdict::Delivered,
        400..=499 => Verdict::Temporary,
        // A refused login to a relay is our configuration, not the message: it waits
        // (retries) until the user fixes the username or password, as Postfix does.
        _ if step == StepKind::Auth => Verdict::Temporary,
        _ => match reply.enhanced {
            Some(e) if e.subject == 7 => Verdict::Policy,
            // A 5xx greeting ("554 client host blocked") is about us, not the recipient.
            None if step == StepKind::Greeting => Verdict::Policy,
            _ => Verdict::Permanent,
        },
    }
}

/// A refusal that only says "no more recipients in this transaction" (RFC 5321 §4.5.3.1.8:
/// `452 4.5.3`, or a bare 452 "too many recipients"): the recipient goes in the next
/// transaction at once, it is not a failure.
pub fn too_many_recipients(reply: &Reply) -> bool {
    reply.code == 452
        && (reply.enhanced == Some(Enhanced::new(4, 5, 3))
            || reply
                .one_line()
                .to_ascii_lowercase()
                .contains("too many recipients"))
}

/// A reused connection that the server had closed before it accepted anything of the
/// transaction: EOF or a 421 at MAIL (or a broken pipe writing it). Not the message's fault:
/// it goes out again at once on a fresh connection.
pub fn closed_before_accepting(failure: &Failure) -> bool {
    failure.step == StepKind::Mail
        && match &failure.kind {
            FailureKind::Closed | FailureKind::Io(_) => true,
            FailureKind::Reply(reply) => reply.code == 421,
            FailureKind::Timeout
            | FailureKind::ConnectRefused
            | FailureKind::Tls(_)
            | FailureKind::Protocol(_) => false,
        }
}

/// A reply that says the destination slows us down (issue 22): a temporary reply matching
/// one of `throttle_on` (`patterns`), or any `421` to MAIL or RCPT (a server that closes
/// while taking a transaction on a fresh connection; a reused connection's 421 at MAIL is
/// `closed_before_accepting` and never gets here). Greylisting, and a 4.7.x code alone,
/// are not: they only defer the recipient.
pub fn throttles(o: &Outcome, patterns: &[Pattern]) -> bool {
    let Some(reply) = o.reply.as_ref().filter(|r| r.is_transient()) else {
        return false;
    };
    let closing = reply.code == 421 && matches!(o.step, StepKind::Mail | StepKind::Rcpt);
    closing || {
        let line = reply.one_line();
        patterns.iter().any(|p| p.is_match(&line))
    }
}

fn default_status(code: u16) -> Enhanced {
    match code {
        200..=399 => Enhanced::new(2, 0, 0),
        400..=499 => Enhanced::new(4, 0, 0),
        _ => Enhanced::new(5, 0, 0),
    }
}

pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Delivered => "delivered",
        Verdict::Temporary => "temporary failure",
        Verdict::Permanent => "permanent failure",
        Verdict::Policy => "refused by policy",
    }
}

/// How a step is named to people: "RCPT TO", "the greeting"...
pub fn step_name(step: StepKind) -> &'static str {
    match step {
        StepKind::Dns => "DNS lookup",
        StepKind::Connect => "connect",
        StepKind::Greeting => "greeting",
        StepKind::Ehlo => "EHLO",
        StepKind::Helo => "HELO",
        StepKind::StartTls => "STARTTLS",
        StepKind::Auth => "AUTH",
        StepKind::Mail => "MAIL FROM",
        StepKind::Rcpt => "RCPT TO",
        StepKind::Data => "DATA",
        StepKind::DataDone => "end of data",
        StepKind::Rset => "RSET",
        StepKind::Quit => "QUIT",
        StepKind::Dkim => "DKIM signing",
    }
}

/// The RFC 3464 `Action` of a reported recipient (`owed=` keeps the final ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Failed for good: a bounce.
    Failed,
    /// Still pending after `delay_warning`: a delay notice.
    Delayed,
    /// Accepted by a next hop that offers DSN (it reports further on its own).
    Delivered,
    /// Accepted by a next hop without DSN: this is the last report the sender gets.
    Relayed,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// Why a recipient failed for good (`ended=` keeps it, so that a notice rebuilt after a
/// restart says the same as the one that could not be written before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The server or DNS said no for good.
    Permanent,
    /// Every direct and relay attempt failed temporarily.
    AttemptsUsedUp,
    /// `max_queue_lifetime` passed (`bounce_lifetime` for a notice qksmtp wrote).
    Expired,
}

impl GiveUp {
    pub fn name(self) -> &'static str {
        match self {
            GiveUp::Permanent => "permanent",
            GiveUp::AttemptsUsedUp => "attempts",
            GiveUp::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<GiveUp> {
        [GiveUp::Permanent, GiveUp::AttemptsUsedUp, GiveUp::Expired]
            .into_iter()
            .find(|g| g.name() == s)
    }
    /// In words, for listings and the log: `permanent`, `all attempts used`...
    pub fn describe(self) -> &'static str {
        match self {
            GiveUp::Permanent => "permanent",
            GiveUp::AttemptsUsedUp => "all attempts used",
            GiveUp::Expired => "too long in the queue",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<(u8, u16, u16)>) -> Reply {
        Reply::new(
            code,
            enhanced.map(|(a, b, c)| Enhanced::new(a, b, c)),
            "text",
        )
    }

    #[test]
    fn a_tls_requirement_not_met_says_which_in_every_rendering() {
        let failure = Failure {
            step: StepKind::StartTls,
            kind: FailureKind::Tls("certificate not valid for mx.a.test: expired".into()),
        };
        let o = Outcome::tls_unmet("mx.a.test", &failure, Demand::Dane);
        assert_eq!(o.unmet_tls(), Some(Demand::Dane));
        assert_eq!(
            (o.verdict, o.status),
            (Verdict::Temporary, Enhanced::new(4, 7, 5))
        );
        assert_eq!(
            o.to_string(),
            "temporary failure at STARTTLS via mx.a.test: TLS failed: certificate not valid for \
             mx.a.test: expired (required a verified encrypted connection (DANE))"
        );
        let words = "a.test requires a verified encrypted connection (DANE); its mail server \
                     mx.a.test did not give it (TLS failed: certificate not valid for \
                     mx.a.test: expired)";
        assert_eq!(o.tls_unmet_words("a.test").as_deref(), Some(words));
        assert_eq!(o.last_result("a.test"), words);
        let verify = Outcome::tls_unmet("", &failure, Demand::Verify);
        assert_eq!(
            verify.last_result("a.test"),
            "This server's settings require, for mail to a.test, a verified encrypted \
             connection (tls_policy = verify); its mail server did not give it (TLS failed: \
             certificate not valid for mx.a.test: expired)"
        );
        let plain = Outcome::from_failure("mx.a.test", &failure);
        assert_eq!(plain.unmet_tls(), None);
        assert_eq!(plain.tls_unmet_words("a.test"), None);
        assert_eq!(plain.last_result("a.test"), plain.reason());
        assert!(!plain.to_string().contains("required"), "{plain}");
    }

    #[test]
    fn replies_table() {
        use StepKind::*;
        use Verdict::*;
        let cases = [
            (Rcpt, 250, Some((2, 1, 5)), Delivered),
            (DataDone, 250, None, Delivered),
            (Rcpt, 451, Some((4, 7, 1)), Temporary),
            (Rcpt, 452, Some((4, 2, 2)), Temporary),
            (Greeting, 421, None, Temporary),
            (Rcpt, 550, Some((5, 1, 1)), Permanent),
            (Rcpt, 552, Some((5, 2, 2)), Permanent),
            (DataDone, 554, Some((5, 6, 0)), Permanent),
            (Mail, 553, Some((5, 3, 4)), Permanent),
            (Rcpt, 550, None, Permanent),
            (Rcpt, 550, Some((5, 7, 1)), Policy),
            (Mail, 554, Some((5, 7, 1)), Policy),
            (Greeting, 554, None, Policy),
            (Auth, 535, Some((5, 7, 8)), Temporary),
        ];
        for (step, code, enh, want) in cases {
            assert_eq!(
                classify_reply(step, &reply(code, enh)),
                want,
                "{step:?} {code} {enh:?}"
            );
        }
    }

    #[test]
    fn recipient_limits_table() {
        let cases = [
            (
                Reply::new(452, Some(Enhanced::new(4, 5, 3)), "Too many"),
                true,
            ),
            (Reply::new(452, None, "Too many recipients"), true),
            (
                Reply::new(452, Some(Enhanced::new(4, 5, 3)), "too MANY recipients"),
                true,
            ),
            (
                Reply::new(452, Some(Enhanced::new(4, 2, 2)), "mailbox full"),
                false,
            ),
            (
                Reply::new(451, Some(Enhanced::new(4, 5, 3)), "too many"),
                false,
            ),
            (Reply::new(552, None, "too many recipients"), false),
            (Reply::new(250, None, "ok"), false),
        ];
        for (reply, want) in cases {
            assert_eq!(too_many_recipients(&reply), want, "{reply:?}");
        }
    }

    #[test]
    fn closed_before_accepting_table() {
        use StepKind::*;
        let r421 = FailureKind::Reply(reply(421, Some((4, 4, 2))));
        let cases = [
            (Mail, FailureKind::Closed, true),
            (Mail, FailureKind::Io("broken pipe".into()), true),
            (Mail, r421.clone(), true),
            (Mail, FailureKind::Reply(reply(451, Some((4, 3, 0)))), false),
            (Mail, FailureKind::Reply(reply(550, Some((5, 7, 1)))), false),
            (Mail, FailureKind::Timeout, false),
            (Rcpt, FailureKind::Closed, false),
            (Rcpt, r421, false),
            (DataDone, FailureKind::Closed, false),
        ];
        for (step, kind, want) in cases {
            let f = Failure::new(step, kind);
            assert_eq!(closed_before_accepting(&f), want, "{f:?}");
        }
    }

    #[test]
    fn throttling_replies_table() {
        use StepKind::*;
        let builtin = crate::config::pattern::builtin();
        let r = |code, e: Option<(u8, u16, u16)>, text: &str| {
            Reply::new(code, e.map(|(a, b, c)| Enhanced::new(a, b, c)), text)
        };
        // (step, reply, throttles with the built-in list)
        let cases = [
            (
                Rcpt,
                r(421, Some((4, 7, 28)), "unusual rate of unsolicited mail"),
                true,
            ),
            (
                Rcpt,
                r(
                    450,
                    Some((4, 2, 1)),
                    "receiving mail at a rate that prevents",
                ),
                true,
            ),
            (
                Greeting,
                r(
                    421,
                    Some((4, 7, 0)),
                    "[TSS04] Messages temporarily deferred",
                ),
                true,
            ),
            (
                Mail,
                r(
                    451,
                    Some((4, 7, 500)),
                    "Server busy. Please try again later",
                ),
                true,
            ),
            (
                Rcpt,
                r(451, Some((4, 7, 650)), "temporarily rate limited"),
                true,
            ),
            (Mail, r(421, Some((4, 3, 2)), "shutting down"), true),
            (Rcpt, r(421, None, "closing"), true),
            (
                Rcpt,
                r(451, Some((4, 7, 1)), "greylisted, try again"),
                false,
            ),
            (Rcpt, r(450, Some((4, 2, 0)), "Greylisted"), false),
            (
                Rcpt,
                r(451, Some((4, 7, 0)), "temporary policy failure"),
                false,
            ),
            (
                Greeting,
                r(421, Some((4, 7, 0)), "too many connections"),
                false,
            ),
            (DataDone, r(421, Some((4, 4, 2)), "timeout"), false),
            (
                Rcpt,
                r(550, Some((5, 7, 1)), "rate limited for good"),
                false,
            ),
            (Rcpt, r(452, Some((4, 2, 2)), "mailbox full"), false),
        ];
        for (step, reply, want) in cases {
            let o = Outcome::from_reply(step, "mx.test [127.0.0.1]:25", &reply);
            assert_eq!(
                throttles(&o, &builtin),
                want,
                "{step:?} {}",
                reply.one_line()
            );
        }
        let tss = Outcome::from_reply(Rcpt, "r", &r(421, None, "[TSS04] deferred"));
        assert!(
            throttles(&tss, &[]),
            "a 421 to RCPT throttles without any pattern"
        );
        let busy = Outcome::from_reply(Mail, "r", &r(451, Some((4, 7, 500)), "Server busy"));
        assert!(!throttles(&busy, &[]), "throttle_on cleared");
        let timeout = Outcome::from_failure("r", &Failure::new(Rcpt, FailureKind::Timeout));
        assert!(!throttles(&timeout, &builtin));
    }

    #[test]
    fn a_loop_is_permanent_5_4_6() {
        let o = Outcome::mail_loop("example.test", "self [127.0.0.1]:25");
        assert_eq!(
            (o.verdict, o.status),
            (Verdict::Permanent, Enhanced::new(5, 4, 6))
        );
        assert_eq!(o.reason(), "mail for example.test loops back to myself");
    }

    #[test]
    fn failures_are_temporary_with_a_status() {
        let cases = [
            (FailureKind::Timeout, (4, 4, 1)),
            (FailureKind::ConnectRefused, (4, 4, 1)),
            (FailureKind::Closed, (4, 4, 2)),
            (FailureKind::Protocol("garbage".into()), (4, 5, 0)),
        ];
        for (kind, (a, b, c)) in cases {
            let o = Outcome::from_failure(
                "mx.test [127.0.0.1]:25",
                &Failure {
                    step: StepKind::Data,
                    kind,
                },
            );
            assert_eq!(o.verdict, Verdict::Temporary);
            assert_eq!(o.status, Enhanced::new(a, b, c));
        }
        let permanent = Failure {
            step: StepKind::Rcpt,
            kind: FailureKind::Reply(reply(550, Some((5, 1, 1)))),
        };
        assert_eq!(
            Outcome::from_failure("r", &permanent).verdict,
            Verdict::Permanent
        );
    }

    #[test]
    fn dns_results() {
        let nx = Outcome::from_dns(
            "nowhere.invalid",
            &DnsError::NxDomain {
                name: "nowhere.invalid".into(),
            },
        );
        assert_eq!(
            (nx.verdict, nx.status),
            (Verdict::Permanent, Enhanced::new(5, 1, 2))
        );
        let tmp = DnsError::Temporary {
            name: "x.test".into(),
            detail: "SERVFAIL".into(),
        };
        assert_eq!(
            Outcome::from_dns("x.test", &tmp).verdict,
            Verdict::Temporary
        );
        assert_eq!(Outcome::null_mx("x.test").status, Enhanced::new(5, 1, 10));
    }

    #[test]
    fn a_mail_server_name_that_does_not_resolve_is_no_usable_mail_server() {
        let host = "mx.gone.test";
        let name = || host.to_string();
        // (the lookup's error, verdict, status, detail)
        let cases = [
            (
                DnsError::NxDomain { name: name() },
                Verdict::Permanent,
                (5, 4, 4),
                "the mail server mx.gone.test does not exist in DNS: no usable mail server",
            ),
            (
                DnsError::NoAddresses { name: name() },
                Verdict::Permanent,
                (5, 4, 4),
                "the mail server mx.gone.test has no address: no usable mail server",
            ),
            (
                DnsError::Temporary {
                    name: name(),
                    detail: "DNS server 127.0.0.1:9 did not answer (connection refused)".into(),
                },
                Verdict::Temporary,
                (4, 4, 3),
                "DNS lookup of mx.gone.test failed: DNS server 127.0.0.1:9 did not answer \
                 (connection refused)",
            ),
        ];
        for (error, verdict, (a, b, c), detail) in cases {
            let o = Outcome::from_host_dns(host, &error);
            assert_eq!((o.verdict, o.status), (verdict, Enhanced::new(a, b, c)));
            assert_eq!(o.detail, detail);
            assert_ne!(o.status, Enhanced::new(5, 1, 2), "never 'does not exist'");
        }
    }
}
