//! A notice as an RFC 6522 `multipart/report; report-type=delivery-status` message: the
//! plain-language part, the RFC 3464 `message/delivery-status` part, and the original headers
//! (`text/rfc822-headers`) or, for a bounce with RET=FULL, the original (`message/rfc822`).
//! Pure: the caller gives the original message, our host name, the new Message-ID and `now`.

use super::text::{self, clean};
use super::{Notice, NoticeKind, Reported};
use crate::headers as message;
use crate::outcome::Action;
use crate::outcome::Outcome;
use crate::smtp::reply::Enhanced;
use crate::time::Timestamp;
use std::fmt::Write as _;

/// What the rendering needs besides the notice and the original message.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// This server's name (`Reporting-MTA`, `From: MAILER-DAEMON@...`).
    pub host: &'a str,
    /// The notice's own Message-ID, without the angle brackets.
    pub message_id: &'a str,
    pub now: Timestamp,
}

/// The notice as message bytes (CRLF line ends), ready for intake.
pub fn render(notice: &Notice, original: &[u8], ctx: &RenderContext<'_>) -> Vec<u8> {
    let headers = message::header_block(original);
    let subject = message::header_field(original, "subject").map(|s| shorten(&clean(&s)));
    let returned: &[u8] = if notice.returns_full_message() {
        original
    } else {
        headers
    };
    let text = text::body(notice, ctx.host, subject.as_deref(), ctx.now);
    let status = delivery_status(notice, ctx);
    let boundary = boundary(ctx.message_id, &[text.as_bytes(), returned]);
    let eight_bit = !text.is_ascii() || !status.is_ascii() || !returned.is_ascii();
    let mut out = top_headers(notice, original, ctx, &boundary, eight_bit).into_bytes();
    out.extend_from_slice(b"This is a delivery report in MIME format (RFC 3464).\r\n");
    let text_headers = format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n\
         Content-Description: Notification\r\n",
        cte(text.is_ascii())
    );
    let status_headers =
        "Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n";
    let (kind, what) = if notice.returns_full_message() {
        ("message/rfc822", "The original message")
    } else {
        ("text/rfc822-headers", "The original message's headers")
    };
    let returned_headers = format!(
        "Content-Type: {kind}\r\nContent-Transfer-Encoding: {}\r\n\
         Content-Description: {what}\r\n",
        cte(returned.is_ascii())
    );
    let (text, status) = (crlf(&text), crlf(&status));
    let parts: [(&str, &[u8]); 3] = [
        (&text_headers, text.as_bytes()),
        (status_headers, status.as_bytes()),
        (&returned_headers, returned),
    ];
    for (headers, body) in parts {
        // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1): the extra
        // one keeps each part's last line end.
        out.extend_from_slice(format!("\r\n--{boundary}\r\n{headers}\r\n").as_bytes());
        out.extend_from_slice(body);
        if !body.is_empty() && !body.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn top_headers(
    notice: &Notice,
    original: &[u8],
    ctx: &RenderContext<'_>,
    boundary: &str,
    eight_bit: bool,
) -> String {
    let first = notice
        .recipients
        .first()
        .map(|r| clean(&notice.recipient(r).address.to_string()))
        .unwrap_or_default();
    let more = match notice.recipients.len() {
        0 | 1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    let subject = match notice.kind() {
        NoticeKind::Bounce => format!("Undelivered mail: could not deliver to {first}{more}"),
        NoticeKind::Delay => format!("Delayed mail: still trying to deliver to {first}{more}"),
        NoticeKind::Receipt => format!("Delivered: your message to {first}{more}"),
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
        ctx.host
    );
    let _ = write!(h, "To: {}\r\n", clean(&notice.envelope.sender.to_string()));
    let _ = write!(h, "Subject: {subject}\r\n");
    let _ = write!(h, "Date: {}\r\n", ctx.now.rfc5322());
    let _ = write!(h, "Message-ID: <{}>\r\n", ctx.message_id);
    if let Some(id) = message::header_field(original, "message-id").filter(|id| is_msg_id(id)) {
        let _ = write!(h, "In-Reply-To: {id}\r\nReferences: {id}\r\n");
    }
    h.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    let _ = write!(
        h,
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n"
    );
    let _ = write!(h, "Content-Transfer-Encoding: {}\r\n\r\n", cte(!eight_bit));
    h
}

/// The `message/delivery-status` body: per-message fields, then one block per recipient.
fn delivery_status(notice: &Notice, ctx: &RenderContext<'_>) -> String {
    let env = &notice.envelope;
    let mut s = String::new();
    field(&mut s, "Reporting-MTA", &format!("dns; {}", ctx.host));
    field(&mut s, "X-Qksmtp-Queue-ID", env.id.as_str());
    if let Some(envid) = &env.params.envid {
        field(&mut s, "Original-Envelope-Id", &clean(envid));
    }
    field(&mut s, "Arrival-Date", &env.arrival.rfc5322());
    for r in &notice.recipients {
        s.push('\n');
        recipient_fields(&mut s, notice, r, ctx.now);
    }
    s
}

fn recipient_fields(s: &mut String, notice: &Notice, r: &Reported, now: Timestamp) {
    let rcpt = notice.recipient(r);
    if let Some(o) = &rcpt.orcpt {
        let value = format!("{}; {}", clean(&o.addr_type), clean(&o.address));
        field(s, "Original-Recipient", &value);
    }
    field(
        s,
        "Final-Recipient",
        &format!("rfc822; {}", clean(&rcpt.address.to_string())),
    );
    field(s, "Action", r.action.name());
    field(s, "Status", &status(r, rcpt.last_status).to_string());
    if let Some(o) = &r.outcome {
        if let Some(host) = remote_host(o) {
            field(s, "Remote-MTA", &format!("dns; {host}"));
        }
        let diagnostic = match &o.reply {
            Some(reply) => format!("smtp; {}", clean(&reply.one_line())),
            None => format!("X-qksmtp; {}", clean(&o.detail)),
        };
        field(s, "Diagnostic-Code", &diagnostic);
    } else if let Some(last) = &rcpt.last_result {
        field(s, "Diagnostic-Code", &format!("X-qksmtp; {}", clean(last)));
    }
    match r.action {
        Action::Delayed => {
            if let Some(until) = notice.retry_until {
                field(s, "Will-Retry-Until", &until.rfc5322());
            }
        }
        Action::Failed | Action::Delivered | Action::Relayed => {
            let at = rcpt.last_attempt.unwrap_or(now);
            field(s, "Last-Attempt-Date", &at.rfc5322());
        }
    }
}

/// The RFC 3463 status: the outcome's (or, for a notice rebuilt after a restart, the saved
/// one), kept in the class that matches the action.
fn status(r: &Reported, saved: Option<Enhanced>) -> Enhanced {
    let fallback = match r.action {
        Action::Failed => Enhanced::new(5, 0, 0),
        Action::Delayed => Enhanced::new(4, 0, 0),
        Action::Delivered | Action::Relayed => Enhanced::new(2, 0, 0),
    };
    match (r.outcome.as_ref().map(|o| o.status).or(saved), r.action) {
        (Some(st), Action::Delivered | Action::Relayed) if st.class == 2 => st,
        (Some(st), Action::Failed | Action::Delayed) if st.class != 2 => st,
        _ => fallback,
    }
}

/// The server that answered, from the outcome's route (`mx1.example.test [192.0.2.1]:25` or
/// `relay isp (smtp.isp.test [192.0.2.9]:587)`); `None` when no server answered.
pub fn remote_host(o: &Outcome) -> Option<String> {
    o.reply.as_ref()?;
    let route = o.route.as_str();
    let inner = match route.find(" (") {
        Some(open) if route.starts_with("relay ") => route[open + 2..].trim_end_matches(')'),
        _ => route,
    };
    let host = inner.split(" [").next()?.trim();
    (!host.is_empty()).then(|| clean(host))
}

/// `Name: value`, folded at spaces so that lines stay short.
fn field(s: &mut String, name: &str, value: &str) {
    let mut line_len = name.len() + 1;
    s.push_str(name);
    s.push(':');
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if line_len + 1 + word.len() > 78 && line_len > name.len() + 1 {
            s.push_str("\n\t");
            line_len = 1;
        } else {
            s.push(' ');
            line_len += 1;
        }
        s.push_str(word);
        line_len += word.len();
    }
    s.push('\n');
}

/// A boundary that appears in none of the parts.
fn boundary(message_id: &str, parts: &[&[u8]]) -> String {
    let base: String = message_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut n = 0;
    loop {
        let b = format!("=_qksmtp_{base}_{n}");
        if !parts.iter().any(|p| contains(p, b.as_bytes())) {
            return b;
        }
        n += 1;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_msg_id(id: &str) -> bool {
    id.starts_with('<') && id.ends_with('>') && id.is_ascii() && !id.contains(' ')
}

fn cte(ascii: bool) -> &'static str {
    if ascii { "7bit" } else { "8bit" }
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn shorten(s: &str) -> String {
    const MAX: usize = 100;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}
