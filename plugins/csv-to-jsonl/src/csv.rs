//! A streaming RFC 4180 record reader: fields split by a one-byte delimiter, records ended
//! by LF or CRLF, fields optionally enclosed in double quotes (which may then contain
//! delimiters, line breaks and `""` for a quote). Blank lines are skipped. Errors carry the
//! physical line the record starts on.
use std::fmt;
use std::io::{self, BufRead};

pub struct Reader<R> {
    input: R,
    delimiter: u8,
    /// The record being parsed (one or more physical lines).
    buffer: Vec<u8>,
    /// Physical lines consumed so far.
    line: u64,
}

#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    Malformed { line: u64, problem: &'static str },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "read failed: {error}"),
            Error::Malformed { line, problem } => write!(f, "line {line}: {problem}"),
        }
    }
}

enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// Just after a quote inside a quoted field: the end of the field, or `""`.
    QuoteInQuoted,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R, delimiter: u8) -> Self {
        Self {
            input,
            delimiter,
            buffer: Vec::new(),
            line: 0,
        }
    }

    /// Reads the next record into `fields` (cleared first); returns the line it starts on,
    /// or `None` at the end of the input.
    pub fn next_record(&mut self, fields: &mut Vec<String>) -> Result<Option<u64>, Error> {
        fields.clear();
        let start = loop {
            self.buffer.clear();
            if !self.read_line()? {
                return Ok(None);
            }
            if !matches!(self.buffer.as_slice(), b"\n" | b"\r\n") {
                break self.line;
            }
        };
        let malformed = |problem| Error::Malformed {
            line: start,
            problem,
        };
        let mut field: Vec<u8> = Vec::new();
        let mut state = State::FieldStart;
        let mut index = 0;
        loop {
            let Some(&byte) = self.buffer.get(index) else {
                // End of the buffer without a line break: either a quoted field goes on
                // on the next line, or the input ended.
                if matches!(state, State::Quoted) {
                    if !self.read_line()? {
                        return Err(malformed("unterminated quoted field"));
                    }
                    continue;
                }
                fields.push(String::from_utf8(field).map_err(|_| malformed("not valid UTF-8"))?);
                return Ok(Some(start));
            };
            let line_end =
                byte == b'\n' || (byte == b'\r' && self.buffer.get(index + 1) == Some(&b'\n'));
            index += 1;
            state = match state {
                State::Quoted if byte == b'"' => State::QuoteInQuoted,
                State::Quoted => {
                    field.push(byte);
                    State::Quoted
                }
                State::QuoteInQuoted if byte == b'"' => {
                    field.push(b'"');
                    State::Quoted
                }
                State::FieldStart if byte == b'"' => State::Quoted,
                State::Unquoted if byte == b'"' => {
                    return Err(malformed("quote inside an unquoted field"))
                }
                _ if byte == self.delimiter || line_end => {
                    let text = String::from_utf8(std::mem::take(&mut field))
                        .map_err(|_| malformed("not valid UTF-8"))?;
                    fields.push(text);
                    if line_end {
                        return Ok(Some(start));
                    }
                    State::FieldStart
                }
                State::QuoteInQuoted => {
                    return Err(malformed("text after the closing quote of a field"))
                }
                State::FieldStart | State::Unquoted => {
                    field.push(byte);
                    State::Unquoted
                }
            };
        }
    }

    /// Appends one physical line (with its line break) to the buffer; false at the end.
    fn read_line(&mut self) -> Result<bool, Error> {
        let read = self
            .input
            .read_until(b'\n', &mut self.buffer)
            .map_err(Error::Io)?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str, delimiter: u8) -> Result<Vec<(u64, Vec<String>)>, String> {
        let mut reader = Reader::new(input.as_bytes(), delimiter);
        let mut out = Vec::new();
        let mut fields = Vec::new();
        while let Some(line) = reader.next_record(&mut fields).map_err(|e| e.to_string())? {
            out.push((line, fields.clone()));
        }
        Ok(out)
    }

    fn row(line: u64, fields: &[&str]) -> (u64, Vec<String>) {
        (line, fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn plain_quoted_and_multiline_fields() {
        let input = "a,b,c\r\n1,\"x, \"\"y\"\"\",\r\n\n\"multi\nline\",2,\"\"\nlast,,end";
        assert_eq!(
            records(input, b',').unwrap(),
            vec![
                row(1, &["a", "b", "c"]),
                row(2, &["1", "x, \"y\"", ""]),
                row(4, &["multi\nline", "2", ""]),
                row(6, &["last", "", "end"]),
            ]
        );
    }

    #[test]
    fn other_delimiter_and_trailing_newline() {
        assert_eq!(
            records("a;b\n1;2\n", b';').unwrap(),
            vec![row(1, &["a", "b"]), row(2, &["1", "2"])]
        );
        assert_eq!(records("", b',').unwrap(), vec![]);
    }

    #[test]
    fn malformed_records_name_their_line() {
        assert_eq!(
            records("a,b\n1,\"open\n2,3\n", b',').unwrap_err(),
            "line 2: unterminated quoted field"
        );
        assert_eq!(
            records("a,b\n\n1,x\"y\n", b',').unwrap_err(),
            "line 3: quote inside an unquoted field"
        );
        assert_eq!(
            records("a,b\n\"x\"y,1\n", b',').unwrap_err(),
            "line 2: text after the closing quote of a field"
        );
    }
}
