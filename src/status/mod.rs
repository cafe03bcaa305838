//! The status page and its JSON API on `status_listen`: a small HTTP/1.1 server (one thread
//! per connection, at most `MAX_CONNECTIONS`, one request each, with limits and timeouts;
//! a live page's event stream keeps its connection and thread).
//! Routing and rendering are pure (`route`, `api`, `html`, `metrics`); this file does the
//! I/O: it asks the scheduler thread for snapshots and gives it the orders.

pub mod api;
pub mod bulk;
pub mod client;
pub mod doctor;
pub mod html;
pub mod http;
pub mod json;
pub mod login;
pub mod metrics;
pub mod route;
pub mod timeline;

use crate::access;
use crate::config::Live;
use crate::queue::changes::What;
use crate::queue::find::Found;
use crate::queue::history;
use crate::queue::select::Bulk;
use crate::queue::snapshot::{MessageDetail, MessageView, Snapshot};
use crate::queue::thread::Event;
use crate::reload::{Answer, Control};
use crate::spool::Spool;
use crate::spool::id::MessageId;
use api::Detail;
use crossbeam_channel::{RecvTimeoutError, Sender, bounded};
use http::{HTML, JSON, Request, Response, TEXT};
use json::J;
use route::{Action, Guard, Route, Search};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const MAX_CONNECTIONS: usize = 32;
/// Connections one address may hold at once: a few slow clients cannot take every slot.
const MAX_PER_ADDRESS: usize = 8;
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole request (head and body) must arrive within this, however it trickles in.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait for the scheduler thread's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reload may take (reading the certificate, binding new listeners).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages listed by the page and `/api/messages` (the totals count all).
const LIST_LIMIT: usize = 200;
/// How much of a message file its page reads (text, HTML, attachments); the `.eml` is whole.
const MAX_READ: u64 = 16 * 1024 * 1024;
/// How long a check that the spool is writable holds.
const SPOOL_CHECK_EVERY: Duration = Duration::from_secs(10);
/// Live pages (event streams) at once; more get 503 and poll.
const MAX_WATCHERS: usize = 16;
/// How often an idle event stream says it is still there.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How soon a browser reconnects a broken event stream.
const RECONNECT_MS: u64 = 500;

struct Shared {
    /// The live settings: each request is checked against those in force when it arrives.
    config: Live,
    /// The API token (made at start; it is in `spool/.status` for the commands).
    token: String,
    events: Sender<Event>,
    /// The running server's main thread (reload).
    control: Sender<Control>,
    spool: Arc<Spool>,
    open: AtomicUsize,
    /// Event streams open.
    watching: AtomicUsize,
    /// Open connections per client address.
    per_address: Mutex<HashMap<IpAddr, usize>>,
    /// `status_password`'s check.
    login: login::Login,
    /// The last doctor report, and the check running, if any.
    checks: Arc<doctor::Checks>,
    /// The last spool check: when, and how it went.
    spool_check: Mutex<Option<(Instant, Result<(), String>)>>,
}

pub struct StatusServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
}

impl StatusServer {
    /// Binds `status_listen` and serves until `stop`.
    pub fn start(
        config: Live,
        addr: SocketAddr,
        spool: Arc<Spool>,
        (events, control): (Sender<Event>, Sender<Control>),
        token: String,
    ) -> io::Result<StatusServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            token,
            events,
            control,
            spool,
            open: AtomicUsize::new(0),
            watching: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            login: login::Login::default(),
            checks: Arc::default(),
            spool_check: Mutex::new(None),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let acceptor = thread::Builder::new()
            .name("status".into())
            .spawn(move || accept(listener, shared, stop))?;
        Ok(StatusServer {
            addr,
            stopping,
            acceptor,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = self.acceptor.join();
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>, stopping: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let ip = peer.ip().to_canonical();
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        // Refused at once, holding nothing: a short answer fits the socket's buffer.
        if !access::in_any(&shared.config.get().server.status_allow, ip) {
            let _ = route::not_allowed().write_to(&mut stream);
            continue;
        }
        let Some(slot) = Slot::take(&shared, ip) else {
            let _ = Response::error(503, "too many connections").write_to(&mut stream);
            continue;
        };
        let _ = thread::Builder::new()
            .name("status-conn".into())
            .spawn(move || {
                serve(&mut stream, &slot.shared, ip);
                drop(slot);
            });
    }
}

/// A connection's place: one of `MAX_CONNECTIONS`, and one of its address's
/// `MAX_PER_ADDRESS`; given back on drop.
struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Slot {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<Slot> {
        let mut per = shared.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per.entry(ip).or_insert(0);
        if *mine >= MAX_PER_ADDRESS || shared.open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            if *mine == 0 {
                per.remove(&ip);
            }
            return None;
        }
        *mine += 1;
        shared.open.fetch_add(1, Ordering::SeqCst);
        Some(Slot {
            shared: shared.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per = self
            .shared
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.ip);
            }
        }
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(stream: &mut TcpStream, shared: &Shared, ip: IpAddr) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let read = http::read_request(&mut http::Deadlined::new(stream, deadline), ip);
    let req_search = read
        .as_ref()
        .map(|req| (Search::of(req), Search::asked(req)));
    let req_search = req_search.unwrap_or_default();
    let response = match read.and_then(|req| route_of(shared, &req)) {
        Ok(Route::Events { seen }) => return watch(stream, shared, seen),
        Ok(route) => handle(shared, route, &req_search),
        Err(refusal) => refusal,
    };
    let _ = response.write_to(stream);
}

/// What the request is, if its sender may make it (with the settings in force now).
fn route_of(shared: &Shared, req: &Request) -> Result<Route, Response> {
    let config = shared.config.get();
    let guard = Guard {
        allow: config.server.status_allow.clone(),
        token: shared.token.clone(),
        hostname: config.server.hostname.clone(),
    };
    let route = route::route(req, &guard)?;
    let password = config.server.status_password.as_deref();
    shared.login.check(req, password, &shared.token)?;
    Ok(route)
}

/// `GET /api/events`: the queue's changes as Server-Sent Events until the client goes, the
/// scheduler drops it for not keeping up (it reconnects with `Last-Event-ID`), or the
/// server stops. A comment every `KEEP_ALIVE` finds a client that has gone.
fn watch(stream: &mut TcpStream, shared: &Shared, seen: Option<u64>) {
    let Some(_watcher) = Watcher::take(shared) else {
        let _ =
            Response::error(503, "too many live pages; the page polls instead").write_to(stream);
        return;
    };
    let Some(changes) = ask(shared, |tx| Event::Watch(seen, tx)) else {
        let _ = Response::error(503, "the server is stopping").write_to(stream);
        return;
    };
    let mut out = http::event_stream_head(RECONNECT_MS);
    loop {
        if stream
            .write_all(out.as_bytes())
            .and_then(|()| stream.flush())
            .is_err()
        {
            return;
        }
        out = match changes.recv_timeout(KEEP_ALIVE) {
            Ok(change) => {
                let data = match &change.what {
                    What::Message(id) => J::obj(vec![("message", id.as_str().into())]),
                    What::Reset => J::obj(vec![("reset", true.into())]),
                };
                http::event(change.seq, "change", &data.to_string())
            }
            Err(RecvTimeoutError::Timeout) => ": still here\n\n".into(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}

/// One of the `MAX_WATCHERS` live pages, given back on drop: live pages cannot take every
/// connection slot.
struct Watcher<'a>(&'a AtomicUsize);

impl<'a> Watcher<'a> {
    fn take(shared: &'a Shared) -> Option<Watcher<'a>> {
        let n = &shared.watching;
        n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
            (w < MAX_WATCHERS).then_some(w + 1)
        })
        .ok()?;
        Some(Watcher(n))
    }
}

impl Drop for Watcher<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers a request; `search` is what its query asks to list, and whether it asked.
fn handle(shared: &Shared, route: Route, search: &(Search, bool)) -> Response {
    let unavailable = || Response::error(503, "the server is stopping");
    let not_found = || {
        Response::error(
            404,
            "no such message (delivered messages are listed a while, then forgotten)",
        )
    };
    match route {
        Route::Asset("page.js") => {
            Response::new(200, "text/javascript; charset=utf-8", html::PAGE_JS)
        }
        Route::Asset(_) => Response::new(200, "text/css; charset=utf-8", html::PAGE_CSS),
        Route::Page => match (counts(shared), find(shared, &search.0)) {
            (Some(s), Some(found)) => Response::new(
                200,
                HTML,
                html::overview(&s, &found, &search.0, &shared.token),
            ),
            _ => unavailable(),
        },
        Route::Status => match counts(shared) {
            Some(s) => Response::new(200, JSON, api::status(&s).to_string()),
            None => unavailable(),
        },
        Route::Messages { text: false } if search.1 && !search.0.problems(now()).is_empty() => {
            Response::error(400, &search.0.problems(now()).join("; "))
        }
        Route::Messages { text: false } if search.1 => match find(shared, &search.0) {
            Some(found) => Response::new(
                200,
                JSON,
                api::found(&found, &search.0, crate::time::Timestamp::now()).to_string(),
            ),
            None => unavailable(),
        },
        Route::Messages { text } => match snapshot(shared) {
            Some(s) if text => Response::new(200, TEXT, crate::cli::listing::render_snapshot(&s)),
            Some(s) => Response::new(200, JSON, api::messages(&s).to_string()),
            None => unavailable(),
        },
        Route::Metrics => match counts(shared) {
            Some(s) => Response::new(200, metrics::CONTENT_TYPE, metrics::render(&s)),
            None => unavailable(),
        },
        Route::MessagePage(id) => match detail(shared, &id) {
            Some(d) => {
                let body = content(shared, &id);
                let now = crate::time::Timestamp::now();
                let page = html::message_page(&d, body.as_ref(), &shared.token, now);
                Response::new(200, HTML, page)
            }
            None => Response::new(404, HTML, html::gone_page(id.as_str(), &shared.token)),
        },
        Route::Message { id, text } => match detail(shared, &id) {
            Some(d) if text => Response::new(
                200,
                TEXT,
                api::detail_text(&d, crate::time::Timestamp::now()),
            ),
            Some(d) => {
                let body = content(shared, &id);
                Response::new(200, JSON, api::detail(&d, body.as_ref()).to_string())
            }
            None => not_found(),
        },
        Route::DoctorPage => Response::new(200, HTML, shared.checks.page(&shared.token)),
        Route::Doctor => Response::new(200, JSON, shared.checks.json().to_string()),
        Route::Bulk(order) => bulk(shared, order),
        Route::MessageHtml(id) => match content(shared, &id).and_then(|b| b.readable.html) {
            Some(html) => Response::new(200, HTML, html).framed(html::HTML_BODY_POLICY),
            None => Response::error(404, "no HTML body (or the message is no longer kept)"),
        },
        Route::Act(action) => perform(shared, action),
        Route::Eml(id) => match stored(shared, &id).and_then(|(file, len)| {
            let mut body = Vec::with_capacity(len as usize);
            file.take(len).read_to_end(&mut body).ok().map(|_| body)
        }) {
            Some(body) => Response::new(200, "message/rfc822", body).download(&format!("{id}.eml")),
            None => not_found(),
        },
        Route::Events { .. } => unreachable!("served by watch"),
    }
}

fn now() -> crate::time::Timestamp {
    crate::time::Timestamp::now()
}

/// Starts the page on `status_listen` (if set), prints where it is and writes
/// `spool/.status` for the commands. A port that cannot be bound is a warning, not fatal.
pub fn start_page(
    live: &Live,
    spool: Arc<Spool>,
    events: Sender<Event>,
    control: Sender<Control>,
) -> Option<StatusServer> {
    let config = live.get();
    let Some(addr) = config.server.status_listen else {
        println!("qksmtp: status page off");
        return None;
    };
    let token = crate::spool::lock::random_token();
    match StatusServer::start(live.clone(), addr, spool, (events, control), token.clone()) {
        Ok(page) => {
            let status = crate::spool::lock::StatusFile {
                addr: page.addr(),
                token,
            };
            if let Err(e) = status.write(&config.server.spool_dir) {
                log::warn!(
                    "cannot write the status file (commands will not reach the server): {e}"
                );
            }
            println!("qksmtp: status page http://{}/", page.addr());
            Some(page)
        }
        Err(e) => {
            eprintln!(
                "qksmtp: warning: status page: cannot listen on {addr}: {e} (another program uses it? change [server] status_listen)"
            );
            println!("qksmtp: status page off (cannot listen on {addr})");
            None
        }
    }
}

/// Asks the scheduler thread a question; `None` when it does not answer (stopping).
fn ask<T>(shared: &Shared, make: impl FnOnce(Sender<T>) -> Event) -> Option<T> {
    let (tx, rx) = bounded(1);
    shared.events.send(make(tx)).ok()?;
    rx.recv_timeout(ANSWER_TIMEOUT).ok()
}

fn snapshot(shared: &Shared) -> Option<Snapshot> {
    let mut s = ask(shared, |tx| Event::Snapshot(LIST_LIMIT, tx))?;
    fill_subjects(shared, &mut s.messages);
    Some(s)
}

/// The counters, totals, destinations and health, without the listing.
fn counts(shared: &Shared) -> Option<Snapshot> {
    let mut s = ask(shared, |tx| Event::Snapshot(0, tx))?;
    s.health.spool = Some(spool_writable(shared));
    Some(s)
}

/// Whether a file can be written in the spool: checked at most every `SPOOL_CHECK_EVERY`,
/// however often the page is loaded.
fn spool_writable(shared: &Shared) -> Result<(), String> {
    let mut last = shared.spool_check.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, result)) = &*last
        && at.elapsed() < SPOOL_CHECK_EVERY
    {
        return result.clone();
    }
    let probe = shared.config.get().server.spool_dir.join(".status-probe");
    let result = std::fs::write(&probe, b"qksmtp\n")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| e.to_string());
    *last = Some((Instant::now(), result.clone()));
    result
}

/// A page of the messages the search finds (the scheduler's index knows their subjects).
fn find(shared: &Shared, search: &Search) -> Option<Found> {
    let query = search.query(now());
    let mut found = ask(shared, |tx| Event::Find(Box::new(query), tx))?;
    fill_subjects(shared, &mut found.messages);
    Some(found)
}

/// A bulk order (or its count, on a dry run), answered by `bulk::answer`.
fn bulk(shared: &Shared, order: Bulk) -> Response {
    let verb = order.verb;
    let dry_run = order.dry_run;
    let now = now();
    match ask(shared, |tx| Event::Bulk(Box::new(order), tx)) {
        Some(taken) => {
            let body = bulk::answer(verb, dry_run, &taken, now);
            Response::new(200, JSON, body.to_string())
        }
        None => Response::error(503, "the server is stopping"),
    }
}

/// The subjects of listed queued messages whose envelopes do not have them (written by a
/// qksmtp before they were kept), read from their files.
fn fill_subjects(shared: &Shared, messages: &mut [MessageView]) {
    for m in messages
        .iter_mut()
        .filter(|m| m.finished.is_none() && m.subject.is_none())
    {
        let headers = history::read_headers(&shared.spool.message_path(&m.id));
        m.subject = crate::headers::subject(headers.as_bytes());
    }
}

/// A message's bytes as stored and their length: the queued file, else those kept with its
/// history record (`None` once they are gone).
fn stored(shared: &Shared, id: &MessageId) -> Option<(Box<dyn Read + Send>, u64)> {
    if let Ok(file) = std::fs::File::open(shared.spool.message_path(id)) {
        let len = file.metadata().ok()?.len();
        return Some((Box::new(file), len));
    }
    let kept = ask(shared, |tx| Event::Message(id.clone(), tx))??.body?;
    kept.open().ok()
}

/// A message's text, HTML and attachments, from the first `MAX_READ` bytes of its file
/// (queued, or kept with its history record); `None` once it is gone.
fn content(shared: &Shared, id: &MessageId) -> Option<html::Body> {
    let (file, size) = stored(shared, id)?;
    let mut bytes = Vec::new();
    file.take(MAX_READ).read_to_end(&mut bytes).ok()?;
    Some(html::Body {
        readable: crate::mime::read(&bytes),
        truncated: (size > MAX_READ).then_some(MAX_READ),
    })
}

fn detail(shared: &Shared, id: &MessageId) -> Option<Detail> {
    let MessageDetail {
        mut view,
        headers,
        steps,
        ..
    } = ask(shared, |tx| Event::Message(id.clone(), tx))??;
    let headers = headers.unwrap_or_else(|| history::read_headers(&shared.spool.message_path(id)));
    let steps = steps.unwrap_or_else(|| history::read_steps(&shared.spool.steps_path(id)));
    view.subject = crate::headers::subject(headers.as_bytes());
    Some(Detail {
        view,
        headers,
        steps,
    })
}

/// Carries out an action; answers with the new state.
fn perform(shared: &Shared, action: Action) -> Response {
    let known = match &action {
        Action::Flush => {
            let _ = shared.events.send(Event::Flush);
            return match snapshot(shared) {
                Some(s) => Response::new(200, JSON, api::status(&s).to_string()),
                None => Response::error(503, "the server is stopping"),
            };
        }
        Action::Queued(id) => return adopt(shared, id),
        Action::Bulk(order) => return bulk(shared, order.clone()),
        Action::HoldDest { name, hold } => return hold_dest(shared, name, *hold),
        Action::Reload { text } => return reload(shared, *text),
        Action::Doctor { sender, to } => {
            let ask = crate::doctor::Ask {
                sender: sender.clone(),
                to: to.iter().cloned().collect(),
            };
            let started = shared.checks.start(&shared.config, ask);
            let body = J::obj(vec![("started", started.into()), ("running", true.into())]);
            return Response::new(if started { 202 } else { 409 }, JSON, body.to_string());
        }
        Action::Retry(id) => ask(shared, |tx| Event::Retry(id.clone(), tx)),
        Action::Delete(id) => ask(shared, |tx| Event::Delete(id.clone(), tx)),
        Action::Hold(id) => ask(shared, |tx| Event::Hold(id.clone(), tx)),
        Action::Release(id) => ask(shared, |tx| Event::Release(id.clone(), tx)),
    };
    let (Action::Retry(id) | Action::Delete(id) | Action::Hold(id) | Action::Release(id)) = &action
    else {
        unreachable!("handled above")
    };
    match known {
        None => Response::error(503, "the server is stopping"),
        Some(false) => Response::error(404, "no such message in the queue"),
        Some(true) if matches!(action, Action::Delete(_)) => {
            let body = J::obj(vec![("id", id.as_str().into()), ("deleted", true.into())]);
            Response::new(200, JSON, body.to_string())
        }
        Some(true) => match detail(shared, id) {
            Some(d) => Response::new(200, JSON, api::detail(&d, None).to_string()),
            None => Response::error(404, "the message has just left the queue"),
        },
    }
}

/// Pauses or resumes a destination; answers with the status (its destinations).
fn hold_dest(shared: &Shared, name: &str, hold: bool) -> Response {
    match ask(shared, |tx| Event::HoldDest(name.to_string(), hold, tx)) {
        None => Response::error(503, "the server is stopping"),
        Some(false) => Response::error(404, "no such destination"),
        Some(true) => match counts(shared) {
            Some(s) => Response::new(200, JSON, api::status(&s).to_string()),
            None => Response::error(503, "the server is stopping"),
        },
    }
}

/// Asks the main thread to re-read the INI and answers how it went: 200, or 422 when the
/// file is invalid (nothing changed).
fn reload(shared: &Shared, text: bool) -> Response {
    let (tx, rx) = bounded(1);
    let asked = shared.control.send(Control::Reload(Some(tx))).is_ok();
    let Some(answer) = asked
        .then(|| rx.recv_timeout(RELOAD_TIMEOUT).ok())
        .flatten()
    else {
        return Response::error(503, "the server is stopping");
    };
    let status = match answer {
        Answer::Reloaded { .. } => 200,
        Answer::Refused { .. } => 422,
    };
    match text {
        true => Response::new(status, TEXT, answer.text()),
        false => Response::new(status, JSON, api::reload(&answer).to_string()),
    }
}

/// `qksmtp send` committed a message while the server runs: queue it now.
fn adopt(shared: &Shared, id: &MessageId) -> Response {
    let env = match shared.spool.read_envelope(id) {
        Ok(Ok(env)) => env,
        Ok(Err(e)) => return Response::error(400, &format!("damaged envelope: {e}")),
        Err(_) => return Response::error(404, "no such message in the spool"),
    };
    match ask(shared, |tx| Event::Adopt(Box::new(env), tx)) {
        Some(new) => {
            let body = J::obj(vec![("id", id.as_str().into()), ("queued", new.into())]);
            Response::new(200, JSON, body.to_string())
        }
        None => Response::error(503, "the server is stopping"),
    }
}
