//! Where each CSV record starts, as a line number, and whether a quote is left open. The
//! `csv` crate counts `\n` only and puts a record's start at the line break before it, so
//! after CR or CRLF line ends its line numbers drift; and it ends a quoted field that is
//! never closed at the end of the input without a word. [`Lines`] watches the bytes on
//! their way to the CSV reader: it turns a record's byte offset into the line of its first
//! byte, with `\r`, `\n` and `\r\n` each ending one line, and follows the quoting (RFC
//! 4180 as the `csv` crate reads it: a quote opens a field only at its start, `""` inside
//! is a quote) to tell where a quote that is never closed opened.
use std::collections::VecDeque;
use std::io::{self, Read};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `input` without a leading UTF-8 byte-order mark.
pub fn without_bom(mut input: impl Read) -> io::Result<impl Read> {
    let mut start = Vec::with_capacity(BOM.len());
    input
        .by_ref()
        .take(BOM.len() as u64)
        .read_to_end(&mut start)?;
    if start == BOM {
        start.clear();
    }
    Ok(io::Cursor::new(start).chain(input))
}

/// Where the bytes seen so far leave the quoting.
#[derive(Clone, Copy)]
enum Quoting {
    FieldStart,
    Unquoted,
    /// Inside a quoted field opened at this offset.
    Quoted(u64),
    /// Just after a quote inside a quoted field: its end, or the first half of `""`.
    QuoteInQuoted(u64),
}

pub struct Lines<R> {
    inner: R,
    delimiter: u8,
    quoting: Quoting,
    /// Whether the input has ended.
    ended_input: bool,
    /// Bytes passed on so far.
    offset: u64,
    /// The line-break bytes passed on after the last record asked about: the offset, and
    /// whether the byte ends a line (a `\n` right after a `\r` does not).
    breaks: VecDeque<(u64, bool)>,
    /// Lines ended before the last record asked about.
    ended: u64,
    after_cr: bool,
}

impl<R> Lines<R> {
    pub fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            quoting: Quoting::FieldStart,
            ended_input: false,
            offset: 0,
            breaks: VecDeque::new(),
            ended: 0,
            after_cr: false,
        }
    }

    /// The 1-based line of the record the CSV reader places at byte `start`: line breaks
    /// at `start` (the end of the previous record, blank lines) come before the record.
    /// Records must be asked about in order.
    pub fn line_of(&mut self, start: u64) -> u64 {
        let mut leading = start;
        while let Some(&(at, ends_line)) = self.breaks.front() {
            if at == leading {
                leading += 1;
            } else if at > start {
                break;
            }
            self.breaks.pop_front();
            if ends_line {
                self.ended += 1;
            }
        }
        self.ended + 1
    }

    /// The 1-based line of byte `offset`, which is at or after the start of the last
    /// record asked about.
    pub fn line_at(&self, offset: u64) -> u64 {
        let breaks = self
            .breaks
            .iter()
            .take_while(|(at, _)| *at < offset)
            .filter(|(_, ends_line)| *ends_line)
            .count();
        self.ended + u64::try_from(breaks).unwrap_or(u64::MAX) + 1
    }

    /// Where the quote opened that is still open at the end of the input, once the input
    /// has ended.
    pub fn unclosed_quote(&self) -> Option<u64> {
        match self.quoting {
            Quoting::Quoted(opened) if self.ended_input => Some(opened),
            _ => None,
        }
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        if read == 0 && !buffer.is_empty() {
            self.ended_input = true;
        }
        for &byte in &buffer[..read] {
            let line_break = matches!(byte, b'\r' | b'\n');
            match byte {
                b'\r' => self.breaks.push_back((self.offset, true)),
                b'\n' => self.breaks.push_back((self.offset, !self.after_cr)),
                _ => {}
            }
            self.after_cr = byte == b'\r';
            let ends_field = line_break || byte == self.delimiter;
            self.quoting = match self.quoting {
                Quoting::FieldStart if byte == b'"' => Quoting::Quoted(self.offset),
                Quoting::Quoted(opened) if byte == b'"' => Quoting::QuoteInQuoted(opened),
                Quoting::Quoted(opened) => Quoting::Quoted(opened),
                Quoting::QuoteInQuoted(opened) if byte == b'"' => Quoting::Quoted(opened),
                _ if ends_field => Quoting::FieldStart,
                _ => Quoting::Unquoted,
            };
            self.offset += 1;
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's line, as the CSV reader finds them in `text`.
    fn lines(text: &str) -> Vec<(u64, Vec<String>)> {
        let source = Lines::new(without_bom(text.as_bytes()).unwrap(), b',');
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(4)
            .from_reader(source);
        let mut record = csv::StringRecord::new();
        let mut out = Vec::new();
        while reader.read_record(&mut record).unwrap() {
            let start = record.position().unwrap().byte();
            let line = reader.get_mut().line_of(start);
            out.push((line, record.iter().map(String::from).collect()));
        }
        out
    }

    fn row(line: u64, fields: &[&str]) -> (u64, Vec<String>) {
        (line, fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn every_line_end_counts_once() {
        for end in ["\n", "\r\n", "\r"] {
            let text = format!("a,b{end}1,2{end}{end}3,\"x{end}y\"{end}4,5{end}");
            assert_eq!(
                lines(&text),
                vec![
                    row(1, &["a", "b"]),
                    row(2, &["1", "2"]),
                    row(4, &["3", &format!("x{end}y")]),
                    row(6, &["4", "5"]),
                ],
                "{end:?}"
            );
        }
    }

    #[test]
    fn mixed_ends_blank_lines_and_a_byte_order_mark() {
        assert_eq!(
            lines("\u{feff}\"a\"\n\n\n1\r\r\n2"),
            vec![row(1, &["a"]), row(4, &["1"]), row(6, &["2"])]
        );
        assert_eq!(lines("x\u{feff}"), vec![row(1, &["x\u{feff}"])]);
        assert_eq!(lines(""), vec![]);
    }

    /// Where the quote left open at the end of `text` is, as its line.
    fn unclosed(text: &str) -> Option<u64> {
        let mut source = Lines::new(text.as_bytes(), b';');
        std::io::copy(&mut source, &mut std::io::sink()).unwrap();
        source.unclosed_quote().map(|opened| source.line_at(opened))
    }

    #[test]
    fn a_quote_left_open_is_found_where_it_opened() {
        assert_eq!(unclosed("a;b\n1;\"x\n\n2;3\n"), Some(2));
        assert_eq!(unclosed("a;\"b\"\"\n\"\n1;2"), None);
        assert_eq!(unclosed("a;x\"y\n\"z\"\"\"\n"), None);
        assert_eq!(unclosed("\"a\"b\"\n"), None);
        assert_eq!(unclosed("a,\"b\n"), None);
        assert_eq!(unclosed("a;\"\"\"\n"), Some(1));
    }
}
