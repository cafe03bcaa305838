//! History that survives a restart: finished messages are kept in the journal in the spool
//! folder and found again, by the command line with the server stopped and by the page's API
//! after a restart.

mod common;
use common::fake_mx::{FakeMx, Options};
use common::*;

const MSG: &str = "Subject: Invoice 42\r\nFrom: a@sender.test\r\n\r\nHi.\r\n.\r\n";

#[test]
fn finished_messages_are_found_after_a_restart() {
    let mx = FakeMx::start(Options::new());
    let server = Server::start("history", &status_ini(&route("a.test", &mx, "")));
    let page = server.status_addr.unwrap();
    let delivered = submit(&server, "a@sender.test", &["bob@a.test"], MSG);
    let failed = submit(&server, "c@sender.test", &["permfail@a.test"], MSG);
    wait_http(
        page,
        &format!("/api/messages/{delivered}"),
        &["\"state\":\"delivered\""],
    );
    wait_http(
        page,
        &format!("/api/messages/{failed}"),
        &["\"state\":\"failed\""],
    );
    let (_, dir) = server.terminate();
    // Stopped: the command line reads the journal.
    let (code, shown, err) = run_cli(dir.path(), &["show", &delivered]);
    assert_eq!(code, 0, "{shown}{err}");
    assert!(
        shown.contains("delivered") && shown.contains("DATA-DONE") && shown.contains("Invoice 42"),
        "{shown}"
    );
    let (code, listed, _) = run_cli(dir.path(), &["queue", "--history", "bob@A.test"]);
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed.contains(&delivered) && !listed.contains(&failed),
        "{listed}"
    );
    assert!(
        listed.contains("1 finished message(s) shown of 2"),
        "{listed}"
    );
    // A journal of before list files (each segment's listing beside it): made again from
    // the segments at the start.
    let lists = || {
        let history = dir.path().join("spool").join("history");
        let all = std::fs::read_dir(history)
            .unwrap()
            .map(|e| e.unwrap().path());
        all.filter(|p| p.extension().is_some_and(|e| e == "list"))
            .collect::<Vec<_>>()
    };
    let gone = lists();
    assert!(!gone.is_empty());
    for list in &gone {
        std::fs::remove_file(list).unwrap();
    }
    // Restarted: the page's API lists them, finds them by search and by ID, with their steps.
    let server = Server::start_in(dir);
    let page = server.status_addr.unwrap();
    wait_http(page, "/api/messages", &[&failed, &delivered]);
    assert!(gone.iter().all(|list| list.is_file()), "{gone:?}");
    let found = wait_http(page, "/api/messages?q=permfail%40a.test", &[&failed]);
    assert!(!found.contains(&delivered), "{found}");
    // Listed in their compact form (read back, not the newest run's): found by sender, ID,
    // domain and subject, a failed recipient with its reason, a delivered one plainly.
    let (_, by_sender) = http(page, "GET", "/api/messages?q=c%40sender.test", &[]);
    assert!(
        by_sender.contains(&failed) && !by_sender.contains(&delivered),
        "{by_sender}"
    );
    assert!(by_sender.contains("550 5.1.1"), "{by_sender}");
    let by_id = format!("/api/messages?q={}", delivered.to_lowercase());
    let (_, by_id) = http(page, "GET", &by_id, &[]);
    assert!(
        by_id.contains(&delivered) && !by_id.contains(&failed),
        "{by_id}"
    );
    assert!(
        by_id.contains("delivered: the server accepted it\"") && by_id.contains("Invoice 42"),
        "{by_id}"
    );
    let (_, by_domain) = http(page, "GET", "/api/messages?q=A.TEST", &[]);
    assert!(
        by_domain.contains(&delivered) && by_domain.contains(&failed),
        "{by_domain}"
    );
    let (_, by_subject) = http(page, "GET", "/api/messages?q=invoice+42", &[]);
    assert!(
        by_subject.contains(&delivered) && by_subject.contains(&failed),
        "{by_subject}"
    );
    assert!(by_id.contains("\"direct_tries\":1"), "{by_id}");
    let (code, detail) = http(page, "GET", &format!("/api/messages/{failed}"), &[]);
    assert_eq!(code, 200, "{detail}");
    assert!(
        detail.contains("\"state\":\"failed\"") && detail.contains("550 5.1.1"),
        "{detail}"
    );
    let (code, shown, _) = run_cli(server.dir.path(), &["show", &delivered]);
    assert!(code == 0 && shown.contains("DATA-DONE"), "{shown}");
    // And it keeps adding to them.
    let third = submit(&server, "a@sender.test", &["carol@a.test"], MSG);
    wait_http(
        page,
        &format!("/api/messages/{third}"),
        &["\"state\":\"delivered\""],
    );
    wait_http(page, "/api/messages?q=invoice", &["\"total\":3"]);
}

/// A delivered message's stored file stays with its history record: its page and API show
/// its text and attachments and offer the `.eml` (the bytes the receiving server got), after
/// delivery and after a restart; past `history_max_size` the oldest go, file and record
/// together; `qksmtp delete` of a finished message removes its file.
#[test]
fn a_finished_messages_body_is_kept_with_its_record_and_pruned_with_it() {
    let mx = FakeMx::start(Options::new());
    let ini = with_status_page(&base_ini(
        "history_max_size = 6K",
        &route("a.test", &mx, ""),
    ));
    let server = Server::start("kept-bodies", &ini);
    let page = server.status_addr.unwrap();
    let reply = python(&format!(
        r#"
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "a@sender.test"
m["To"] = "bob@a.test"
m["Subject"] = "Kept figures"
m.set_content("Grüße aus Köln\nthe figures stay\n", charset="utf-8", cte="quoted-printable")
m.add_attachment(b"%PDF-1.4 figures", maintype="application", subtype="pdf",
                 filename="figures.pdf")
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.ehlo("python.test")
    print(s.send_message(m))
"#,
        port = server.addr.port()
    ));
    let delivered = mx.wait_deliveries(1, WAIT).remove(0);
    let id = wait_http(page, "/api/messages?q=kept+figures", &["\"delivered\""]);
    let id = id.split("\"id\":\"").nth(1).unwrap()[..16].to_string();
    let spool = server.spool();
    assert!(kept(&spool, &id), "{reply}: {}", spool.display());
    let shows_its_body = |page| {
        let (code, api) = http(page, "GET", &format!("/api/messages/{id}"), &[]);
        assert_eq!(code, 200, "{api}");
        for part in [
            "\"state\":\"delivered\"",
            "\"text\":\"Grüße aus Köln\\nthe figures stay\\n\"",
            "{\"name\":\"figures.pdf\",\"type\":\"application/pdf\",\"size\":16}",
        ] {
            assert!(api.contains(part), "{part} in {api}");
        }
        let (_, html) = http(page, "GET", &format!("/message/{id}"), &[]);
        assert!(
            html.contains("Grüße aus Köln") && html.contains(&format!("/message/{id}.eml")),
            "{html}"
        );
        let (code, eml) = http(page, "GET", &format!("/message/{id}.eml"), &[]);
        assert_eq!((code, eml.as_str()), (200, delivered.text().as_str()));
    };
    shows_its_body(page);
    // After a restart, the same.
    let (_, dir) = server.terminate();
    let server = Server::start_in(dir);
    let page = server.status_addr.unwrap();
    wait_http(page, "/api/messages?q=kept+figures", &[&id]);
    shows_its_body(page);
    // More mail past history_max_size: the oldest file and record go together.
    let body = format!("Subject: filler\r\n\r\n{}\r\n.\r\n", "x".repeat(1000));
    let mut newest = String::new();
    let mut fillers = Vec::new();
    for n in 0..8 {
        newest = submit(&server, "a@sender.test", &[&format!("r{n}@a.test")], &body);
        fillers.push(newest.clone());
        wait_http(
            page,
            &format!("/api/messages/{newest}"),
            &["\"state\":\"delivered\""],
        );
    }
    wait_for(WAIT, || {
        match http(page, "GET", &format!("/api/messages/{id}"), &[]) {
            (404, _) if !kept(&spool, &id) => Ok(()),
            (code, _) => Err(format!("{code}, bytes kept: {}", kept(&spool, &id))),
        }
    });
    let (code, api) = http(page, "GET", &format!("/api/messages/{newest}"), &[]);
    assert!(code == 200 && api.contains("\"text\":\"xxxx"), "{api}");
    // `qksmtp delete` of a finished message removes its file.
    assert!(kept(&spool, &newest));
    let (code, out, err) = run_cli(server.dir.path(), &["delete", &newest]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!kept(&spool, &newest));
    // With the server stopped too.
    let (_, dir) = server.terminate();
    let before = &fillers[fillers.len() - 2];
    assert!(kept(&spool, before));
    let (code, out, err) = run_cli(dir.path(), &["delete", before]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !kept(&spool, before) && out.contains("removed from the history"),
        "{out}"
    );
    let (code, _, err) = run_cli(dir.path(), &["delete", before]);
    assert_eq!(code, 1, "gone: {err}");
}

/// Whether a finished message's bytes are kept in `spool`'s history: in a segment's body file
/// (found by its ID, which its `Received:` header carries), or in its own file until copied
/// there.
fn kept(spool: &std::path::Path, id: &str) -> bool {
    let history = spool.join("history");
    if history.join(format!("{id}.msg")).is_file() {
        return true;
    }
    let needle = format!(" id {id}");
    std::fs::read_dir(&history).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.extension().is_some_and(|e| e == "bodies")
            && std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}
