//! The heap a queued message holds in the scheduler, counted (issue 20's goal: at most 300
//! bytes per queued recipient): a counting allocator around the system's, per thread, so
//! that the tests running beside this one are not counted.

use super::compact::NoSpool;
use super::tests::{env, sched, t};
use crate::queue::thread::HOT_ENVELOPES;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

/// What glibc's malloc takes for a request: 8 bytes of header, in steps of 16, at least 32.
fn chunk(size: usize) -> isize {
    ((size + 8).div_ceil(16) * 16).max(32) as isize
}

fn count(change: isize) {
    let _ = HELD.try_with(|h| h.set(h.get() + change));
}

fn held() -> isize {
    HELD.with(Cell::get)
}

// SAFETY: every call goes to the system allocator unchanged; only a thread-local counter
// (no allocation, no destructor) is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(chunk(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-chunk(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(chunk(new_size) - chunk(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// 50,000 one-recipient messages queued for one destination, added as the scheduler thread
/// adds them (cooling down between batches): the maps, timers, records and the hot
/// envelopes together stay under 300 bytes a message (it was about 1,900 with the whole
/// envelope kept).
#[test]
fn a_queued_message_holds_at_most_300_bytes() {
    const N: isize = 50_000;
    let mut s = sched("", 20).with_envelopes(Box::new(NoSpool), HOT_ENVELOPES);
    let before = held();
    for n in 0..N as u32 {
        s.add(env(n, &[&format!("r{n}@dead.test")]), t(0));
        if n % 1000 == 999 {
            s.cool_down();
        }
    }
    s.cool_down();
    let per_message = (held() - before) / N;
    println!("{per_message} bytes of heap per queued message");
    assert!(per_message <= 300, "{per_message} bytes per queued message");
    assert_eq!(s.message_count(), N as usize);
}

/// The status page's search index (`queue/index.rs`) of 50,000 one-recipient messages with
/// their subjects, counted like the queue above: what the page costs a queued message
/// besides the queue's own records. 153 bytes with the ID in the text besides `slots`, 148
/// without (counted by capacity: the text's `Vec` doubles, so a saving shows only in the
/// bytes used, about 17 a message, or at another count), 110 with the sender kept once in a
/// table and no map from ID to slot.
#[test]
fn the_search_index_of_a_queued_message_is_compact() {
    const N: isize = 50_000;
    let mut index = crate::queue::index::Index::default();
    let before = held();
    for n in 0..N as u32 {
        index.add(&env(n, &[&format!("r{n}@dead.test")]));
        if n % 1000 == 999 {
            let ids = index.take_unsubjected();
            let subjects = ids
                .into_iter()
                .map(|id| (id, format!("Newsletter {n} of this week")));
            index.subjects(subjects.collect());
        }
    }
    let per_message = (held() - before) / N;
    println!("{per_message} bytes of heap per indexed message");
    assert!(
        per_message <= 115,
        "{per_message} bytes per indexed message"
    );
}
