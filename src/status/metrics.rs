//! `/metrics` in the Prometheus text format (version 0.0.4). Pure.

use crate::queue::snapshot::{BUCKETS, Snapshot};
use crate::transcript::tls::TlsKind;
use std::fmt::Write as _;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Per throttled destination: since when (with the reply that throttled it as a label) and
/// when its next message may go, both in Unix seconds.
fn throttled(m: &mut String, s: &Snapshot) {
    m.push_str("# HELP qksmtp_destination_throttled_since_seconds When the destination began to throttle us (Unix time; the reason label is its reply).\n# TYPE qksmtp_destination_throttled_since_seconds gauge\n");
    let all = || {
        s.dests
            .iter()
            .filter_map(|d| Some((d, d.throttled.as_ref()?)))
    };
    for (d, t) in all() {
        let _ = writeln!(
            m,
            "qksmtp_destination_throttled_since_seconds{{destination=\"{}\",reason=\"{}\"}} {}",
            label(&d.name),
            label(&t.why),
            t.since.as_secs()
        );
    }
    m.push_str("# HELP qksmtp_destination_throttled_next_seconds When a throttled destination's next message may go (Unix time).\n# TYPE qksmtp_destination_throttled_next_seconds gauge\n");
    for (d, t) in all() {
        let _ = writeln!(
            m,
            "qksmtp_destination_throttled_next_seconds{{destination=\"{}\"}} {}",
            label(&d.name),
            t.next.as_secs()
        );
    }
}

pub fn render(s: &Snapshot) -> String {
    let mut m = String::new();
    let c = s.counters;
    for (name, help, v) in [
        ("received", "Messages accepted.", c.received),
        (
            "delivered",
            "Recipient attempts that delivered.",
            c.delivered,
        ),
        (
            "deferred",
            "Recipient attempts that failed for now (retried).",
            c.deferred,
        ),
        ("bounced", "Recipients that failed for good.", c.bounced),
    ] {
        let _ = writeln!(
            m,
            "# HELP qksmtp_{name}_total {help}\n# TYPE qksmtp_{name}_total counter\nqksmtp_{name}_total {v}"
        );
    }
    m.push_str("# HELP qksmtp_delivered_by_tls_total Recipient attempts that delivered, by how the connection travelled (what verified the certificate, or plain text).\n# TYPE qksmtp_delivered_by_tls_total counter\n");
    for kind in TlsKind::ALL {
        let _ = writeln!(
            m,
            "qksmtp_delivered_by_tls_total{{tls=\"{}\"}} {}",
            kind.label(),
            c.by_tls[kind as usize]
        );
    }
    let t = s.totals;
    let _ = writeln!(
        m,
        "# HELP qksmtp_queue_messages Messages in the queue.\n# TYPE qksmtp_queue_messages gauge\nqksmtp_queue_messages {}",
        t.messages
    );
    m.push_str("# HELP qksmtp_queue_recipients Recipients in the queue by state.\n# TYPE qksmtp_queue_recipients gauge\n");
    for (state, n) in [
        ("queued", t.queued),
        ("sending", t.sending),
        ("deferred", t.deferred),
        ("held", t.held),
    ] {
        let _ = writeln!(m, "qksmtp_queue_recipients{{state=\"{state}\"}} {n}");
    }
    m.push_str("# HELP qksmtp_destination_connections Delivery connections open per destination.\n# TYPE qksmtp_destination_connections gauge\n");
    for d in &s.dests {
        let _ = writeln!(
            m,
            "qksmtp_destination_connections{{destination=\"{}\"}} {}",
            label(&d.name),
            d.active
        );
    }
    throttled(&mut m, s);
    let _ = writeln!(
        m,
        "# HELP qksmtp_jobs_in_flight Delivery jobs running.\n# TYPE qksmtp_jobs_in_flight gauge\nqksmtp_jobs_in_flight {}",
        s.in_flight
    );
    let h = &s.durations;
    m.push_str("# HELP qksmtp_attempt_duration_seconds Duration of delivery attempts.\n# TYPE qksmtp_attempt_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (bound, n) in BUCKETS.iter().zip(h.buckets) {
        cumulative += n;
        let _ = writeln!(
            m,
            "qksmtp_attempt_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        m,
        "qksmtp_attempt_duration_seconds_bucket{{le=\"+Inf\"}} {}\nqksmtp_attempt_duration_seconds_sum {}\nqksmtp_attempt_duration_seconds_count {}",
        h.count, h.sum, h.count
    );
    let _ = writeln!(
        m,
        "# HELP qksmtp_start_time_seconds When the server started.\n# TYPE qksmtp_start_time_seconds gauge\nqksmtp_start_time_seconds {}",
        s.started.as_secs()
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::snapshot::DestView;

    #[test]
    fn counters_gauges_and_a_cumulative_histogram() {
        let mut s = Snapshot::default();
        s.counters.delivered = 3;
        s.counters.by_tls[TlsKind::MtaSts as usize] = 2;
        s.counters.by_tls[TlsKind::Plain as usize] = 1;
        s.totals.deferred = 2;
        s.durations.observe(0.01);
        s.durations.observe(0.3);
        s.durations.observe(99.0);
        s.dests.push(DestView {
            name: "a\"b.test".into(),
            active: 1,
            max_connections: 2,
            in_run: 1,
            max_continuous: 5,
            ready: 0,
            paused_until: None,
            throttled: Some(crate::queue::snapshot::ThrottleView {
                since: crate::time::Timestamp::from_secs(1_764_000_000),
                why: "421 4.7.28 \"slow\"".into(),
                next: crate::time::Timestamp::from_secs(1_764_000_300),
                delay: std::time::Duration::from_secs(300),
                connections: 1,
            }),
            paused_why: None,
            held: false,
            last_error: None,
            next_retry: None,
            chart: Vec::new(),
        });
        let text = render(&s);
        for line in [
            "qksmtp_delivered_total 3",
            "qksmtp_delivered_by_tls_total{tls=\"dane\"} 0",
            "qksmtp_delivered_by_tls_total{tls=\"mta-sts\"} 2",
            "qksmtp_delivered_by_tls_total{tls=\"verified\"} 0",
            "qksmtp_delivered_by_tls_total{tls=\"unverified\"} 0",
            "qksmtp_delivered_by_tls_total{tls=\"plain\"} 1",
            "qksmtp_queue_recipients{state=\"deferred\"} 2",
            "qksmtp_destination_connections{destination=\"a\\\"b.test\"} 1",
            "qksmtp_attempt_duration_seconds_bucket{le=\"0.05\"} 1",
            "qksmtp_attempt_duration_seconds_bucket{le=\"0.5\"} 2",
            "qksmtp_attempt_duration_seconds_bucket{le=\"30\"} 2",
            "qksmtp_attempt_duration_seconds_bucket{le=\"+Inf\"} 3",
            "qksmtp_attempt_duration_seconds_count 3",
            "qksmtp_destination_throttled_since_seconds{destination=\"a\\\"b.test\",reason=\"421 4.7.28 \\\"slow\\\"\"} 1764000000",
            "qksmtp_destination_throttled_next_seconds{destination=\"a\\\"b.test\"} 1764000300",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
