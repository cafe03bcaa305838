//! The terminal or console window: its echo, turned off while a password is typed and back
//! on afterwards (the termios flags on Unix, the console mode on Windows, where there is no
//! `stty`), and on Windows a window of the program's own kept open after a fatal error.

/// Echo is off on standard input while this lives; `None` when standard input is not a
/// terminal or console whose echo can be changed.
pub struct EchoOff {
    #[cfg(unix)]
    saved: libc::termios,
    #[cfg(windows)]
    saved: u32,
}

#[cfg(unix)]
impl EchoOff {
    pub fn new() -> Option<EchoOff> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer; failure (not a terminal) is checked.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return None;
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: as above, with the terminal's own settings minus echo.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &quiet) } != 0 {
            return None;
        }
        Some(EchoOff { saved })
    }
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &self.saved) };
    }
}

#[cfg(windows)]
mod win {
    pub type Handle = *mut core::ffi::c_void;
    /// `STD_INPUT_HANDLE`: (DWORD)-10.
    pub const STD_INPUT_HANDLE: u32 = -10i32 as u32;
    pub const ENABLE_ECHO_INPUT: u32 = 0x0004;
    #[link(name = "kernel32")]
    unsafe extern "system" {
        pub fn GetStdHandle(which: u32) -> Handle;
        pub fn GetConsoleMode(console: Handle, mode: *mut u32) -> i32;
        pub fn SetConsoleMode(console: Handle, mode: u32) -> i32;
        pub fn GetConsoleProcessList(list: *mut u32, count: u32) -> u32;
    }
}

#[cfg(windows)]
impl EchoOff {
    pub fn new() -> Option<EchoOff> {
        // SAFETY: plain Win32 calls; a handle that is not a console makes GetConsoleMode fail.
        unsafe {
            let input = win::GetStdHandle(win::STD_INPUT_HANDLE);
            let mut saved = 0u32;
            if input.is_null() || win::GetConsoleMode(input, &mut saved) == 0 {
                return None;
            }
            if win::SetConsoleMode(input, saved & !win::ENABLE_ECHO_INPUT) == 0 {
                return None;
            }
            Some(EchoOff { saved })
        }
    }
}

#[cfg(windows)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the mode read in `new` on the same handle.
        unsafe {
            let input = win::GetStdHandle(win::STD_INPUT_HANDLE);
            win::SetConsoleMode(input, self.saved);
        }
    }
}

#[cfg(not(any(unix, windows)))]
impl EchoOff {
    pub fn new() -> Option<EchoOff> {
        None
    }
}

/// When the program is alone in its console window (Windows opened the window for it: a
/// double-click, not a command prompt), asks for Enter before it exits, so that the error just
/// printed can be read before the window closes. Elsewhere nothing.
pub fn hold_own_window() {
    if !alone_in_window() {
        return;
    }
    eprintln!("\nPress Enter to close this window.");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[cfg(windows)]
fn alone_in_window() -> bool {
    let mut list = [0u32; 2];
    // SAFETY: a buffer of two entries, its length given; 0 means no console at all.
    let count = unsafe { win::GetConsoleProcessList(list.as_mut_ptr(), list.len() as u32) };
    count == 1
}

#[cfg(not(windows))]
fn alone_in_window() -> bool {
    false
}
