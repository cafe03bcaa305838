//! The status page's HTML, rendered on the server (pure): the overview with counters,
//! destinations and messages, and one message's detail with its step record. The embedded
//! script (`page.js`) refreshes them from the JSON API.

use super::api::{Detail, Row, explain, when};
use super::route::Search;
use super::timeline;
use crate::human::{human_size, short_age};
use crate::intake::INTAKE;
use crate::mime::Readable;
use crate::queue::find::{Found, PAGE};
use crate::queue::snapshot::{DestState, DestView, Health, MessageView, Shown, Snapshot};
use crate::time::Timestamp;
use crate::transcript::read::{self, Attempt, Entry};
use std::collections::BTreeSet;
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

pub(super) fn head(title: &str, token: &str, view: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"qksmtp-token\" content=\"{}\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"/static/page.css\"></head>\n<body data-view=\"{view}\">\n",
        escape(token),
        escape(title)
    )
}

pub(super) const FOOT: &str = "<script src=\"/static/page.js\"></script>\n</body></html>\n";

/// A time the script shows in the browser's local time; UTC on hover (and without script).
pub fn time(t: Timestamp) -> String {
    let iso = t.iso();
    format!(
        "<time datetime=\"{}\" title=\"{} UTC\">{iso}</time>",
        iso.replace(' ', "T"),
        iso.trim_end_matches('Z')
    )
}

/// `GET /`: the counters and destinations, the search form, and a page of the messages it
/// finds.
pub fn overview(s: &Snapshot, found: &Found, search: &Search, token: &str) -> String {
    let mut h = head("qksmtp status", token, "overview");
    let state = if s.in_flight > 0 { "sending" } else { "idle" };
    let _ = writeln!(
        h,
        "<header><h1>qksmtp</h1> <span id=\"state\" class=\"badge {state}\">{state}</span> \
         <span class=\"muted\">running since {}</span> \
         <button data-action=\"flush\">Flush all</button> \
         <a href=\"/doctor\">doctor</a></header>",
        time(s.started)
    );
    let _ = writeln!(h, "<p id=\"health\">{}</p>", health(&s.health));
    h.push_str(&search_form(search, s));
    h.push_str(&super::bulk::block(search));
    h.push_str("<main id=\"live\">\n");
    h.push_str(&live(s, found, search));
    h.push_str("</main>\n");
    h.push_str(FOOT);
    h
}

/// Whether the server is healthy, and the three things that say so: the spool takes files,
/// the DNS answered its last lookup, the last delivery (same markup as `page.js`).
pub fn health(h: &Health) -> String {
    let (class, word) = match super::api::healthy(h) {
        true => ("ok", "healthy"),
        false => ("bad", "unhealthy"),
    };
    let mut out = format!("<span class=\"hl {class}\">{word}</span> ");
    match &h.spool {
        Some(Err(e)) => {
            let _ = write!(
                out,
                "<span class=\"bad\">spool not writable: {}</span>",
                escape(e)
            );
        }
        _ => out.push_str("<span>spool writable</span>"),
    }
    match &h.dns {
        None => out.push_str(" · <span>DNS: no lookup yet</span>"),
        Some(d) => {
            let (class, words) = match d.answering {
                true => ("", "DNS answering"),
                false => (" class=\"bad\"", "DNS not answering"),
            };
            let _ = write!(
                out,
                " · <span{class} title=\"{}\">{words} (last lookup {})</span>",
                escape(&d.detail),
                time(d.at)
            );
        }
    }
    match h.last_delivery {
        Some(t) => {
            let _ = write!(out, " · <span>last delivery {}</span>", time(t));
        }
        None => out.push_str(" · <span>no delivery yet</span>"),
    }
    out
}

/// The search box and filters: a plain GET form (it works without the script).
fn search_form(search: &Search, s: &Snapshot) -> String {
    let mut h = format!(
        "<form id=\"find\" method=\"get\" action=\"/\"><input type=\"search\" name=\"q\" value=\"{}\" \
         placeholder=\"ID, sender, recipient, domain, subject\" aria-label=\"search\"> \
         <select name=\"state\" aria-label=\"state\"><option value=\"\">any state</option>",
        escape(&search.text)
    );
    for state in Shown::ALL {
        let selected = if search.state == Some(state) {
            " selected"
        } else {
            ""
        };
        let _ = write!(h, "<option{selected}>{}</option>", state.name());
    }
    let _ = write!(
        h,
        "</select> <input name=\"dest\" value=\"{}\" placeholder=\"destination\" list=\"dests\" \
         aria-label=\"destination\" size=\"12\"><datalist id=\"dests\">",
        escape(&search.dest)
    );
    for d in s.dests.iter().filter(|d| !d.name.starts_with("relay:")) {
        let _ = write!(h, "<option value=\"{}\">", escape(&d.name));
    }
    let _ = writeln!(
        h,
        "</datalist> <input name=\"since\" value=\"{}\" placeholder=\"since: 2h, 2026-12-05 09:00 UTC\" \
         aria-label=\"arrived since\" size=\"14\"> <input name=\"before\" value=\"{}\" \
         placeholder=\"before\" aria-label=\"arrived before\" size=\"14\"> \
         <button type=\"submit\">Find</button></form>",
        escape(&search.since),
        escape(&search.before)
    );
    for problem in search.problems(s.now) {
        let _ = writeln!(h, "<p class=\"err problem\">{}</p>", escape(&problem));
    }
    h
}

/// `?q=..&state=..&dest=..[&since=..][&before=..]&page=N`, percent-encoded.
pub fn search_link(search: &Search, page: usize) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let state = search.state.map_or("", Shown::name);
    let mut link = format!(
        "?q={}&state={state}&dest={}",
        enc(&search.text),
        enc(&search.dest)
    );
    for (name, value) in [("since", &search.since), ("before", &search.before)] {
        if !value.is_empty() {
            let _ = write!(link, "&{name}={}", enc(value));
        }
    }
    let _ = write!(link, "&page={page}");
    link
}

/// `12 messages · page 2 of 3 · newer · older`.
fn paging(found: &Found, search: &Search) -> String {
    let pages = found.total.div_ceil(PAGE).max(1);
    let mut h = format!(
        "<p class=\"paging\"><span id=\"found\">{}</span> message{} · page {} of {pages}",
        found.total,
        if found.total == 1 { "" } else { "s" },
        search.page + 1
    );
    if search.page > 0 {
        let _ = write!(
            h,
            " · <a rel=\"prev\" href=\"/{}\">newer</a>",
            escape(&search_link(search, search.page - 1))
        );
    }
    if search.page + 1 < pages {
        let _ = write!(
            h,
            " · <a rel=\"next\" href=\"/{}\">older</a>",
            escape(&search_link(search, search.page + 1))
        );
    }
    h.push_str("</p>\n");
    h
}

/// The part of the overview the script replaces (same markup as `page.js` makes): the queue
/// as it is now apart from the totals since start, the destinations, a page of messages.
pub fn live(s: &Snapshot, found: &Found, search: &Search) -> String {
    let c = s.counters;
    let t = s.totals;
    let mut h = String::new();
    for (class, title, tiles) in [
        (
            "now",
            "in the queue now",
            [
                ("waiting", t.queued as u64),
                ("sending", t.sending as u64),
                ("deferred", t.deferred as u64),
                ("held", t.held as u64),
            ],
        ),
        (
            "total",
            "since start",
            [
                ("received", c.received),
                ("delivered", c.delivered),
                ("deferrals", c.deferred),
                ("bounced", c.bounced),
            ],
        ),
    ] {
        let _ = write!(h, "<section class=\"counters {class}\"><h2>{title}</h2>");
        for (name, n) in tiles {
            let _ = write!(h, "<div><b>{n}</b><span>{name}</span></div>");
        }
        h.push_str("</section>\n");
    }
    h.push_str("<h2>Destinations</h2>\n");
    if s.dests.is_empty() {
        h.push_str("<p class=\"muted\">no destination busy</p>\n");
    }
    for d in &s.dests {
        h.push_str(&dest(d, s.now));
    }
    h.push_str("<h2>Messages</h2>\n");
    h.push_str(&paging(found, search));
    if found.messages.is_empty() {
        let none = if *search == Search::default() {
            "no messages yet"
        } else {
            "no message matches"
        };
        let _ = writeln!(h, "<p class=\"muted\">{none}</p>");
    }
    for m in &found.messages {
        h.push_str(&message_card(m, s.now));
    }
    h
}

/// A destination: its state (and why), its limits and load, its last error, its chart of
/// the last hour, and the button that pauses or resumes it (same markup as `page.js`).
fn dest(d: &DestView, now: Timestamp) -> String {
    let state = d.state(now);
    let mut h = format!(
        "<div class=\"dest\"><b>{}</b> <span class=\"dst {st}\">{st}</span> connections {}/{} · run {}/{} · waiting {}",
        escape(&d.name),
        d.active,
        d.max_connections,
        d.in_run,
        d.max_continuous,
        d.ready,
        st = state.name()
    );
    if let DestState::Paused { until, .. } = state {
        let _ = write!(h, " · until {}", time(until));
    }
    if let Some(t) = &d.throttled {
        let _ = write!(
            h,
            "<div class=\"err\">throttled since {} ({}): next message {}</div>",
            time(t.since),
            escape(&t.why),
            time(t.next.max(now))
        );
    }
    if let Some(t) = d.next_retry {
        let _ = write!(h, " · next retry {}", time(t));
    }
    let (action, label) = match d.held {
        true => ("resume-dest", "Resume"),
        false => ("pause-dest", "Pause"),
    };
    let _ = write!(
        h,
        " <button data-action=\"{action}\" data-dest=\"{}\">{label}</button>",
        escape(&d.name)
    );
    if !state.why().is_empty() {
        let _ = write!(h, "<div class=\"why\">{}</div>", state.why());
    }
    if let Some((at, e)) = &d.last_error {
        let _ = write!(h, "<div class=\"err\">{}: {}</div>", time(*at), escape(e));
    }
    h.push_str(&chart(&d.chart));
    h.push_str("</div>\n");
    h
}

/// The last hour at a destination as an inline SVG: a column a minute, delivered (green),
/// deferred (orange) and failed (red) stacked, scaled to the busiest minute. Empty when
/// nothing happened. `page.js` draws the same.
pub fn chart(minutes: &[[u32; 3]]) -> String {
    let total = |c: &[u32; 3]| c.iter().sum::<u32>();
    let most = minutes.iter().map(total).max().unwrap_or(0);
    if most == 0 {
        return String::new();
    }
    let sums: Vec<u32> = (0..3).map(|k| minutes.iter().map(|c| c[k]).sum()).collect();
    let mut h = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} 20\" width=\"{w}\" height=\"20\" role=\"img\" \
         aria-label=\"last hour: {} delivered, {} deferred, {} failed\">",
        sums[0],
        sums[1],
        sums[2],
        w = minutes.len() * 2
    );
    for (x, c) in minutes.iter().enumerate() {
        let mut y = 20.0;
        for (k, color) in ["#3a3", "#e90", "#d33"].iter().enumerate() {
            let height = f64::from(c[k]) * 20.0 / f64::from(most);
            if height > 0.0 {
                y -= height;
                let _ = write!(
                    h,
                    "<rect x=\"{}\" y=\"{y:.1}\" width=\"2\" height=\"{height:.1}\" fill=\"{color}\"/>",
                    x * 2
                );
            }
        }
    }
    h.push_str("</svg>");
    h
}

fn message_card(m: &MessageView, now: Timestamp) -> String {
    let subject = m.subject.as_deref().filter(|s| !s.is_empty());
    let subject = subject.unwrap_or("(no subject)");
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
            "<li><span class=\"st {st}\">{st}</span> {} <span class=\"why\">{}</span>",
            escape(&r.address),
            escape(&explain(r)),
            st = r.state.name()
        );
        if let Some((words, t)) = when(r) {
            let _ = write!(h, " <span class=\"when\">{words} {}</span>", time(t));
        }
        h.push_str("</li>");
    }
    h.push_str("</ul></div>\n");
    h
}

/// The actions that apply to a message as it is: none once it left the queue; Release (not
/// Hold or Retry) while it is held; Retry while a recipient waits; Hold while one is pending.
pub fn actions(m: &MessageView) -> Vec<(&'static str, &'static str)> {
    if m.finished.is_some() {
        return Vec::new();
    }
    let waits = m
        .recipients
        .iter()
        .any(|r| matches!(r.state, Shown::Queued | Shown::Deferred));
    let pending = waits || m.recipients.iter().any(|r| r.state == Shown::Sending);
    let mut out = Vec::new();
    if !m.held && waits {
        out.push(("retry", "Retry now"));
    }
    if !m.held && pending {
        out.push(("hold", "Hold"));
    }
    if m.held {
        out.push(("release", "Release"));
    }
    out.push(("delete", "Delete"));
    out
}

/// A queued message's content, read from the spool up to a size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub readable: Readable,
    /// The file is larger than what was read (the `.eml` has it all).
    pub truncated: Option<u64>,
}

/// `GET /message/ID`: the message (its recipients with their attempts, its body, HTML body
/// and attachments while it is queued), its headers, and the step record of each attempt.
pub fn message_page(d: &Detail, body: Option<&Body>, token: &str, now: Timestamp) -> String {
    let m = &d.view;
    let mut h = head(&format!("qksmtp {}", m.id), token, "message");
    let sig: Vec<&str> = m.recipients.iter().map(|r| r.state.name()).collect();
    let _ = write!(
        h,
        "<header><a href=\"/\">&larr; all messages</a></header>\n<main id=\"detail\" data-id=\"{}\" data-sig=\"{}{}\">\n",
        m.id,
        sig.join(","),
        if m.held { ",held" } else { "" }
    );
    h.push_str(&message_card(m, now));
    let actions = actions(m);
    if !actions.is_empty() {
        h.push_str("<p class=\"actions\">");
        for (action, label) in actions {
            let _ = write!(
                h,
                "<button data-action=\"{action}\" data-id=\"{}\">{label}</button> ",
                m.id
            );
        }
        h.push_str("</p>\n");
    }
    let attempts = read::parse(&d.steps);
    h.push_str(&timelines(m, &attempts));
    h.push_str(&content(m, body));
    h.push_str("<h2>Headers</h2>\n");
    let _ = writeln!(h, "<pre class=\"headers\">{}</pre>", escape(&d.headers));
    h.push_str("<h2>Delivery attempts</h2>\n");
    if attempts.is_empty() {
        h.push_str("<p class=\"muted\">no delivery attempt yet</p>\n");
    }
    for a in &attempts {
        h.push_str(&attempt(a));
    }
    h.push_str("</main>\n");
    h.push_str(FOOT);
    h
}

/// Each recipient's attempts, oldest first, and what comes next.
fn timelines(m: &MessageView, attempts: &[Attempt]) -> String {
    let mut h = String::from("<h2>Recipients</h2>\n");
    for r in &m.recipients {
        let _ = write!(
            h,
            "<div class=\"rcpt\"><span class=\"st {st}\">{st}</span> <b>{}</b><ol class=\"timeline\">",
            escape(&r.address),
            st = r.state.name()
        );
        for mark in timeline::of(attempts, &r.address) {
            let at = mark.at.map(time).unwrap_or_default();
            let _ = write!(
                h,
                "<li class=\"{}\">{at} {} <span class=\"why\">{}</span></li>",
                if mark.ok { "ok" } else { "fail" },
                escape(&mark.title),
                escape(&mark.text)
            );
        }
        if let Some((words, t)) = when(r) {
            let _ = write!(h, "<li class=\"next\">{words} {}</li>", time(t));
        }
        h.push_str("</ol></div>\n");
    }
    h
}

/// The text body, the HTML body in a sandboxed frame (no script, nothing remote), the
/// attachments, and the `.eml`; or why they cannot be shown.
fn content(m: &MessageView, body: Option<&Body>) -> String {
    let mut h = String::from("<h2>Content</h2>\n");
    let Some(body) = body else {
        h.push_str(
            "<p class=\"muted\">the message is no longer kept (history_max_size): only its \
             headers are</p>\n",
        );
        return h;
    };
    let _ = writeln!(
        h,
        "<p><a download href=\"/message/{}.eml\">Download the message (.eml)</a></p>",
        m.id
    );
    if let Some(size) = body.truncated {
        let _ = writeln!(
            h,
            "<p class=\"muted\">only the first {} of the message are shown</p>",
            human_size(size)
        );
    }
    let r = &body.readable;
    if let Some(text) = &r.text {
        let _ = writeln!(
            h,
            "<h3>Text</h3>\n<pre class=\"body\">{}</pre>",
            escape(text)
        );
    }
    if r.html.is_some() {
        let _ = writeln!(
            h,
            "<h3>HTML</h3>\n<iframe class=\"html\" sandbox src=\"/message/{}/body.html\" \
             title=\"the HTML body (scripts and remote content blocked)\" referrerpolicy=\"no-referrer\"></iframe>",
            m.id
        );
    }
    if !r.attachments.is_empty() {
        h.push_str("<h3>Attachments</h3>\n<table class=\"attachments\">");
        for a in &r.attachments {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.name),
                escape(&a.content_type),
                match a.size {
                    n @ 0..1024 => format!("{n} bytes"),
                    n => human_size(n as u64),
                }
            );
        }
        h.push_str("</table>\n");
    }
    h
}

/// What a message's HTML body may do in its frame: show itself, its inline styles, and
/// images, styles and fonts carried in the message (data: and cid:); no script, nothing
/// fetched from elsewhere, no form sent, no navigation of our page.
pub const HTML_BODY_POLICY: &str = "default-src 'none'; img-src data: cid:; \
     style-src 'unsafe-inline' data: cid:; font-src data: cid:; form-action 'none'; \
     frame-ancestors 'self'; sandbox";

/// An attempt's title: where, which server, for whom, and which attempt of how many.
pub fn attempt_title(a: &Attempt) -> String {
    let recipients = a.recipients();
    let dest = a.dest.clone().or_else(|| {
        let domains: BTreeSet<&str> = recipients
            .iter()
            .filter_map(|r| r.rsplit_once('@').map(|(_, d)| d))
            .collect();
        (domains.len() == 1).then(|| domains.into_iter().collect())
    });
    let mut parts: Vec<String> = Vec::new();
    parts.extend(dest);
    parts.extend(a.host());
    if !recipients.is_empty() {
        parts.push(recipients.join(", "));
    }
    // `direct 2 of 8` → `direct attempt 2 of 8`.
    match a.label.split_once(' ') {
        None if a.label == INTAKE => parts.push("when it arrived (before any attempt)".into()),
        Some((how, n)) => parts.push(format!("{how} attempt {n}")),
        None if !a.label.is_empty() => parts.push(a.label.clone()),
        None => {}
    }
    parts.join(" · ")
}

fn attempt(a: &Attempt) -> String {
    let mut h = format!(
        "<h3>{}</h3>\n<table class=\"steps\">",
        escape(&attempt_title(a))
    );
    let failing = a.failing();
    for (i, entry) in a.entries.iter().enumerate() {
        let class = if failing.contains(&i) {
            " class=\"fail\""
        } else {
            ""
        };
        let row = Row::of(entry);
        let at = match entry {
            Entry::Step(s) => time(s.at),
            Entry::Unread(_) => String::new(),
        };
        let _ = write!(
            h,
            "<tr{class}><td>{at}</td><td>{}&nbsp;ms</td><td>{}</td><td>{}</td></tr>",
            row.ms,
            escape(row.step),
            escape(&row.text)
        );
    }
    h.push_str("</table>\n");
    h
}

/// `GET /message/ID` for a message that is not (or no longer) known: a page, with a way back.
pub fn gone_page(id: &str, token: &str) -> String {
    let mut h = head("qksmtp: no such message", token, "gone");
    let _ = write!(
        h,
        "<header><a href=\"/\">&larr; all messages</a></header>\n<main>\n<h2>No message {}</h2>\n\
         <p>It is not in the queue. Delivered and failed messages are listed for a while after \
         they leave it, then forgotten; a deleted message is gone at once.</p>\n</main>\n",
        escape(id)
    );
    h.push_str(FOOT);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::snapshot::{Pause, RecipientView, Waiting};
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
                waiting: None,
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
        let found = listed(&s);
        let page = overview(&s, &found, &Search::default(), "tok\"en");
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
        let page = message_page(&d, None, "t", Timestamp::from_secs(1_764_000_060));
        assert!(
            page.contains(
                "<tr class=\"fail\"><td><time datetime=\"2026-11-23T07:37:00Z\" title=\"2026-11-23 07:37:00 UTC\">2026-11-23 07:37:00Z</time></td><td>1&nbsp;ms</td><td>RCPT</td>"
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
        let json = super::super::api::detail(&d, None).to_string();
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
        let s = Snapshot {
            messages: vec![v],
            ..Snapshot::default()
        };
        let page = overview(&s, &listed(&s), &Search::default(), "t");
        assert!(page.contains("given up (all attempts used)"), "{page}");
    }

    #[test]
    fn a_delivered_recipient_listed_without_its_reply_says_so_plainly() {
        let words = |v: &MessageView| super::super::api::explain(&v.recipients[0]);
        let with = view(Shown::Delivered, Some("250 2.0.0 ok"));
        assert_eq!(
            words(&with),
            "delivered: the server accepted it (250 2.0.0 ok)"
        );
        // Finished messages are listed without it (history.rs keeps it in the journal).
        let without = view(Shown::Delivered, None);
        assert_eq!(words(&without), "delivered: the server accepted it");
    }

    /// The snapshot's messages as the page of a search that found them.
    fn listed(s: &Snapshot) -> Found {
        let messages: Vec<MessageView> = s.messages.iter().chain(&s.finished).cloned().collect();
        Found {
            total: messages.len(),
            messages,
        }
    }

    #[test]
    fn the_search_form_keeps_the_search_and_pages_link_to_each_other() {
        let search = Search {
            text: "bob & co".into(),
            state: Some(Shown::Deferred),
            dest: "y.test".into(),
            since: "2h".into(),
            before: "soon".into(),
            page: 1,
        };
        let found = Found {
            total: 3 * PAGE,
            messages: Vec::new(),
        };
        let page = overview(&Snapshot::default(), &found, &search, "t");
        assert!(page.contains("name=\"q\" value=\"bob &amp; co\""), "{page}");
        assert!(
            page.contains("<option selected>deferred</option>"),
            "{page}"
        );
        assert!(page.contains("name=\"dest\" value=\"y.test\""), "{page}");
        assert!(
            page.contains("<span id=\"found\">150</span> messages · page 2 of 3"),
            "{page}"
        );
        let link = |p| escape(&search_link(&search, p));
        assert!(
            page.contains(&format!("<a rel=\"prev\" href=\"/{}\">newer</a>", link(0))),
            "{page}"
        );
        assert!(
            page.contains(&format!("<a rel=\"next\" href=\"/{}\">older</a>", link(2))),
            "{page}"
        );
        assert_eq!(
            search_link(&search, 2),
            "?q=bob%20%26%20co&state=deferred&dest=y.test&since=2h&before=soon&page=2"
        );
        assert!(page.contains("name=\"since\" value=\"2h\""), "{page}");
        assert!(
            page.contains("<p class=\"err problem\">before &quot;soon&quot; is not a time"),
            "{page}"
        );
        assert!(page.contains("no message matches"), "{page}");
    }

    fn detail(steps: &str) -> String {
        let d = Detail {
            view: view(Shown::Deferred, Some("451 4.7.1 later")),
            headers: String::new(),
            steps: steps.into(),
        };
        message_page(&d, None, "t", Timestamp::from_secs(1_764_000_060))
    }

    #[test]
    fn a_pipelined_rcpt_deferral_is_the_failing_step_not_datas_554() {
        let page = detail(
            "--- attempt: direct 1 of 3 to y.test for b@y.test ---\n\
             \x20 2026-11-23 07:37:00Z      1ms !RCPT      RCPT TO:<b@y.test> -> 451 4.7.1 later\n\
             \x20 2026-11-23 07:37:00Z      1ms !DATA      DATA -> 554 5.5.1 no valid recipients\n",
        );
        let fail_rows: Vec<&str> = page
            .split("<tr")
            .filter(|r| r.starts_with(" class=\"fail\""))
            .collect();
        assert_eq!(fail_rows.len(), 1, "{page}");
        assert!(fail_rows[0].contains("451 4.7.1"), "{page}");
    }

    #[test]
    fn attempts_are_titled_and_a_reused_connection_is_one_line() {
        let page = detail(
            "--- attempt: direct 1 of 3 to y.test for b@y.test ---\n\
             \x20 2026-11-23 07:37:00Z      2ms  CONNECT   127.0.0.1:25 (mx.y.test)\n\
             \x20 2026-11-23 07:37:00Z      1ms  RCPT      RCPT TO:<b@y.test> -> 250 ok\n\
             --- attempt: direct 2 of 3 to z.test for c@z.test, d@z.test ---\n\
             \x20 2026-11-23 07:37:00Z      2ms  CONNECT   127.0.0.2:25 (mx.z.test)\n\
             \x20 2026-11-23 07:37:00Z      1ms  GREETING  greeting -> 220 hi\n\
             \x20 2026-11-23 07:37:01Z      0ms  CONNECT   reusing the open connection to 127.0.0.2:25 (mx.z.test) (message 2 on it)\n",
        );
        assert!(
            page.contains(
                "<h3>y.test · 127.0.0.1:25 (mx.y.test) · b@y.test · direct attempt 1 of 3</h3>"
            ),
            "{page}"
        );
        assert!(
            page.contains("<h3>z.test · 127.0.0.2:25 (mx.z.test) · c@z.test, d@z.test · direct attempt 2 of 3</h3>"),
            "{page}"
        );
        assert!(
            !page.contains("GREETING"),
            "the reused connection's first steps: {page}"
        );
        assert_eq!(page.matches("CONNECT").count(), 2, "{page}");
    }

    #[test]
    fn a_waiting_recipient_says_when_it_moves() {
        let now = Timestamp::from_secs(1_764_000_000);
        let mut m = view(Shown::Deferred, Some("451 4.7.1 later"));
        m.recipients[0].next_try = Some(Timestamp::from_secs(1_764_000_600));
        let card = message_card(&m, now);
        assert!(
            card.contains("<span class=\"when\">next try <time datetime=\"2025-11-24T16:10:00Z\""),
            "{card}"
        );
        let mut queued = view(Shown::Queued, None);
        queued.recipients[0].waiting = Some(Waiting::Paused {
            dest: "y.test".into(),
            until: Timestamp::from_secs(1_764_000_060),
        });
        let card = message_card(&queued, now);
        assert!(card.contains("waiting: y.test is paused"), "{card}");
        assert!(!card.contains("first attempt"), "{card}");
        assert!(
            card.contains("until <time datetime=\"2025-11-24T16:01:00Z\""),
            "{card}"
        );
        queued.recipients[0].waiting = Some(Waiting::Busy {
            dest: "y.test".into(),
            max_connections: 2,
        });
        let card = message_card(&queued, now);
        assert!(
            card.contains("all 2 connections to y.test are in use"),
            "{card}"
        );
        queued.recipients[0].waiting = Some(Waiting::Throttled {
            dest: "y.test".into(),
            next: Timestamp::from_secs(1_764_000_300),
            why: "421 4.7.28 slow <down>".into(),
        });
        let card = message_card(&queued, now);
        assert!(
            card.contains("waiting: y.test is slowing us down (421 4.7.28 slow &lt;down&gt;)")
                && card.contains("until <time datetime=\"2025-11-24T16:05:00Z\""),
            "{card}"
        );
    }

    #[test]
    fn tiles_keep_the_queue_now_apart_from_totals_since_start() {
        let s = Snapshot {
            counters: crate::queue::snapshot::Counters {
                received: 5,
                delivered: 9,
                deferred: 3,
                bounced: 1,
                ..Default::default()
            },
            totals: crate::queue::snapshot::Totals {
                messages: 2,
                queued: 1,
                sending: 0,
                deferred: 2,
                held: 0,
            },
            ..Snapshot::default()
        };
        let page = live(&s, &Found::default(), &Search::default());
        let (now, total) = page
            .split_once("<section class=\"counters total\">")
            .unwrap();
        assert!(now.contains("<h2>in the queue now</h2>"), "{page}");
        assert!(
            now.contains("<b>1</b><span>waiting</span>")
                && now.contains("<b>2</b><span>deferred</span>"),
            "{page}"
        );
        assert!(
            !now.contains("received") && !now.contains("delivered"),
            "{page}"
        );
        assert!(
            total.contains("<h2>since start</h2>")
                && total.contains("<b>5</b><span>received</span>"),
            "{page}"
        );
        assert!(total.contains("<b>9</b><span>delivered</span>"), "{page}");
    }

    #[test]
    fn a_pause_that_has_passed_is_not_shown_and_times_are_local_with_utc_on_hover() {
        let now = Timestamp::from_secs(1_764_000_000);
        let mut d = DestView {
            name: "y.test".into(),
            active: 0,
            max_connections: 2,
            in_run: 0,
            max_continuous: 5,
            ready: 0,
            paused_until: Some(Timestamp::from_secs(1_763_999_999)),
            throttled: None,
            paused_why: Some(Pause::Down),
            held: false,
            last_error: None,
            next_retry: None,
            chart: Vec::new(),
        };
        let open = dest(&d, now);
        assert!(!open.contains("paused"), "{open}");
        assert!(
            open.contains("<span class=\"dst open\">open</span>"),
            "{open}"
        );
        assert!(
            open.contains("<button data-action=\"pause-dest\" data-dest=\"y.test\">Pause</button>"),
            "{open}"
        );
        d.paused_until = Some(Timestamp::from_secs(1_764_000_060));
        let paused = dest(&d, now);
        for part in [
            "<span class=\"dst paused\">paused</span>",
            " · until <time datetime=\"2025-11-24T16:01:00Z\" title=\"2025-11-24 16:01:00 UTC\">",
            "<div class=\"why\">nobody answered there</div>",
            ">Pause</button>",
        ] {
            assert!(paused.contains(part), "{part} in {paused}");
        }
        d.held = true;
        let held = dest(&d, now);
        for part in [
            "<span class=\"dst paused\">paused</span>",
            "<button data-action=\"resume-dest\" data-dest=\"y.test\">Resume</button>",
            "<div class=\"why\">paused from the status page until resumed</div>",
        ] {
            assert!(held.contains(part), "{part} in {held}");
        }
        assert!(!held.contains("until <time"), "{held}");
        assert!(
            PAGE_JS.contains("time[datetime]"),
            "the script shows them in local time"
        );
        d.throttled = Some(crate::queue::snapshot::ThrottleView {
            since: Timestamp::from_secs(1_763_999_940),
            why: "451 4.7.500 Server busy".into(),
            next: Timestamp::from_secs(1_764_000_240),
            delay: std::time::Duration::from_secs(300),
            connections: 1,
        });
        let shown = dest(&d, now);
        assert!(
            shown.contains("throttled since <time datetime=\"2025-11-24T15:59:00Z\"")
                && shown.contains("(451 4.7.500 Server busy): next message <time datetime=\"2025-11-24T16:04:00Z\""),
            "{shown}"
        );
        assert!(
            PAGE_JS.contains("d.throttled.next_message"),
            "the script draws it too"
        );
    }

    #[test]
    fn a_destination_charts_its_last_hour() {
        assert_eq!(chart(&[[0; 3]; 60]), "", "nothing happened");
        let mut minutes = vec![[0; 3]; 60];
        minutes[0] = [2, 0, 0];
        minutes[59] = [1, 2, 1];
        let svg = chart(&minutes);
        assert!(
            svg.starts_with("<svg class=\"chart\" viewBox=\"0 0 120 20\""),
            "{svg}"
        );
        assert!(
            svg.contains("aria-label=\"last hour: 3 delivered, 2 deferred, 1 failed\""),
            "{svg}"
        );
        assert!(
            svg.contains("<rect x=\"0\" y=\"10.0\" width=\"2\" height=\"10.0\" fill=\"#3a3\"/>"),
            "{svg}"
        );
        assert!(
            svg.contains("<rect x=\"118\" y=\"15.0\" width=\"2\" height=\"5.0\" fill=\"#3a3\"/>"),
            "{svg}"
        );
        assert!(
            svg.contains("<rect x=\"118\" y=\"5.0\" width=\"2\" height=\"10.0\" fill=\"#e90\"/>"),
            "{svg}"
        );
        assert!(
            svg.contains("<rect x=\"118\" y=\"0.0\" width=\"2\" height=\"5.0\" fill=\"#d33\"/>"),
            "{svg}"
        );
        assert_eq!(svg.matches("<rect").count(), 4);
    }

    #[test]
    fn only_the_actions_that_apply_are_offered() {
        let names = |m: &MessageView| actions(m).into_iter().map(|(a, _)| a).collect::<Vec<_>>();
        let cases: [(Shown, bool, bool, &[&str]); 7] = [
            (Shown::Queued, false, false, &["retry", "hold", "delete"]),
            (Shown::Deferred, false, false, &["retry", "hold", "delete"]),
            (Shown::Sending, false, false, &["hold", "delete"]),
            (Shown::Held, true, false, &["release", "delete"]),
            (Shown::Failed, false, false, &["delete"]),
            (Shown::Delivered, false, true, &[]),
            (Shown::Failed, false, true, &[]),
        ];
        for (state, held, finished, want) in cases {
            let mut m = view(state, None);
            m.held = held;
            m.finished = finished.then_some(Timestamp::from_secs(1_764_000_060));
            assert_eq!(names(&m), want, "{state:?} held {held} finished {finished}");
        }
        let d = Detail {
            view: view(Shown::Held, None),
            headers: String::new(),
            steps: String::new(),
        };
        let mut held = d.clone();
        held.view.held = true;
        let page = message_page(&held, None, "t", Timestamp::from_secs(1_764_000_060));
        assert!(
            page.contains("data-action=\"release\"") && !page.contains("data-action=\"hold\""),
            "{page}"
        );
    }

    #[test]
    fn a_gone_message_gets_a_page() {
        let page = gone_page("0194F2A3B4C5D001", "t");
        assert!(
            page.starts_with("<!doctype html>") && page.contains("No message 0194F2A3B4C5D001"),
            "{page}"
        );
        assert!(page.contains("href=\"/\""), "{page}");
    }

    #[test]
    fn the_health_line_says_what_is_wrong() {
        use crate::queue::snapshot::{DnsSeen, Health};
        let at = Timestamp::from_secs(1_764_000_000);
        let dns = |answering| {
            Some(DnsSeen {
                at,
                answering,
                detail: "MX a.test: <timed out>".into(),
            })
        };
        let cases = [
            (
                Health::default(),
                "<span class=\"hl ok\">healthy</span> <span>spool writable</span> · <span>DNS: no lookup yet</span> · <span>no delivery yet</span>",
            ),
            (
                Health {
                    spool: Some(Ok(())),
                    dns: dns(true),
                    last_delivery: Some(at),
                },
                "<span class=\"hl ok\">healthy</span> <span>spool writable</span> · <span title=\"MX a.test: &lt;timed out&gt;\">DNS answering (last lookup <time",
            ),
            (
                Health {
                    dns: dns(false),
                    ..Health::default()
                },
                "<span class=\"hl bad\">unhealthy</span> <span>spool writable</span> · <span class=\"bad\" title=",
            ),
            (
                Health {
                    spool: Some(Err("No space left on device".into())),
                    ..Health::default()
                },
                "<span class=\"hl bad\">unhealthy</span> <span class=\"bad\">spool not writable: No space left on device</span>",
            ),
        ];
        for (h, want) in cases {
            assert!(health(&h).starts_with(want), "{want}\n{}", health(&h));
        }
        let h = Health {
            last_delivery: Some(at),
            ..Health::default()
        };
        assert!(health(&h).ends_with(" · <span>last delivery <time datetime=\"2025-11-24T16:00:00Z\" title=\"2025-11-24 16:00:00 UTC\">2025-11-24 16:00:00Z</time></span>"), "{}", health(&h));
    }
}
