//! Which request is what, and who may make it (pure). Reads are GET; actions are POST only
//! and refused unless they come from the page itself: no cross-site `Sec-Fetch-Site`, an
//! `Origin` (when sent) equal to the page's, and the per-process token in `X-Qksmtp-Token`.
//! Every request must come from `status_allow` and name the server by an IP address,
//! `localhost` or our hostname in `Host` (so a DNS-rebinding page cannot read it either).

use super::http::{Request, Response};
use crate::access::{self, Cidr};
use crate::queue::find::Query;
use crate::queue::select::{self, Bulk, Selector, Verb};
use crate::queue::snapshot::Shown;
use crate::spool::id::MessageId;

/// Who may do what.
pub struct Guard {
    pub allow: Vec<Cidr>,
    pub token: String,
    /// Our `[server] hostname`, also accepted in `Host`.
    pub hostname: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the overview and the messages.
    Page,
    /// `GET /message/ID`: one message, its headers and its step record.
    MessagePage(MessageId),
    /// `GET /message/ID.eml`: a queued message as stored, to save.
    Eml(MessageId),
    /// `GET /static/page.js|page.css`.
    Asset(&'static str),
    /// `GET /api/status`: counters, totals, destinations.
    Status,
    /// `GET /api/messages` (`?format=text` for the CLI).
    Messages { text: bool },
    /// `GET /api/messages/ID` (`?format=text` for the CLI).
    Message { id: MessageId, text: bool },
    /// `GET /metrics`.
    Metrics,
    /// `GET /doctor`: the last `qksmtp doctor` report and "check again".
    DoctorPage,
    /// `GET /api/doctor`: the same as JSON.
    Doctor,
    /// `GET /api/events`: the changes as Server-Sent Events, after `seen` (`Last-Event-ID`)
    /// on a reconnect.
    Events { seen: Option<u64> },
    /// `GET /api/bulk/VERB?SELECTORS`: how many messages the bulk action would take (a dry
    /// run: nothing changes).
    Bulk(Bulk),
    /// A POST.
    Act(Action),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Retry(MessageId),
    Delete(MessageId),
    Hold(MessageId),
    Release(MessageId),
    Flush,
    /// `POST /api/bulk/VERB?SELECTORS`: the verb on every message the selectors take.
    Bulk(Bulk),
    /// `qksmtp send` committed this message to the spool: take it into the queue.
    Queued(MessageId),
    /// Re-read qksmtp.ini (`?format=text` for `qksmtp reload`).
    Reload {
        text: bool,
    },
    /// Run the doctor's checks again, in the background (`?sender=DOMAIN&to=DOMAIN`).
    Doctor {
        sender: Option<String>,
        to: Option<String>,
    },
}

pub const TOKEN_HEADER: &str = "x-qksmtp-token";

/// What the page and `/api/messages` list: `?q=TEXT&state=STATE&dest=DOMAIN&page=N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub text: String,
    pub state: Option<Shown>,
    pub dest: String,
    /// From 0.
    pub page: usize,
}

impl Search {
    /// From the request's query (an unknown state or page is ignored).
    pub fn of(req: &Request) -> Search {
        let text = |name| req.text_param(name).unwrap_or_default();
        Search {
            text: text("q").trim().to_string(),
            state: Shown::from_name(&text("state")),
            dest: text("dest").trim().to_string(),
            page: text("page").parse().unwrap_or(0),
        }
    }

    /// Whether the request asked for a search or a page (the API then answers with one page).
    pub fn asked(req: &Request) -> bool {
        ["q", "state", "dest", "page"]
            .iter()
            .any(|n| req.param(n).is_some())
    }

    pub fn query(&self) -> Query {
        let dest = Some(self.dest.as_str()).filter(|d| !d.is_empty());
        Query::new(&self.text, self.state, dest, self.page)
    }
}

/// The answer to an address that `status_allow` does not name.
pub fn not_allowed() -> Response {
    Response::error(403, "not allowed from this address (status_allow)")
}

/// Decides what the request is, or the refusal to send.
pub fn route(req: &Request, guard: &Guard) -> Result<Route, Response> {
    if !access::in_any(&guard.allow, req.peer) {
        return Err(not_allowed());
    }
    if !host_ok(req.header("host"), &guard.hostname) {
        return Err(Response::error(
            421,
            "unknown Host: use the server's IP address",
        ));
    }
    let text = req.param("format") == Some("text");
    let segments: Vec<&str> = req.path.split('/').skip(1).collect();
    let read = match segments.as_slice() {
        [""] => Some(Route::Page),
        ["message", file] if file.ends_with(".eml") => {
            Some(Route::Eml(message_id(file.trim_end_matches(".eml"))?))
        }
        ["message", id] => Some(Route::MessagePage(message_id(id)?)),
        ["static", "page.js"] => Some(Route::Asset("page.js")),
        ["static", "page.css"] => Some(Route::Asset("page.css")),
        ["api", "status"] => Some(Route::Status),
        ["api", "messages"] => Some(Route::Messages { text }),
        ["api", "messages", id] => Some(Route::Message {
            id: message_id(id)?,
            text,
        }),
        ["metrics"] => Some(Route::Metrics),
        ["doctor"] => Some(Route::DoctorPage),
        ["api", "doctor"] if req.method != "POST" => Some(Route::Doctor),
        ["api", "events"] => Some(Route::Events {
            seen: req.header("last-event-id").and_then(|v| v.parse().ok()),
        }),
        ["api", "bulk", verb] if req.method != "POST" => Some(Route::Bulk(bulk(req, verb, true)?)),
        _ => None,
    };
    if let Some(route) = read {
        return match req.method.as_str() {
            "GET" | "HEAD" => Ok(route),
            _ => Err(Response::error(405, "use GET")),
        };
    }
    let action = match segments.as_slice() {
        ["api", "flush"] => Action::Flush,
        ["api", "reload"] => Action::Reload { text },
        ["api", "doctor"] => Action::Doctor {
            sender: domain_param(req, "sender")?,
            to: domain_param(req, "to")?,
        },
        ["api", "queued", id] => Action::Queued(message_id(id)?),
        ["api", "bulk", verb] => Action::Bulk(bulk(req, verb, false)?),
        ["api", "messages", id, verb] => {
            let id = message_id(id)?;
            match *verb {
                "retry" => Action::Retry(id),
                "delete" => Action::Delete(id),
                "hold" => Action::Hold(id),
                "release" => Action::Release(id),
                _ => return Err(Response::error(404, "no such action")),
            }
        }
        _ => return Err(Response::error(404, "not found")),
    };
    if req.method != "POST" {
        return Err(Response::error(405, "actions are POST only"));
    }
    cross_site_check(req, guard)?;
    Ok(Route::Act(action))
}

/// A domain name given in the query, if any: letters, digits, dots and hyphens only.
fn domain_param(req: &Request, name: &str) -> Result<Option<String>, Response> {
    let Some(value) = req.text_param(name).map(|v| v.trim().to_string()) else {
        return Ok(None);
    };
    let fine = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    match value.is_empty() {
        true => Ok(None),
        false if value.bytes().all(fine) && value.contains('.') => Ok(Some(value)),
        false => Err(Response::error(
            400,
            &format!("{name} must be a domain name"),
        )),
    }
}

/// A bulk order from `/api/bulk/VERB?all=yes&domain=..&from=..&older_than=..&arrived_by=..`,
/// or with the page's search (`q`, `state`, `dest`) as the selector.
fn bulk(req: &Request, verb: &str, dry_run: bool) -> Result<Bulk, Response> {
    let verb = Verb::from_name(verb).ok_or_else(|| Response::error(404, "no such action"))?;
    let mut selector = Selector::default();
    for key in select::KEYS {
        if let Some(value) = req.text_param(key) {
            selector
                .set(key, &value)
                .map_err(|e| Response::error(400, &e.to_string()))?;
        }
    }
    let search = Search::of(req);
    if !search.text.is_empty() || search.state.is_some() || !search.dest.is_empty() {
        selector.search = Some(search.query());
    }
    selector
        .check()
        .map_err(|e| Response::error(400, &e.to_string()))?;
    Ok(Bulk {
        verb,
        selector,
        dry_run,
    })
}

fn message_id(s: &str) -> Result<MessageId, Response> {
    MessageId::parse(s).ok_or_else(|| Response::error(404, "not a message ID"))
}

/// The CSRF defence for actions.
fn cross_site_check(req: &Request, guard: &Guard) -> Result<(), Response> {
    let refuse = |why: &str| Err(Response::error(403, why));
    if let Some(site) = req.header("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return refuse("cross-site request refused");
    }
    if let Some(origin) = req.header("origin") {
        let host = req.header("host").unwrap_or_default();
        if origin != format!("http://{host}") {
            return refuse("cross-origin request refused");
        }
    }
    match req.header(TOKEN_HEADER) {
        Some(t) if constant_time_eq(t.as_bytes(), guard.token.as_bytes()) => Ok(()),
        _ => refuse("missing or wrong token (reload the page)"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Host` must be an IP literal, `localhost` or our hostname (with an optional port).
fn host_ok(host: Option<&str>, hostname: &str) -> bool {
    let Some(host) = host else {
        return true; // HTTP/1.0 clients; browsers always send Host
    };
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
        || bare.eq_ignore_ascii_case("localhost")
        || bare.eq_ignore_ascii_case(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0194F2A3B4C5D001";

    fn guard() -> Guard {
        Guard {
            allow: access::loopback(),
            token: "s3cret".into(),
            hostname: "mx.qksmtp.test".into(),
        }
    }

    fn req(method: &str, target: &str) -> Request {
        Request::new(method, target, "127.0.0.1".parse().unwrap()).with("Host", "127.0.0.1:8025")
    }

    #[test]
    fn reads_are_routed() {
        let g = guard();
        let id = MessageId::parse(ID).unwrap();
        assert_eq!(route(&req("GET", "/"), &g), Ok(Route::Page));
        assert_eq!(route(&req("GET", "/api/status"), &g), Ok(Route::Status));
        assert_eq!(
            route(&req("GET", &format!("/api/messages/{ID}?format=text")), &g),
            Ok(Route::Message { id, text: true })
        );
        assert_eq!(route(&req("GET", "/metrics"), &g), Ok(Route::Metrics));
        assert_eq!(
            route(&req("GET", &format!("/message/{ID}.eml")), &g),
            Ok(Route::Eml(MessageId::parse(ID).unwrap()))
        );
        assert_eq!(
            route(&req("GET", "/api/events"), &g),
            Ok(Route::Events { seen: None })
        );
        let again = req("GET", "/api/events").with("Last-Event-ID", "42");
        assert_eq!(route(&again, &g), Ok(Route::Events { seen: Some(42) }));
        assert_eq!(route(&req("GET", "/nope"), &g).unwrap_err().status, 404);
        assert_eq!(
            route(&req("GET", "/message/../x"), &g).unwrap_err().status,
            404
        );
        assert_eq!(
            route(&req("POST", "/api/status"), &g).unwrap_err().status,
            405
        );
    }

    #[test]
    fn a_search_is_read_from_the_query() {
        let r = req("GET", "/?q=Bob%40y.test+&state=deferred&dest=y.test&page=2");
        let want = Search {
            text: "Bob@y.test".into(),
            state: Some(Shown::Deferred),
            dest: "y.test".into(),
            page: 2,
        };
        assert_eq!(Search::of(&r), want);
        assert!(Search::asked(&r));
        let plain = req("GET", "/api/messages?state=nonsense&page=x");
        assert_eq!(Search::of(&plain), Search::default());
        assert!(!Search::asked(&req("GET", "/api/messages?format=text")));
        assert_eq!(Search::of(&r).query().text, "bob@y.test");
    }

    #[test]
    fn actions_need_post_the_token_and_the_same_origin() {
        let g = guard();
        let target = format!("/api/messages/{ID}/retry");
        let good = req("POST", &target).with(TOKEN_HEADER, "s3cret");
        let retry = Route::Act(Action::Retry(MessageId::parse(ID).unwrap()));
        assert_eq!(route(&good, &g), Ok(retry.clone()));
        let same_origin = good
            .clone()
            .with("Origin", "http://127.0.0.1:8025")
            .with("Sec-Fetch-Site", "same-origin");
        assert_eq!(route(&same_origin, &g), Ok(retry));
        // No side effect on GET.
        let get = req("GET", &target).with(TOKEN_HEADER, "s3cret");
        assert_eq!(route(&get, &g).unwrap_err().status, 405);
        let reload = req("POST", "/api/reload?format=text").with(TOKEN_HEADER, "s3cret");
        assert_eq!(
            route(&reload, &g),
            Ok(Route::Act(Action::Reload { text: true }))
        );
        for r in [
            req("POST", "/api/reload"),
            req("GET", "/api/reload").with(TOKEN_HEADER, "s3cret"),
        ] {
            assert!(route(&r, &g).is_err(), "{r:?}");
        }
        let refused = [
            req("POST", &target),
            req("POST", &target).with(TOKEN_HEADER, "guess"),
            good.clone().with("Origin", "http://evil.test"),
            good.clone().with("Sec-Fetch-Site", "cross-site"),
            good.clone().with("Sec-Fetch-Site", "same-site"),
        ];
        for r in refused {
            assert_eq!(route(&r, &g).unwrap_err().status, 403, "{r:?}");
        }
    }

    #[test]
    fn bulk_orders_read_their_selectors_and_a_get_changes_nothing() {
        let g = guard();
        let count = route(
            &req("GET", "/api/bulk/delete?domain=Y.test&older_than=2d"),
            &g,
        );
        let Ok(Route::Bulk(b)) = count else {
            panic!("{count:?}")
        };
        assert_eq!((b.verb, b.dry_run), (Verb::Delete, true));
        assert_eq!(b.selector.domain.as_deref(), Some("y.test"));
        let act =
            req("POST", "/api/bulk/hold?q=invoice&state=deferred").with(TOKEN_HEADER, "s3cret");
        let Ok(Route::Act(Action::Bulk(b))) = route(&act, &g) else {
            panic!("{act:?}")
        };
        assert!(!b.dry_run);
        assert_eq!(b.selector.search.unwrap().text, "invoice");
        for (r, status) in [
            (req("GET", "/api/bulk/delete"), 400),
            (req("GET", "/api/bulk/delete?all=yes&from=%3C%3E"), 400),
            (req("GET", "/api/bulk/delete?page=2"), 400),
            (req("GET", "/api/bulk/explode?all=yes"), 404),
            (req("POST", "/api/bulk/delete?all=yes"), 403),
        ] {
            assert_eq!(route(&r, &g).unwrap_err().status, status, "{r:?}");
        }
    }

    #[test]
    fn only_allowed_clients_and_host_names() {
        let g = guard();
        let far = Request::new("GET", "/", "192.0.2.7".parse().unwrap());
        assert_eq!(route(&far, &g).unwrap_err().status, 403);
        for host in [
            "localhost:8025",
            "[::1]:8025",
            "MX.qksmtp.test",
            "127.0.0.1",
        ] {
            let r = Request::new("GET", "/", "127.0.0.1".parse().unwrap()).with("Host", host);
            assert_eq!(route(&r, &g), Ok(Route::Page), "{host}");
        }
        let rebound =
            Request::new("GET", "/", "127.0.0.1".parse().unwrap()).with("Host", "evil.test:8025");
        assert_eq!(route(&rebound, &g).unwrap_err().status, 421);
    }
}
