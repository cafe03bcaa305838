//! The status page's bulk actions: a block of buttons that retry, hold, release or delete
//! every queued message the current search finds (every page of it), and the JSON answer of
//! `/api/bulk/VERB` they and `qksmtp VERB --all|--domain|...` use. Pure.

use super::html::escape;
use super::json::J;
use super::route::Search;
use crate::queue::select::{Taken, Verb};
use crate::time::Timestamp;

/// The buttons, below the search form: the script counts what they would take, asks, and
/// acts on the messages that had arrived when it counted.
pub fn block(search: &Search) -> String {
    let filtered = !search.text.is_empty() || search.state.is_some() || !search.dest.is_empty();
    let what = match filtered {
        true => "Every queued message this search finds (all pages):",
        false => "Every queued message:",
    };
    let mut h = format!("<p id=\"bulk\" class=\"muted\">{}", escape(what));
    for verb in Verb::ALL {
        let label = match verb {
            Verb::Retry => "Retry",
            Verb::Hold => "Hold",
            Verb::Release => "Release",
            Verb::Delete => "Delete",
        };
        h.push_str(&format!(
            " <button data-bulk=\"{}\">{label}</button>",
            verb.name()
        ));
    }
    h.push_str("</p>\n");
    h
}

/// `{"verb", "dry_run", "count", "ids": [first 1000], "arrived_by"}`: `arrived_by` is the
/// moment of the count, for the action that follows a confirmation to take no later mail.
pub fn answer(verb: Verb, dry_run: bool, taken: &Taken, now: Timestamp) -> J {
    let ids = taken.ids.iter().map(|id| id.as_str().into()).collect();
    let micros = now.as_micros();
    J::obj(vec![
        ("verb", verb.name().into()),
        ("dry_run", dry_run.into()),
        ("count", taken.count.into()),
        ("ids", J::Arr(ids)),
        (
            "arrived_by",
            format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000).into(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::snapshot::Shown;

    #[test]
    fn the_block_offers_each_verb_and_says_what_it_takes() {
        let all = block(&Search::default());
        for verb in Verb::ALL {
            assert!(
                all.contains(&format!("data-bulk=\"{}\"", verb.name())),
                "{all}"
            );
        }
        assert!(all.contains("Every queued message:"), "{all}");
        let deferred = Search {
            state: Some(Shown::Deferred),
            ..Search::default()
        };
        assert!(block(&deferred).contains("this search finds"));
        let answer = answer(Verb::Hold, true, &Taken::default(), Timestamp(1_500_000));
        assert_eq!(
            answer.to_string(),
            r#"{"verb":"hold","dry_run":true,"count":0,"ids":[],"arrived_by":"1.500000"}"#
        );
    }
}
