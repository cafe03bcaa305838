//! The process's signals, turned into orders for the running server (`reload::Control`):
//! SIGTERM and SIGINT (Ctrl-C) stop it cleanly, and a second Ctrl-C while it stops ends it at
//! once (a second SIGTERM changes nothing: service managers may repeat it and expect the
//! clean stop); SIGHUP reloads qksmtp.ini. Windows has no SIGHUP (reload there is `qksmtp reload`
//! or the API): Ctrl-C and closing the console come through `ctrlc`.

use crate::reload::Control;
use crossbeam_channel::Sender;

/// The exit code of a stop cut short by a second Ctrl-C (128 + SIGINT, as shells report it).
pub const STOPPED_AT_ONCE: i32 = 130;

/// Ends the process now, on a second Ctrl-C. Nothing acknowledged is lost: a 250 went
/// out only after the message and its envelope were fsynced, and a message being received
/// without its 250 yet is one the client sends again.
fn stop_at_once() -> ! {
    eprintln!(
        "qksmtp: stopped at once (second Ctrl-C); every accepted message is in the spool and \
         goes on at the next start"
    );
    std::process::exit(STOPPED_AT_ONCE)
}

/// Watches the signals on a thread of its own and sends what they ask on `control`.
#[cfg(unix)]
pub fn install(control: Sender<Control>) -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
        .map_err(|e| format!("cannot watch the signals: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stopping = false;
            for signal in signals.forever() {
                match signal {
                    SIGHUP => {
                        log::info!("SIGHUP: reloading the settings");
                        let _ = control.send(Control::Reload(None));
                    }
                    SIGINT if stopping => stop_at_once(),
                    _ if stopping => log::info!("already stopping"),
                    _ => {
                        stopping = true;
                        let _ = control.send(Control::Stop);
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

/// Ctrl-C (and closing the console) stop; a second one ends at once.
#[cfg(windows)]
pub fn install(control: Sender<Control>) -> Result<(), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stopping = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if stopping.swap(true, Ordering::SeqCst) {
            stop_at_once();
        }
        let _ = control.send(Control::Stop);
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))
}
