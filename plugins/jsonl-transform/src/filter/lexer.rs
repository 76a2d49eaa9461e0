//! Splits a filter into tokens. Positions are character offsets into the filter text, so
//! errors can point at the offending spot. Parts of jq this subset does not have (`$vars`,
//! `@formats`, assignments, string interpolation) are refused here with a message that
//! says so, rather than as a puzzling "unexpected character".
use std::fmt;

use super::SyntaxError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Dot,
    DotDot,
    /// `.name`
    Field(String),
    /// A name: a function, a keyword, or an object key.
    Ident(String),
    Number(f64),
    Str(String),
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Pipe,
    Comma,
    Colon,
    Semicolon,
    Question,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    /// `//`
    Alternative,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Token::Field(name) => return write!(f, "`.{name}`"),
            Token::Ident(name) => return write!(f, "`{name}`"),
            Token::Number(number) => return write!(f, "`{number}`"),
            Token::Str(text) => return write!(f, "`{}`", serde_json::Value::from(text.as_str())),
            Token::End => return f.write_str("the end of the filter"),
            Token::Dot => ".",
            Token::DotDot => "..",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::Pipe => "|",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::Semicolon => ";",
            Token::Question => "?",
            Token::Eq => "==",
            Token::Ne => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Alternative => "//",
        };
        write!(f, "`{text}`")
    }
}

/// A token and the character offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub at: usize,
}

/// The tokens of `text`, ended by [`Token::End`].
pub fn tokenize(text: &str) -> Result<Vec<Spanned>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer {
        chars: &chars,
        next: 0,
    };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.token()? {
        tokens.push(token);
    }
    tokens.push(Spanned {
        token: Token::End,
        at: chars.len(),
    });
    Ok(tokens)
}

struct Lexer<'c> {
    chars: &'c [char],
    next: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.next + ahead).copied()
    }

    fn error(at: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            at,
            message: message.into(),
        }
    }

    /// The next token, or `None` at the end.
    fn token(&mut self) -> Result<Option<Spanned>, SyntaxError> {
        self.skip_space_and_comments();
        let at = self.next;
        let Some(c) = self.peek(0) else {
            return Ok(None);
        };
        let second = self.peek(1);
        let (token, width) = match (c, second) {
            ('.', Some('.')) => (Token::DotDot, 2),
            ('.', Some(next)) if is_name_start(next) => {
                self.next += 1;
                return Ok(Some(Spanned {
                    token: Token::Field(self.name()),
                    at,
                }));
            }
            ('.', Some(next)) if next.is_ascii_digit() => (self.number()?, 0),
            ('.', _) => (Token::Dot, 1),
            ('"', _) => (Token::Str(self.string()?), 0),
            (c, _) if c.is_ascii_digit() => (self.number()?, 0),
            (c, _) if is_name_start(c) => (Token::Ident(self.name()), 0),
            ('[', _) => (Token::LBracket, 1),
            (']', _) => (Token::RBracket, 1),
            ('{', _) => (Token::LBrace, 1),
            ('}', _) => (Token::RBrace, 1),
            ('(', _) => (Token::LParen, 1),
            (')', _) => (Token::RParen, 1),
            (',', _) => (Token::Comma, 1),
            (':', _) => (Token::Colon, 1),
            (';', _) => (Token::Semicolon, 1),
            ('=', Some('=')) => (Token::Eq, 2),
            ('!', Some('=')) => (Token::Ne, 2),
            ('<', Some('=')) => (Token::Le, 2),
            ('<', _) => (Token::Lt, 1),
            ('>', Some('=')) => (Token::Ge, 2),
            ('>', _) => (Token::Gt, 1),
            ('/', Some('/')) if self.peek(2) == Some('=') => {
                return Err(Self::error(at, "the assignment `//=` is not supported"))
            }
            ('/', Some('/')) => (Token::Alternative, 2),
            ('|' | '+' | '-' | '*' | '/' | '%', Some('=')) => {
                return Err(Self::error(
                    at,
                    format!("the assignment `{c}=` is not supported"),
                ))
            }
            ('|', _) => (Token::Pipe, 1),
            ('+', _) => (Token::Plus, 1),
            ('-', _) => (Token::Minus, 1),
            ('*', _) => (Token::Star, 1),
            ('/', _) => (Token::Slash, 1),
            ('%', _) => (Token::Percent, 1),
            ('?', Some('/')) if self.peek(2) == Some('/') => {
                return Err(Self::error(at, "the operator `?//` is not supported"))
            }
            ('?', _) => (Token::Question, 1),
            ('=', _) => {
                return Err(Self::error(
                    at,
                    "the assignment `=` is not supported (compare with `==`)",
                ))
            }
            ('!', _) => return Err(Self::error(at, "unexpected `!` (negate with `not`)")),
            ('$', _) => return Err(Self::error(at, "variables (`$name`) are not supported")),
            ('@', _) => return Err(Self::error(at, "formats (`@name`) are not supported")),
            (other, _) => return Err(Self::error(at, format!("unexpected character `{other}`"))),
        };
        self.next += width;
        Ok(Some(Spanned { token, at }))
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == '#' {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.next += 1;
                }
            } else if c.is_whitespace() {
                self.next += 1;
            } else {
                break;
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.next;
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.next += 1;
        }
        self.chars[start..self.next].iter().collect()
    }

    /// `12`, `1.5`, `.5`, `2e-3`.
    fn number(&mut self) -> Result<Token, SyntaxError> {
        let start = self.next;
        let digits = |lexer: &mut Self| {
            while lexer.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                lexer.next += 1;
            }
        };
        digits(self);
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.next += 1;
            digits(self);
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek(1), Some('+' | '-')));
            if self.peek(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                self.next += 1 + sign;
                digits(self);
            }
        }
        let text: String = self.chars[start..self.next].iter().collect();
        text.parse()
            .map(Token::Number)
            .map_err(|_| Self::error(start, format!("invalid number `{text}`")))
    }

    /// A string literal with JSON's escapes; the opening quote is next.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.next;
        self.next += 1;
        let mut text = String::new();
        loop {
            let at = self.next;
            let Some(c) = self.peek(0) else {
                return Err(Self::error(start, "unterminated string"));
            };
            self.next += 1;
            match c {
                '"' => return Ok(text),
                '\\' => {
                    let Some(escaped) = self.peek(0) else {
                        return Err(Self::error(start, "unterminated string"));
                    };
                    self.next += 1;
                    text.push(match escaped {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => self.unicode_escape(at)?,
                        '(' => {
                            return Err(Self::error(
                                at,
                                "string interpolation `\\(...)` is not supported",
                            ))
                        }
                        other => {
                            return Err(Self::error(at, format!("unknown escape `\\{other}`")))
                        }
                    });
                }
                c => text.push(c),
            }
        }
    }

    /// `\uXXXX` (the `\u` is consumed), with a surrogate pair as two escapes.
    fn unicode_escape(&mut self, at: usize) -> Result<char, SyntaxError> {
        let invalid = || Self::error(at, "invalid `\\u` escape");
        let high = self.hex4().ok_or_else(invalid)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.peek(0) != Some('\\') || self.peek(1) != Some('u') {
                return Err(invalid());
            }
            self.next += 2;
            let low = self.hex4().ok_or_else(invalid)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(invalid());
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(invalid)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.chars.get(self.next..self.next + 4)?;
        let mut code = 0;
        for digit in digits {
            code = code * 16 + digit.to_digit(16)?;
        }
        self.next += 4;
        Some(code)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|spanned| spanned.token)
            .collect()
    }

    fn error(text: &str) -> (usize, String) {
        let error = tokenize(text).unwrap_err();
        (error.at, error.message)
    }

    #[test]
    fn fields_operators_and_literals() {
        assert_eq!(
            tokens(".a.b_2 | .[] // ..  # comment\n!= 1.5e2"),
            vec![
                Token::Field("a".into()),
                Token::Field("b_2".into()),
                Token::Pipe,
                Token::Dot,
                Token::LBracket,
                Token::RBracket,
                Token::Alternative,
                Token::DotDot,
                Token::Ne,
                Token::Number(150.0),
                Token::End,
            ]
        );
        assert_eq!(
            tokens(r#"."k y" "\u00e9\ud83d\ude00\n" .5"#),
            vec![
                Token::Dot,
                Token::Str("k y".into()),
                Token::Str("é😀\n".into()),
                Token::Number(0.5),
                Token::End,
            ]
        );
    }

    #[test]
    fn unsupported_syntax_is_named() {
        assert_eq!(
            error(".a = 1"),
            (
                3,
                "the assignment `=` is not supported (compare with `==`)".into()
            )
        );
        assert_eq!(
            error(". | $x"),
            (4, "variables (`$name`) are not supported".into())
        );
        assert_eq!(
            error(r#""a\(.b)""#),
            (2, "string interpolation `\\(...)` is not supported".into())
        );
        assert_eq!(error(r#" "open"#), (1, "unterminated string".into()));
        assert_eq!(
            error(".a |= 2"),
            (3, "the assignment `|=` is not supported".into())
        );
    }
}
