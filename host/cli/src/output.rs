//! How commands print: tables and markers for humans, one JSON document for scripts.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Whether `-q` asked for quiet output: no progress and no per-item status lines, only
/// results and errors. Set once, by `main`, before any command runs.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records `-q` (see [`quiet`]).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `-q` was given: progress and per-item status lines are left out.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

pub const OK: &str = "✓";
pub const FAIL: &str = "✗";
pub const INFO: &str = "ⓘ";

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("{FAIL} cannot render JSON: {e}"),
    }
}

/// `text` with every control character (C0, DEL, C1, and the bidirectional overrides that
/// can reorder what a terminal shows) written as a `\u{..}` escape, so an id, a payload or a
/// plugin's message can neither move the cursor nor hide text; line breaks are kept only when
/// `lines` is true.
pub fn safe(text: &str, lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c == '\n' && lines) || !(c.is_control() || bidi) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    out
}

/// The widest cell a table shows, in characters; longer ones end in `…` (JSON output keeps
/// every value whole).
const MAX_CELL_CHARS: usize = 200;

/// A cell as a table shows it: [`safe`], on one line (line breaks shown as ` ⏎ `), at
/// most [`MAX_CELL_CHARS`] wide.
fn cell(text: &str) -> String {
    let one_line = text.trim_end().replace("\r\n", "\n").replace('\n', " ⏎ ");
    let text = safe(&one_line, false);
    if text.chars().count() <= MAX_CELL_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Prints rows as an aligned table with a header; cells are made [`safe`] (one line each)
/// and cut to [`MAX_CELL_CHARS`].
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row);
    }
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(safe("a\x1b[2Jb", false), "a\\u{1b}[2Jb");
        assert_eq!(safe("x\ny", false), "x\\u{a}y");
        assert_eq!(safe("x\ny", true), "x\ny");
        assert_eq!(safe("evil\u{202e}txt.exe", false), "evil\\u{202e}txt.exe");
        assert_eq!(safe("é ✓ 10.1/x", false), "é ✓ 10.1/x");
    }
}
