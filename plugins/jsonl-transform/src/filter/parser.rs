//! Parses tokens into the filter's syntax tree by recursive descent. Operators, loosest
//! first: `|` (right-associative), `,`, `//` (right-associative), `or`, `and`, the
//! comparisons (which do not chain), `+ -`, `* / %`, unary `-`, and the postfix forms
//! `.name`, `."key"`, `[i]`, `[]` and `?`. Function names resolve to builtins here, so an
//! unknown function is a parse error that points at its name.
use serde_json::Value;

use super::builtins::Builtin;
use super::lexer::{Spanned, Token};
use super::value::number;
use super::SyntaxError;

/// How deeply brackets, parentheses, `if`s and calls may nest, which keeps the parser's
/// recursion well inside a WebAssembly stack.
const MAX_NESTING: usize = 64;
/// How deep the tree may be, which bounds the evaluator's recursion (and dropping the
/// tree's): long operator chains are parsed in loops, but they still make deep trees, so
/// every loop and nesting level checks the tree it has built so far.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Identity,
    /// `base.name`: `null` on `null` or a missing key.
    Field(Box<Ast>, String),
    /// `base[index]`; the index is evaluated against the term's input, not `base`.
    Index(Box<Ast>, Box<Ast>),
    /// `base[]`
    Iterate(Box<Ast>),
    /// `body?`: errors end the body's outputs silently.
    Try(Box<Ast>),
    Literal(Value),
    /// `[body]`, or `[]` without one.
    Array(Option<Box<Ast>>),
    Object(Vec<(Key, Ast)>),
    Negate(Box<Ast>),
    Pipe(Box<Ast>, Box<Ast>),
    /// `a, b, c`: kept flat, so long lists (`[1, 2, ..., 500]`) make no deep trees.
    Comma(Vec<Ast>),
    Binary(BinaryOp, Box<Ast>, Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Alternative(Box<Ast>, Box<Ast>),
    /// `if c then t (elif c then t)* (else e)? end`; without `else`, the input passes.
    If(Vec<(Ast, Ast)>, Option<Box<Ast>>),
    Call(Builtin, Vec<Ast>),
}

/// The key of one entry of an object construction.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Literal(String),
    Computed(Ast),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Parses a whole filter.
pub fn parse(tokens: &[Spanned]) -> Result<Ast, SyntaxError> {
    let mut parser = Parser {
        tokens,
        next: 0,
        nesting: 0,
    };
    let ast = parser.pipe(true)?;
    if parser.peek() != &Token::End {
        return Err(parser.unexpected());
    }
    Ok(ast)
}

struct Parser<'t> {
    /// Never empty: the last token is [`Token::End`].
    tokens: &'t [Spanned],
    next: usize,
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next].token
    }

    fn peek_second(&self) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.next + 1).min(last)].token
    }

    fn at(&self) -> usize {
        self.tokens[self.next].at
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].token.clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.peek() == token;
        if found {
            self.advance();
        }
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Token::Ident(name) if name == keyword);
        if found {
            self.advance();
        }
        found
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            at: self.at(),
            message: message.into(),
        }
    }

    fn unexpected(&self) -> SyntaxError {
        self.error(format!("unexpected {}", self.peek()))
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), SyntaxError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.peek())))
        }
    }

    fn expect_keyword(&mut self, keyword: &str, what: &str) -> Result<(), SyntaxError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.peek())))
        }
    }

    /// Runs `parse` one nesting level deeper.
    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<Ast, SyntaxError>,
    ) -> Result<Ast, SyntaxError> {
        if self.nesting == MAX_NESTING {
            return Err(self.error(format!(
                "the filter nests more than {MAX_NESTING} levels deep"
            )));
        }
        self.nesting += 1;
        let result = parse(self);
        self.nesting -= 1;
        self.bounded(result?)
    }

    /// `ast`, unless it is deeper than [`MAX_DEPTH`].
    fn bounded(&self, ast: Ast) -> Result<Ast, SyntaxError> {
        if too_deep(&ast, MAX_DEPTH) {
            return Err(self.error(format!(
                "the filter nests more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(ast)
    }

    /// `[a, b, c]` into `join(a, join(b, c))`, checking the depth as it grows.
    fn fold_right(
        &self,
        mut parts: Vec<Ast>,
        join: fn(Box<Ast>, Box<Ast>) -> Ast,
    ) -> Result<Ast, SyntaxError> {
        let mut right = parts.pop().expect("at least one part");
        while let Some(left) = parts.pop() {
            right = self.bounded(join(Box::new(left), Box::new(right)))?;
        }
        Ok(right)
    }

    /// `a | b | c`; without `commas`, a top-level `,` ends it (object values).
    fn pipe(&mut self, commas: bool) -> Result<Ast, SyntaxError> {
        let mut parts = Vec::new();
        loop {
            parts.push(if commas {
                self.comma()?
            } else {
                self.alternative()?
            });
            if !self.eat(&Token::Pipe) {
                return self.fold_right(parts, Ast::Pipe);
            }
        }
    }

    fn comma(&mut self) -> Result<Ast, SyntaxError> {
        let mut parts = vec![self.alternative()?];
        while self.eat(&Token::Comma) {
            parts.push(self.alternative()?);
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        self.bounded(Ast::Comma(parts))
    }

    fn alternative(&mut self) -> Result<Ast, SyntaxError> {
        let mut parts = vec![self.or()?];
        while self.eat(&Token::Alternative) {
            parts.push(self.or()?);
        }
        self.fold_right(parts, Ast::Alternative)
    }

    fn or(&mut self) -> Result<Ast, SyntaxError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            let right = self.and()?;
            left = self.bounded(Ast::Or(Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Ast, SyntaxError> {
        let mut left = self.comparison()?;
        while self.eat_keyword("and") {
            let right = self.comparison()?;
            left = self.bounded(Ast::And(Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Ast, SyntaxError> {
        let left = self.additive()?;
        let Some(op) = comparison_op(self.peek()) else {
            return Ok(left);
        };
        self.advance();
        let right = self.additive()?;
        if comparison_op(self.peek()).is_some() {
            return Err(self.error("comparisons do not chain; use parentheses"));
        }
        Ok(Ast::Binary(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self) -> Result<Ast, SyntaxError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Token::Plus => BinaryOp::Add,
                Token::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.multiplicative()?;
            left = self.bounded(Ast::Binary(op, Box::new(left), Box::new(right)))?;
        }
    }

    fn multiplicative(&mut self) -> Result<Ast, SyntaxError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Token::Star => BinaryOp::Mul,
                Token::Slash => BinaryOp::Div,
                Token::Percent => BinaryOp::Rem,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.unary()?;
            left = self.bounded(Ast::Binary(op, Box::new(left), Box::new(right)))?;
        }
    }

    fn unary(&mut self) -> Result<Ast, SyntaxError> {
        if self.eat(&Token::Minus) {
            let operand = self.nested(Self::unary)?;
            return Ok(Ast::Negate(Box::new(operand)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Ast, SyntaxError> {
        let mut term = self.primary()?;
        loop {
            term = match self.peek().clone() {
                Token::Field(name) => {
                    self.advance();
                    Ast::Field(Box::new(term), name)
                }
                Token::Dot => match self.peek_second().clone() {
                    Token::Str(key) => {
                        self.advance();
                        self.advance();
                        Ast::Field(Box::new(term), key)
                    }
                    // `.a.[0]`: the bracket is handled on the next turn.
                    Token::LBracket => {
                        self.advance();
                        continue;
                    }
                    _ => return Err(self.error("expected a name, a string or `[` after `.`")),
                },
                Token::LBracket => {
                    self.advance();
                    if self.eat(&Token::RBracket) {
                        Ast::Iterate(Box::new(term))
                    } else {
                        let index = self.nested(|parser| parser.pipe(true))?;
                        self.expect(&Token::RBracket, "`]`")?;
                        Ast::Index(Box::new(term), Box::new(index))
                    }
                }
                Token::Question => {
                    self.advance();
                    Ast::Try(Box::new(term))
                }
                _ => return Ok(term),
            };
            term = self.bounded(term)?;
        }
    }

    fn primary(&mut self) -> Result<Ast, SyntaxError> {
        let at = self.at();
        match self.peek().clone() {
            Token::Dot => {
                self.advance();
                if let Token::Str(key) = self.peek().clone() {
                    self.advance();
                    return Ok(Ast::Field(Box::new(Ast::Identity), key));
                }
                Ok(Ast::Identity)
            }
            Token::Field(name) => {
                self.advance();
                Ok(Ast::Field(Box::new(Ast::Identity), name))
            }
            Token::Number(value) => {
                self.advance();
                Ok(Ast::Literal(number(value)))
            }
            Token::Str(text) => {
                self.advance();
                Ok(Ast::Literal(Value::String(text)))
            }
            Token::LParen => {
                self.advance();
                let inner = self.nested(|parser| parser.pipe(true))?;
                self.expect(&Token::RParen, "`)`")?;
                Ok(inner)
            }
            Token::LBracket => {
                self.advance();
                if self.eat(&Token::RBracket) {
                    return Ok(Ast::Array(None));
                }
                let body = self.nested(|parser| parser.pipe(true))?;
                self.expect(&Token::RBracket, "`]`")?;
                Ok(Ast::Array(Some(Box::new(body))))
            }
            Token::LBrace => {
                self.advance();
                self.nested(Self::object)
            }
            Token::Ident(name) => {
                self.advance();
                match name.as_str() {
                    "true" => Ok(Ast::Literal(Value::Bool(true))),
                    "false" => Ok(Ast::Literal(Value::Bool(false))),
                    "null" => Ok(Ast::Literal(Value::Null)),
                    "if" => self.nested(Self::conditional),
                    "then" | "elif" | "else" | "end" | "and" | "or" => Err(SyntaxError {
                        at,
                        message: format!("unexpected `{name}`"),
                    }),
                    "def" | "reduce" | "foreach" | "try" | "catch" | "label" | "import"
                    | "include" | "as" => Err(SyntaxError {
                        at,
                        message: format!("`{name}` is not supported"),
                    }),
                    _ => self.call(name, at),
                }
            }
            Token::DotDot => Err(self.error("recursive descent `..` is not supported")),
            Token::End => Err(self.error("unexpected end of the filter")),
            _ => Err(self.unexpected()),
        }
    }

    /// `{a, b: f, "c": f, (f): f}`; the `{` is consumed.
    fn object(&mut self) -> Result<Ast, SyntaxError> {
        let mut entries = Vec::new();
        if self.eat(&Token::RBrace) {
            return Ok(Ast::Object(entries));
        }
        loop {
            let (key, shorthand) = match self.peek().clone() {
                Token::Ident(name) | Token::Str(name) => {
                    self.advance();
                    (Key::Literal(name.clone()), Some(name))
                }
                Token::LParen => {
                    self.advance();
                    let key = self.nested(|parser| parser.pipe(true))?;
                    self.expect(&Token::RParen, "`)`")?;
                    (Key::Computed(key), None)
                }
                _ => {
                    return Err(self.error(format!(
                        "expected an object key (a name, a string or `(expression)`), found {}",
                        self.peek()
                    )))
                }
            };
            let value = if self.eat(&Token::Colon) {
                self.nested(|parser| parser.pipe(false))?
            } else if let Some(name) = shorthand {
                Ast::Field(Box::new(Ast::Identity), name)
            } else {
                return Err(self.error(format!(
                    "expected `:` after a computed key, found {}",
                    self.peek()
                )));
            };
            entries.push((key, value));
            if !self.eat(&Token::Comma) {
                self.expect(&Token::RBrace, "`,` or `}`")?;
                return Ok(Ast::Object(entries));
            }
        }
    }

    /// `if` is consumed.
    fn conditional(&mut self) -> Result<Ast, SyntaxError> {
        let mut branches = Vec::new();
        loop {
            let condition = self.pipe(true)?;
            self.expect_keyword("then", "`then`")?;
            let then = self.pipe(true)?;
            branches.push((condition, then));
            if self.eat_keyword("elif") {
                continue;
            }
            let otherwise = if self.eat_keyword("else") {
                Some(Box::new(self.pipe(true)?))
            } else {
                None
            };
            self.expect_keyword("end", "`elif`, `else` or `end`")?;
            return Ok(Ast::If(branches, otherwise));
        }
    }

    /// A builtin, with `(arg; arg)` if given; the name is consumed.
    fn call(&mut self, name: String, at: usize) -> Result<Ast, SyntaxError> {
        let mut args = Vec::new();
        if self.eat(&Token::LParen) {
            loop {
                args.push(self.nested(|parser| parser.pipe(true))?);
                if !self.eat(&Token::Semicolon) {
                    self.expect(&Token::RParen, "`;` or `)`")?;
                    break;
                }
            }
        }
        let builtin = Builtin::lookup(&name, args.len()).ok_or_else(|| SyntaxError {
            at,
            message: format!("unknown function `{name}/{}`", args.len()),
        })?;
        Ok(Ast::Call(builtin, args))
    }
}

fn comparison_op(token: &Token) -> Option<BinaryOp> {
    Some(match token {
        Token::Eq => BinaryOp::Eq,
        Token::Ne => BinaryOp::Ne,
        Token::Lt => BinaryOp::Lt,
        Token::Le => BinaryOp::Le,
        Token::Gt => BinaryOp::Gt,
        Token::Ge => BinaryOp::Ge,
        _ => return None,
    })
}

/// Whether the tree is deeper than `budget`, looking no deeper than that.
fn too_deep(ast: &Ast, budget: usize) -> bool {
    if budget == 0 {
        return true;
    }
    let deeper = |child: &Ast| too_deep(child, budget - 1);
    match ast {
        Ast::Identity | Ast::Literal(_) | Ast::Array(None) => false,
        Ast::Field(inner, _)
        | Ast::Iterate(inner)
        | Ast::Try(inner)
        | Ast::Array(Some(inner))
        | Ast::Negate(inner) => deeper(inner),
        Ast::Index(a, b)
        | Ast::Pipe(a, b)
        | Ast::Binary(_, a, b)
        | Ast::And(a, b)
        | Ast::Or(a, b)
        | Ast::Alternative(a, b) => deeper(a) || deeper(b),
        Ast::Object(entries) => entries
            .iter()
            .any(|(key, value)| matches!(key, Key::Computed(key) if deeper(key)) || deeper(value)),
        Ast::If(branches, otherwise) => {
            branches.iter().any(|(c, t)| deeper(c) || deeper(t))
                || otherwise.as_deref().is_some_and(deeper)
        }
        Ast::Call(_, args) | Ast::Comma(args) => args.iter().any(deeper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::lexer::tokenize;

    fn ast(text: &str) -> Ast {
        parse(&tokenize(text).unwrap()).unwrap()
    }

    fn error(text: &str) -> (usize, String) {
        let error = parse(&tokenize(text).unwrap()).unwrap_err();
        (error.at, error.message)
    }

    fn field(base: Ast, name: &str) -> Ast {
        Ast::Field(Box::new(base), name.into())
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(
            ast(".a | .b, .c // 1"),
            Ast::Pipe(
                Box::new(field(Ast::Identity, "a")),
                Box::new(Ast::Comma(vec![
                    field(Ast::Identity, "b"),
                    Ast::Alternative(
                        Box::new(field(Ast::Identity, "c")),
                        Box::new(Ast::Literal(1.into()))
                    )
                ]))
            )
        );
        assert_eq!(
            ast("1 + 2 * -3"),
            Ast::Binary(
                BinaryOp::Add,
                Box::new(Ast::Literal(1.into())),
                Box::new(Ast::Binary(
                    BinaryOp::Mul,
                    Box::new(Ast::Literal(2.into())),
                    Box::new(Ast::Negate(Box::new(Ast::Literal(3.into()))))
                ))
            )
        );
    }

    #[test]
    fn postfix_forms() {
        assert_eq!(
            ast(r#".a."b c"[0][]?"#),
            Ast::Try(Box::new(Ast::Iterate(Box::new(Ast::Index(
                Box::new(field(field(Ast::Identity, "a"), "b c")),
                Box::new(Ast::Literal(0.into()))
            )))))
        );
        assert_eq!(ast(".a.[1]"), ast(".a[1]"));
        assert_eq!(ast(".[\"x\"]"), ast(". [\"x\"]"));
    }

    #[test]
    fn objects_take_shorthands_and_pipes_but_not_commas() {
        assert_eq!(
            ast(r#"{a, "b": .x | .y, (.k): 1}"#),
            Ast::Object(vec![
                (Key::Literal("a".into()), field(Ast::Identity, "a")),
                (
                    Key::Literal("b".into()),
                    Ast::Pipe(
                        Box::new(field(Ast::Identity, "x")),
                        Box::new(field(Ast::Identity, "y"))
                    )
                ),
                (
                    Key::Computed(field(Ast::Identity, "k")),
                    Ast::Literal(1.into())
                ),
            ])
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(error(".a | foo(1)"), (5, "unknown function `foo/1`".into()));
        assert_eq!(
            error("if . then 1"),
            (
                11,
                "expected `elif`, `else` or `end`, found the end of the filter".into()
            )
        );
        assert_eq!(
            error("[1, 2"),
            (5, "expected `]`, found the end of the filter".into())
        );
        assert_eq!(
            error("1 < 2 < 3"),
            (6, "comparisons do not chain; use parentheses".into())
        );
        assert_eq!(error(".a )"), (3, "unexpected `)`".into()));
        assert_eq!(error("reduce .[]"), (0, "`reduce` is not supported".into()));
        assert_eq!(
            error("{(.a)}"),
            (5, "expected `:` after a computed key, found `}`".into())
        );
        assert_eq!(
            error(&"(".repeat(100)),
            (65, "the filter nests more than 64 levels deep".into())
        );
        let error = error(&vec!["1"; 100_000].join(" + "));
        assert_eq!(
            (error.0, error.1.as_str()),
            (1026, "the filter nests more than 256 levels deep")
        );
        let long_list = format!("[{}]", vec!["1"; 5000].join(", "));
        assert!(parse(&tokenize(&long_list).unwrap()).is_ok());
    }
}
