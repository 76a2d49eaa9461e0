//! The guest's own account of a trap. Guests print their error to stderr before they trap:
//! a Rust panic (`thread '…' panicked at FILE:LINE:COL:` then the message), an uncaught
//! Python exception from componentize-py (a `Traceback (most recent call last):` block
//! ending in `ValueError: …`), an uncaught JavaScript exception from componentize-js
//! (`Error: …`, possibly after `uncaught exception:`). This module finds that line so the
//! operator reads it first; it knows nothing of wasmtime.

/// The error a guest printed to `stderr` before it trapped, in one line, or `None` when
/// nothing there looks like a panic or an uncaught exception.
///
/// A Python traceback wins over a Rust panic (componentize-py's own runtime may panic after
/// printing the exception), and the last report wins over earlier ones.
pub fn extract(stderr: &str) -> Option<String> {
    python_exception(stderr)
        .or_else(|| js_exception(stderr))
        .or_else(|| rust_panic(stderr))
}

/// The exception line of the last Python traceback: the first line after
/// `Traceback (most recent call last):` that is not indented (the frames are).
fn python_exception(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .rposition(|line| line.trim_end() == "Traceback (most recent call last):")?;
    lines[start + 1..]
        .iter()
        .find(|line| !line.is_empty() && !line.starts_with([' ', '\t']))
        .map(|line| line.trim_end().to_string())
}

/// The message of the last Rust panic: the text after `panicked at FILE:LINE:COL:` up to the
/// `note:` line, then where it panicked.
fn rust_panic(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    // `thread '<unnamed>' panicked at …`, since Rust 1.88 with the thread id: `'…' (1) panicked`.
    let start = lines
        .iter()
        .rposition(|line| line.starts_with("thread '") && line.contains(" panicked at "))?;
    let header = lines[start];
    let location = header
        .split_once(" panicked at ")
        .map(|(_, rest)| rest.trim_end().trim_end_matches(':'))
        .unwrap_or_default();
    // Before Rust 1.73 the message sat on the header line itself: `panicked at 'msg', f:1:2`.
    let message: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|line| !line.starts_with("note: "))
        .map(|line| line.trim_end())
        .filter(|line| !line.is_empty())
        .collect();
    if message.is_empty() {
        return Some(format!("panicked at {location}"));
    }
    Some(format!("{} (panicked at {location})", message.join(" ")))
}

/// The last line that names a JavaScript error, e.g. `Error: boom`, `TypeError: x is
/// undefined`, `uncaught exception: RangeError: …`.
fn js_exception(stderr: &str) -> Option<String> {
    stderr.lines().rev().find_map(|line| {
        let line = line.trim();
        let bare = ["Uncaught ", "uncaught exception: ", "Error while running: "]
            .iter()
            .fold(line, |text, prefix| {
                text.strip_prefix(prefix).unwrap_or(text)
            });
        let name = bare.split_once(':').map_or(bare, |(name, _)| name);
        let is_error = name.ends_with("Error")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && name.starts_with(|c: char| c.is_ascii_uppercase());
        is_error.then(|| bare.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_panic_gives_its_message_then_where() {
        let stderr = "starting\nthread '<unnamed>' panicked at src/attacks.rs:48:20:\nhostile plugin panicked on purpose\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            extract(stderr).unwrap(),
            "hostile plugin panicked on purpose (panicked at src/attacks.rs:48:20)"
        );
    }

    #[test]
    fn a_panic_with_the_thread_id_is_read_too() {
        let stderr = "\nthread '<unnamed>' (1) panicked at test/hostile/src/attacks.rs:48:20:\nhostile plugin panicked on purpose\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        assert_eq!(
            extract(stderr).unwrap(),
            "hostile plugin panicked on purpose (panicked at test/hostile/src/attacks.rs:48:20)"
        );
    }

    #[test]
    fn a_python_traceback_gives_its_exception_line() {
        let stderr = "Traceback (most recent call last):\n  File \"/app.py\", line 9, in resolve\n    raise ValueError(\"bad id: 'x'\")\nValueError: bad id: 'x'\nthread '<unnamed>' panicked at src/lib.rs:1:1:\nPython exception\n";
        assert_eq!(extract(stderr).unwrap(), "ValueError: bad id: 'x'");
    }

    #[test]
    fn chained_python_exceptions_give_the_last() {
        let stderr = "Traceback (most recent call last):\n  File \"a\", line 1\nKeyError: 'k'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"a\", line 3\nRuntimeError: wrapped\n";
        assert_eq!(extract(stderr).unwrap(), "RuntimeError: wrapped");
    }

    #[test]
    fn a_javascript_error_gives_its_line() {
        let stderr = "log line\nuncaught exception: TypeError: x is undefined\nStack:\n  resolve@app.js:3:5\n";
        assert_eq!(extract(stderr).unwrap(), "TypeError: x is undefined");
        assert_eq!(
            extract("Error: boom\n  at resolve (app.js:1:1)").unwrap(),
            "Error: boom"
        );
    }

    #[test]
    fn ordinary_output_is_not_an_error() {
        assert_eq!(extract(""), None);
        assert_eq!(extract("fetched 3 records\nno Error here: fine\n"), None);
    }
}
