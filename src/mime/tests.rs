//! Table tests of the MIME walk: each message is made by hand, as mail programs send them.

use super::*;

fn att(name: &str, content_type: &str, size: usize) -> Attachment {
    Attachment {
        name: name.into(),
        content_type: content_type.into(),
        size,
    }
}

#[test]
fn messages_are_read_into_text_html_and_attachments() {
    let mixed = "Subject: x\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
        preamble\r\n--outer\r\n\
        Content-Type: multipart/alternative;\r\n boundary=inner\r\n\r\n\
        --inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe =\r\naus K=F6ln\r\n\
        --inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        PHA+SGk8L3A+\r\n--inner--\r\n\
        --outer\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n\
        Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n\
        --outer\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n\
        --outer--\r\nepilogue\r\n";
    let cases: Vec<(&str, &str, Readable)> = vec![
        (
            "no MIME at all",
            "Subject: hi\r\n\r\nline one\r\nline two\r\n",
            Readable {
                text: Some("line one\nline two\n".into()),
                ..Readable::default()
            },
        ),
        (
            "no header, no body",
            "",
            Readable {
                text: Some(String::new()),
                ..Readable::default()
            },
        ),
        (
            "nested multiparts, QP latin-1, base64 HTML, RFC 2231 name, unnamed image",
            mixed,
            Readable {
                text: Some("Grüße aus Köln".into()),
                html: Some("<p>Hi</p>".into()),
                attachments: vec![
                    att("€ rates.pdf", "application/pdf", 6),
                    att("(no name)", "image/png", 3),
                ],
            },
        ),
        (
            "an HTML-only message in utf-8",
            "Content-Type: TEXT/HTML; charset=\"UTF-8\"\r\n\r\n<b>caf\u{e9}</b>\r\n",
            Readable {
                html: Some("<b>caf\u{e9}</b>\n".into()),
                ..Readable::default()
            },
        ),
        (
            "a text attachment stays an attachment; RFC 2047 name; unterminated multipart",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nbody\r\n--b\r\n\
             Content-Type: text/plain; name=\"=?utf-8?Q?notes_=C3=A9t=C3=A9.txt?=\"\r\n\r\nabc\r\n",
            Readable {
                text: Some("body".into()),
                html: None,
                attachments: vec![att("notes été.txt", "text/plain", 5)],
            },
        ),
        (
            "a forwarded message is listed, not opened; two inline texts joined",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\
             Content-Type: text/plain; charset=us-ascii\r\nContent-Disposition: inline\r\n\r\ntwo\r\n\
             --b\r\nContent-Type: message/rfc822\r\n\r\nSubject: old\r\n\r\nold body\r\n--b--\r\n",
            Readable {
                text: Some("one\ntwo".into()),
                html: None,
                attachments: vec![att("(no name)", "message/rfc822", 24)],
            },
        ),
        (
            "a multipart without a boundary is one attachment",
            "Content-Type: multipart/mixed\r\n\r\n--x\r\n",
            Readable {
                attachments: vec![att("(no name)", "multipart/mixed", 5)],
                ..Readable::default()
            },
        ),
    ];
    for (what, message, want) in cases {
        assert_eq!(read(message.as_bytes()), want, "{what}");
    }
}

#[test]
fn deep_nesting_stops() {
    let mut msg = String::new();
    for i in 0..40 {
        msg.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    msg.push_str("\r\ndeep\r\n");
    let r = read(msg.as_bytes());
    assert_eq!(r.text, None);
    assert_eq!(r.attachments.len(), 1);
    assert_eq!(r.attachments[0].content_type, "multipart/mixed");
}
