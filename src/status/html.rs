//! The status page's HTML, rendered on the server (pure): the overview with counters,
//! destinations and messages, and one message's detail with its step record. The embedded
//! script (`page.js`) refreshes them from the JSON API.

use super::api::{Detail, Row, explain};
use crate::human::{human_size, short_age};
use crate::queue::snapshot::{DestView, MessageView, Snapshot};
use crate::time::Timestamp;
use crate::transcript::read;
use std::fmt::Write as _;

pub const PAGE_JS: &str = include_str!("assets/page.js");
pub const PAGE_CSS: &str = include_str!("assets/page.css");

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(title: &str, token: &str, view: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"qksmtp-token\" content=\"{}\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"/static/page.css\"></head>\n<body data-view=\"{view}\">\n",
        escape(token),
        escape(title)
    )
}

const FOOT: &str = "<script src=\"/static/page.js\"></script>\n</body></html>\n";

/// `GET /`.
pub fn overview(s: &Snapshot, token: &str) -> String {
    let mut h = head("qksmtp status", token, "overview");
    let state = if s.in_flight > 0 { "sending" } else { "idle" };
    let _ = write!(
        h,
        "<header><h1>qksmtp</h1> <span id=\"state\" class=\"badge {state}\">{state}</span> \
         <span class=\"muted\">running since {}</span> \
         <button data-action=\"flush\">Flush all</button></header>\n<main id=\"live\">\n",
        s.started.iso()
    );
    h.push_str(&live(s));
    h.push_str("</main>\n");
    h.push_str(FOOT);
    h
}

/// The part of the overview the script replaces (same markup as `page.js` makes).
pub fn live(s: &Snapshot) -> String {
    let c = s.counters;
    let t = s.totals;
    let mut h = String::from("<section class=\"counters\">");
    for (name, n) in [
        ("received", c.received),
        ("queued", (t.queued + t.deferred + t.held) as u64),
        ("in flight", t.sending as u64),
        ("delivered", c.delivered),
        ("deferred", c.deferred),
        ("bounced", c.bounced),
    ] {
        let _ = write!(h, "<div><b>{n}</b><span>{name}</span></div>");
    }
    h.push_str("</section>\n<h2>Destinations</h2>\n");
    if s.dests.is_empty() {
        h.push_str("<p class=\"muted\">no destination busy</p>\n");
    }
    for d in &s.dests {
        h.push_str(&dest(d));
    }
    h.push_str("<h2>Messages</h2>\n");
    if s.messages.is_empty() && s.finished.is_empty() {
        h.push_str("<p class=\"muted\">no messages yet</p>\n");
    }
    for m in s.messages.iter().chain(&s.finished) {
        h.push_str(&message_card(m, s.now));
    }
    h
}

fn dest(d: &DestView) -> String {
    let mut h = format!(
        "<div class=\"dest\"><b>{}</b> connections {}/{} · run {}/{} · waiting {}",
        escape(&d.name),
        d.active,
        d.max_connections,
        d.in_run,
        d.max_continuous,
        d.ready
    );
    if let Some(t) = d.paused_until {
        let _ = write!(h, " · paused until {}", t.iso());
    }
    if let Some(t) = d.next_retry {
        let _ = write!(h, " · next retry {}", t.iso());
    }
    if let Some((at, e)) = &d.last_error {
        let _ = write!(h, "<div class=\"err\">{}: {}</div>", at.iso(), escape(e));
    }
    h.push_str("</div>\n");
    h
}

fn message_card(m: &MessageView, now: Timestamp) -> String {
    let subject = m.subject.as_deref().unwrap_or("(no subject)");
    let mut h = format!(
        "<div class=\"msg\"><a href=\"/message/{id}\">{}</a> <span class=\"muted\">from {} · {} · {} ago · {id}</span>",
        escape(subject),
        escape(&m.sender),
        human_size(m.size),
        short_age(now.since(m.arrival)),
        id = m.id
    );
    if m.held {
        h.push_str(" <span class=\"st held\">held</span>");
    }
    h.push_str("<ul>");
    for r in &m.recipients {
        let _ = write!(
            h,
            "<li><span class=\"st {st}\">{st}</span> {} <span class=\"why\">{}</span></li>",
            escape(&r.address),
            escape(&explain(r)),
            st = r.state.name()
        );
    }
    h.push_str("</ul></div>\n");
    h
}

/// `GET /message/ID`.
pub fn message_page(d: &Detail, token: &str, now: Timestamp) -> String {
    let m = &d.view;
    let mut h = head(&format!("qksmtp {}", m.id), token, "message");
    let sig: Vec<&str> = m.recipients.iter().map(|r| r.state.name()).collect();
    let _ = write!(
        h,
        "<header><a href=\"/\">&larr; all messages</a></header>\n<main id=\"detail\" data-id=\"{}\" data-sig=\"{}\">\n",
        m.id,
        sig.join(",")
    );
    h.push_str(&message_card(m, now));
    if m.finished.is_none() {
        h.push_str("<p class=\"actions\">");
        for (action, label) in [
            ("retry", "Retry now"),
            ("hold", "Hold"),
            ("release", "Release"),
            ("delete", "Delete"),
        ] {
            let _ = write!(
                h,
                "<button data-action=\"{action}\" data-id=\"{}\">{label}</button> ",
                m.id
            );
        }
        h.push_str("</p>\n");
    }
    let _ = write!(
        h,
        "<h2>Headers</h2>\n<pre class=\"headers\">{}</pre>\n",
        escape(&d.headers)
    );
    h.push_str("<h2>Delivery attempts</h2>\n");
    let attempts = read::parse(&d.steps);
    if attempts.is_empty() {
        h.push_str("<p class=\"muted\">no delivery attempt yet</p>\n");
    }
    for a in &attempts {
        let _ = write!(h, "<h3>{}</h3>\n<table class=\"steps\">", escape(&a.label));
        let failing = a.entries.iter().rposition(|e| !e.ok());
        for (i, entry) in a.entries.iter().enumerate() {
            let class = if Some(i) == failing {
                " class=\"fail\""
            } else {
                ""
            };
            let row = Row::of(entry);
            let _ = write!(
                h,
                "<tr{class}><td>{}</td><td>{}&nbsp;ms</td><td>{}</td><td>{}</td></tr>",
                escape(&row.at),
                row.ms,
                escape(row.step),
                escape(&row.text)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</main>\n");
    h.push_str(FOOT);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::snapshot::{RecipientView, Shown};
    use crate::spool::id::MessageId;

    fn view(state: Shown, last: Option<&str>) -> MessageView {
        MessageView {
            id: MessageId::from_parts(1_764_000_000_000_000, 1),
            arrival: Timestamp::from_secs(1_764_000_000),
            sender: "<a@x.test>".into(),
            size: 100,
            subject: Some("<b>hi</b>".into()),
            held: false,
            finished: None,
            recipients: vec![RecipientView {
                address: "b@y.test".into(),
                state,
                next_try: None,
                last_result: last.map(Into::into),
                direct_tries: 1,
                relay_tries: 0,
                gave_up: None,
                notice_pending: false,
            }],
        }
    }

    #[test]
    fn the_overview_escapes_and_shows_states() {
        let s = Snapshot {
            messages: vec![view(Shown::Deferred, Some("451 4.7.1 later"))],
            finished: vec![view(Shown::Delivered, Some("250 2.0.0 ok"))],
            ..Snapshot::default()
        };
        let page = overview(&s, "tok\"en");
        assert!(page.contains("content=\"tok&quot;en\""), "{page}");
        assert!(page.contains("&lt;b&gt;hi&lt;/b&gt;") && !page.contains("<b>hi"));
        assert!(page.contains("<span class=\"st deferred\">deferred</span>"));
        assert!(page.contains("<span class=\"st delivered\">delivered</span>"));
        assert!(page.contains("try again later"), "plain words: {page}");
    }

    #[test]
    fn the_detail_highlights_the_failing_step() {
        let steps = "--- attempt: direct 1 of 8 ---\n  2026-11-23 07:37:00Z      2ms  CONNECT   127.0.0.1:25\n  2026-11-23 07:37:00Z      1ms !RCPT      RCPT TO:<b@y.test> -> 451 4.7.1 later\n";
        let d = Detail {
            view: view(Shown::Deferred, Some("451 4.7.1 later")),
            headers: "Subject: x\n".into(),
            steps: steps.into(),
        };
        let page = message_page(&d, "t", Timestamp::from_secs(1_764_000_060));
        assert!(
            page.contains(
                "<tr class=\"fail\"><td>2026-11-23 07:37:00Z</td><td>1&nbsp;ms</td><td>RCPT</td>"
            ),
            "{page}"
        );
        assert!(page.contains("data-action=\"retry\""));
        assert!(page.contains("data-sig=\"deferred\""));
    }

    /// The API's attempts, as the page has always shown them: time, milliseconds, mark,
    /// step name and text (detail and reply), and a line that is not a step kept whole.
    #[test]
    fn the_api_shows_each_step_of_the_record() {
        let steps = "--- attempt: direct 1 of 8 ---\n  2026-11-23 07:37:00Z      2ms  CONNECT   127.0.0.1:25\n  2026-11-23 07:37:00Z   1234ms !DATA-DONE 12 bytes -> 451 4.7.1 try later\n  2026-11-23 07:37:01Z      0ms  QUIT      -> 221 2.0.0\n  not a step\n";
        let d = Detail {
            view: view(Shown::Deferred, Some("451 4.7.1 try later")),
            headers: String::new(),
            steps: steps.into(),
        };
        let json = super::super::api::detail(&d).to_string();
        let want = "\"attempts\":[{\"label\":\"direct 1 of 8\",\"steps\":[\
            {\"at\":\"2026-11-23 07:37:00Z\",\"ms\":2,\"ok\":true,\"step\":\"CONNECT\",\"text\":\"127.0.0.1:25\"},\
            {\"at\":\"2026-11-23 07:37:00Z\",\"ms\":1234,\"ok\":false,\"step\":\"DATA-DONE\",\"text\":\"12 bytes -> 451 4.7.1 try later\"},\
            {\"at\":\"2026-11-23 07:37:01Z\",\"ms\":0,\"ok\":true,\"step\":\"QUIT\",\"text\":\"-> 221 2.0.0\"},\
            {\"at\":\"\",\"ms\":0,\"ok\":true,\"step\":\"\",\"text\":\"not a step\"}]}]";
        assert!(json.contains(want), "{json}");
    }

    #[test]
    fn a_failed_recipient_says_why_it_was_given_up() {
        let mut v = view(Shown::Failed, Some("452 4.2.2 mailbox full"));
        let words = |v: &MessageView| super::super::api::explain(&v.recipients[0]);
        assert!(words(&v).starts_with("failed for good: "), "{}", words(&v));
        v.recipients[0].gave_up = Some(crate::outcome::GiveUp::AttemptsUsedUp);
        assert!(
            words(&v).starts_with("failed, given up (all attempts used): "),
            "{}",
            words(&v)
        );
        let page = overview(
            &Snapshot {
                messages: vec![v],
                ..Snapshot::default()
            },
            "t",
        );
        assert!(page.contains("given up (all attempts used)"), "{page}");
    }
}
