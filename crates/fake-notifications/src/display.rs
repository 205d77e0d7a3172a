//! A virtual X display for tests and benchmarks of the desktop app: Xvfb
//! with `-displayfd`, so it picks a free display number itself. Killed on
//! drop. No window manager runs there, so [`Display::close_windows`] asks
//! windows to close as one would (`WM_DELETE_WINDOW`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Display {
    child: Child,
    /// `:N`, for `DISPLAY`.
    pub name: String,
}

impl Display {
    pub fn start() -> Display {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (package xvfb) must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("Xvfb prints its display number");
        Display {
            child,
            name: format!(":{}", line.trim()),
        }
    }
}

impl Display {
    /// Asks every top-level window titled `title` to close, as a window
    /// manager's close button does: a `WM_PROTOCOLS` / `WM_DELETE_WINDOW`
    /// client message. Returns how many were asked (0 when libX11 or the
    /// display cannot be opened).
    pub fn close_windows(&self, title: &str) -> usize {
        use std::ffi::{CStr, CString};
        use std::os::raw::{c_char, c_long};
        use x11_dl::xlib;
        let Ok(x) = xlib::Xlib::open() else {
            return 0;
        };
        let Ok(name) = CString::new(self.name.clone()) else {
            return 0;
        };
        // SAFETY: plain Xlib calls on a display this function opens and
        // closes; every pointer Xlib returns is checked and freed with XFree.
        unsafe {
            let dpy = (x.XOpenDisplay)(name.as_ptr());
            if dpy.is_null() {
                return 0;
            }
            // A window may go away while the tree is walked (one asked to
            // close a moment ago): Xlib's default handler would exit.
            let previous = (x.XSetErrorHandler)(Some(ignore_x_error));
            let protocols = (x.XInternAtom)(dpy, c"WM_PROTOCOLS".as_ptr(), 0);
            let delete = (x.XInternAtom)(dpy, c"WM_DELETE_WINDOW".as_ptr(), 0);
            let mut stack = vec![(x.XDefaultRootWindow)(dpy)];
            let mut asked = 0;
            while let Some(window) = stack.pop() {
                let (mut root, mut parent) = (0, 0);
                let mut children: *mut xlib::Window = std::ptr::null_mut();
                let mut count = 0u32;
                if (x.XQueryTree)(
                    dpy,
                    window,
                    &mut root,
                    &mut parent,
                    &mut children,
                    &mut count,
                ) != 0
                    && !children.is_null()
                {
                    stack.extend_from_slice(std::slice::from_raw_parts(children, count as usize));
                    (x.XFree)(children.cast());
                }
                let mut text: *mut c_char = std::ptr::null_mut();
                if (x.XFetchName)(dpy, window, &mut text) == 0 || text.is_null() {
                    continue;
                }
                let matches = CStr::from_ptr(text).to_string_lossy() == title;
                (x.XFree)(text.cast());
                if !matches {
                    continue;
                }
                let mut event: xlib::XEvent = std::mem::zeroed();
                event.client_message.type_ = xlib::ClientMessage;
                event.client_message.window = window;
                event.client_message.message_type = protocols;
                event.client_message.format = 32;
                event.client_message.data.set_long(0, delete as c_long);
                event
                    .client_message
                    .data
                    .set_long(1, xlib::CurrentTime as c_long);
                (x.XSendEvent)(dpy, window, 0, xlib::NoEventMask, &mut event);
                asked += 1;
            }
            (x.XSync)(dpy, 0);
            (x.XCloseDisplay)(dpy);
            (x.XSetErrorHandler)(previous);
            asked
        }
    }
}

/// An Xlib error handler that ignores the error (a window gone meanwhile).
unsafe extern "C" fn ignore_x_error(
    _: *mut x11_dl::xlib::Display,
    _: *mut x11_dl::xlib::XErrorEvent,
) -> std::os::raw::c_int {
    0
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
