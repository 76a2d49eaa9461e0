//! Parses a template into a tree of text, values and blocks. Tags are `{{ expr }}`,
//! `{{#each expr}}`, `{{#if expr}}`, `{{#unless expr}}`, `{{else}}`, `{{/each}}` (and
//! `/if`, `/unless`) and `{{! comment }}`. As in mustache, a block tag or a comment alone
//! on its line (only blanks around it) takes the whole line with it, so blocks can sit on
//! lines of their own without leaving blank lines behind. Errors carry the 1-based line
//! and column (in characters) of the offending tag.
use crate::expr::{self, Expr};

/// How deeply blocks may nest, which bounds the renderer's recursion.
const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Value {
        expr: Expr,
        at: Position,
    },
    Each {
        expr: Expr,
        at: Position,
        body: Vec<Node>,
        /// Rendered when there is nothing to iterate.
        otherwise: Vec<Node>,
    },
    /// `#if`, or `#unless` when `negated`.
    If {
        expr: Expr,
        at: Position,
        negated: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub at: Position,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Each,
    If,
    Unless,
}

impl Block {
    fn name(self) -> &'static str {
        match self {
            Block::Each => "each",
            Block::If => "if",
            Block::Unless => "unless",
        }
    }
}

#[derive(Debug)]
enum Tag {
    Value(Expr),
    Open(Block, Expr),
    Else,
    Close(Block),
    Comment,
}

impl Tag {
    /// Tags that take their whole line when they stand alone on it.
    fn standalone_kind(&self) -> bool {
        !matches!(self, Tag::Value(_))
    }
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Tag(Tag, Position),
}

/// Parses a whole template.
pub fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut pieces = pieces(text)?;
    remove_standalone_lines(&mut pieces);
    build(pieces)
}

/// Maps byte offsets to lines and columns.
struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self { text, starts }
    }

    fn position(&self, offset: usize) -> Position {
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        Position {
            line,
            column: 1 + self.text[start..offset].chars().count(),
        }
    }
}

fn pieces(text: &str) -> Result<Vec<Piece>, SyntaxError> {
    let lines = Lines::new(text);
    let mut pieces = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("{{") {
        let open = rest + found;
        if open > rest {
            pieces.push(Piece::Text(text[rest..open].to_string()));
        }
        let at = lines.position(open);
        let error = |message: String| SyntaxError { at, message };
        if text[open..].starts_with("{{{") {
            return Err(error(
                "`{{{` is not supported: values are always written as they are, never escaped"
                    .into(),
            ));
        }
        let inner_start = open + 2;
        let close = closing_braces(text, inner_start)
            .ok_or_else(|| error("`{{` is not closed by `}}`".into()))?;
        let tag = tag(&text[inner_start..close]).map_err(error)?;
        pieces.push(Piece::Tag(tag, at));
        rest = close + 2;
    }
    if rest < text.len() {
        pieces.push(Piece::Text(text[rest..].to_string()));
    }
    Ok(pieces)
}

/// The offset of the `}}` that closes a tag whose content starts at `from`; a `}}` inside
/// a quoted string (e.g. in `default:"}}"`) does not count, except in comments.
fn closing_braces(text: &str, from: usize) -> Option<usize> {
    let inner = &text[from..];
    if inner.trim_start().starts_with('!') {
        return inner.find("}}").map(|at| from + at);
    }
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in inner.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if inner[at..].starts_with("}}") {
            return Some(from + at);
        }
    }
    None
}

fn tag(inner: &str) -> Result<Tag, String> {
    let content = inner.trim();
    if content.starts_with('!') {
        return Ok(Tag::Comment);
    }
    if let Some(rest) = content.strip_prefix('#') {
        let (keyword, expression) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let block = block(keyword)
            .ok_or_else(|| format!("unknown block `#{keyword}` (use #each, #if or #unless)"))?;
        if expression.trim().is_empty() {
            return Err(format!("`{{{{#{keyword}}}}}` needs a path"));
        }
        return Ok(Tag::Open(block, expr::parse(expression)?));
    }
    if let Some(rest) = content.strip_prefix('/') {
        let keyword = rest.trim();
        return block(keyword)
            .map(Tag::Close)
            .ok_or_else(|| format!("unknown block end `/{keyword}`"));
    }
    if content == "else" {
        return Ok(Tag::Else);
    }
    match content.chars().next() {
        None => Err("empty tag `{{ }}`".into()),
        Some('>') => Err("partials `{{> name}}` are not supported".into()),
        Some('^') => Err("inverted sections `{{^ }}` are not supported; use `{{#unless}}`".into()),
        Some('&' | '=') => Err(format!("`{{{{{content}}}}}` is not supported")),
        Some(_) => expr::parse(content).map(Tag::Value),
    }
}

fn block(keyword: &str) -> Option<Block> {
    match keyword {
        "each" => Some(Block::Each),
        "if" => Some(Block::If),
        "unless" => Some(Block::Unless),
        _ => None,
    }
}

/// Drops the lines that hold nothing but one block tag or comment: the blanks before the
/// tag and everything after it up to and including the line break.
fn remove_standalone_lines(pieces: &mut [Piece]) {
    let last = pieces.len().saturating_sub(1);
    let standalone: Vec<bool> = (0..pieces.len())
        .map(|at| {
            let Piece::Tag(tag, _) = &pieces[at] else {
                return false;
            };
            let before = at == 0
                || matches!(&pieces[at - 1], Piece::Text(text) if blank_line_end(text, at - 1 == 0));
            let after = at == last
                || matches!(&pieces[at + 1], Piece::Text(text) if blank_line_start(text, at + 1 == last));
            tag.standalone_kind() && before && after
        })
        .collect();
    // Decide first, then cut, so one line's cut does not hide the next line's break.
    let mut cut_end = vec![false; pieces.len()];
    let mut cut_start = vec![false; pieces.len()];
    for (at, &alone) in standalone.iter().enumerate() {
        if alone {
            if at > 0 {
                cut_end[at - 1] = true;
            }
            if at < last {
                cut_start[at + 1] = true;
            }
        }
    }
    for (at, piece) in pieces.iter_mut().enumerate() {
        if let Piece::Text(text) = piece {
            let start = if cut_start[at] {
                text.find('\n').map_or(text.len(), |newline| newline + 1)
            } else {
                0
            };
            let end = if cut_end[at] {
                text.rfind('\n').map_or(0, |newline| newline + 1)
            } else {
                text.len()
            };
            *text = if start < end {
                text[start..end].to_string()
            } else {
                String::new()
            };
        }
    }
}

/// Whether the last line of `text` is blank up to a tag; without a line break that holds
/// only for the template's first piece.
fn blank_line_end(text: &str, first: bool) -> bool {
    match text.rfind('\n') {
        Some(newline) => is_blank(&text[newline + 1..]),
        None => first && is_blank(text),
    }
}

/// Whether `text` is blank up to its first line break; without a line break that holds
/// only for the template's last piece.
fn blank_line_start(text: &str, last: bool) -> bool {
    match text.find('\n') {
        Some(newline) => is_blank(text[..newline].trim_end_matches('\r')),
        None => last && is_blank(text),
    }
}

fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c == ' ' || c == '\t')
}

/// An open block while its body is being collected.
struct Open {
    block: Block,
    expr: Expr,
    at: Position,
    body: Vec<Node>,
    otherwise: Option<Vec<Node>>,
}

impl Open {
    fn nodes(&mut self) -> &mut Vec<Node> {
        self.otherwise.as_mut().unwrap_or(&mut self.body)
    }

    fn into_node(self) -> Node {
        let otherwise = self.otherwise.unwrap_or_default();
        match self.block {
            Block::Each => Node::Each {
                expr: self.expr,
                at: self.at,
                body: self.body,
                otherwise,
            },
            Block::If | Block::Unless => Node::If {
                expr: self.expr,
                at: self.at,
                negated: self.block == Block::Unless,
                then: self.body,
                otherwise,
            },
        }
    }
}

fn build(pieces: Vec<Piece>) -> Result<Vec<Node>, SyntaxError> {
    let mut root = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    for piece in pieces {
        let (tag, at) = match piece {
            Piece::Text(text) => {
                if !text.is_empty() {
                    current(&mut root, &mut stack).push(Node::Text(text));
                }
                continue;
            }
            Piece::Tag(tag, at) => (tag, at),
        };
        let error = |message: String| SyntaxError { at, message };
        let in_each = stack
            .iter()
            .any(|open| open.block == Block::Each && open.otherwise.is_none());
        match tag {
            Tag::Comment => {}
            Tag::Value(expr) => {
                check_special(&expr, in_each).map_err(error)?;
                current(&mut root, &mut stack).push(Node::Value { expr, at });
            }
            Tag::Open(block, expr) => {
                check_special(&expr, in_each).map_err(error)?;
                if stack.len() == MAX_NESTING {
                    return Err(error(format!(
                        "blocks nest more than {MAX_NESTING} levels deep"
                    )));
                }
                stack.push(Open {
                    block,
                    expr,
                    at,
                    body: Vec::new(),
                    otherwise: None,
                });
            }
            Tag::Else => {
                let open = stack.last_mut().ok_or_else(|| {
                    error("`{{else}}` outside `{{#if}}`, `{{#unless}}` or `{{#each}}`".into())
                })?;
                if open.otherwise.is_some() {
                    return Err(error(format!(
                        "a second `{{{{else}}}}` in `{{{{#{}}}}}` opened at line {}, column {}",
                        open.block.name(),
                        open.at.line,
                        open.at.column
                    )));
                }
                open.otherwise = Some(Vec::new());
            }
            Tag::Close(block) => {
                let open = stack
                    .pop()
                    .ok_or_else(|| error(format!("`{{{{/{}}}}}` closes nothing", block.name())))?;
                if open.block != block {
                    return Err(error(format!(
                        "`{{{{/{}}}}}` does not close `{{{{#{}}}}}` opened at line {}, column {}",
                        block.name(),
                        open.block.name(),
                        open.at.line,
                        open.at.column
                    )));
                }
                let node = open.into_node();
                current(&mut root, &mut stack).push(node);
            }
        }
    }
    match stack.pop() {
        Some(open) => Err(SyntaxError {
            at: open.at,
            message: format!("`{{{{#{}}}}}` is not closed", open.block.name()),
        }),
        None => Ok(root),
    }
}

fn current<'n>(root: &'n mut Vec<Node>, stack: &'n mut [Open]) -> &'n mut Vec<Node> {
    match stack.last_mut() {
        Some(open) => open.nodes(),
        None => root,
    }
}

fn check_special(expr: &Expr, in_each: bool) -> Result<(), String> {
    if expr.uses_special() && !in_each {
        return Err(format!(
            "`{}` is only defined inside `{{{{#each}}}}`",
            expr.text
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(template: &str) -> (usize, usize, String) {
        let error = parse(template).unwrap_err();
        (error.at.line, error.at.column, error.message)
    }

    fn texts(nodes: &[Node]) -> Vec<String> {
        nodes
            .iter()
            .map(|node| match node {
                Node::Text(text) => text.clone(),
                Node::Value { expr, .. } => format!("<{}>", expr.text),
                Node::Each { body, .. } => format!("each[{}]", texts(body).join("")),
                Node::If {
                    then, otherwise, ..
                } => {
                    format!("if[{}|{}]", texts(then).join(""), texts(otherwise).join(""))
                }
            })
            .collect()
    }

    #[test]
    fn standalone_block_lines_disappear() {
        let nodes = parse("# Title\n{{#each items}}\n  - {{name}}\n  {{/each}}\n{{! note }}\nend {{#if x}}y{{/if}}\n").unwrap();
        assert_eq!(
            texts(&nodes),
            vec!["# Title\n", "each[  - <name>\n]", "end ", "if[y|]", "\n"]
        );
        let nodes = parse("{{#if a}}\n{{#each b}}\nx\n{{/each}}\n{{else}}\nnone\n{{/if}}").unwrap();
        assert_eq!(texts(&nodes), vec!["if[each[x\n]|none\n]"]);
    }

    #[test]
    fn values_inline_keep_their_lines() {
        let nodes = parse("a {{ x | upper }} b\n{{y}}\n").unwrap();
        assert_eq!(texts(&nodes), vec!["a ", "<x>", " b\n", "<y>", "\n"]);
    }

    #[test]
    fn errors_have_line_and_column() {
        assert_eq!(
            error("ok\n  {{#each xs}}\n{{/if}}"),
            (
                3,
                1,
                "`{{/if}}` does not close `{{#each}}` opened at line 2, column 3".into()
            )
        );
        assert_eq!(
            error("é {{#if x}}"),
            (1, 3, "`{{#if}}` is not closed".into())
        );
        assert_eq!(
            error("a\nb {{ x "),
            (2, 3, "`{{` is not closed by `}}`".into())
        );
        assert_eq!(
            error("{{/each}}"),
            (1, 1, "`{{/each}}` closes nothing".into())
        );
        assert_eq!(
            error("{{#with x}}{{/with}}"),
            (
                1,
                1,
                "unknown block `#with` (use #each, #if or #unless)".into()
            )
        );
        assert_eq!(
            error("{{@index}}"),
            (1, 1, "`@index` is only defined inside `{{#each}}`".into())
        );
        assert_eq!(
            error("{{#if a}}{{else}}{{else}}{{/if}}"),
            (
                1,
                18,
                "a second `{{else}}` in `{{#if}}` opened at line 1, column 1".into()
            )
        );
        assert_eq!(
            error("{{else}}"),
            (
                1,
                1,
                "`{{else}}` outside `{{#if}}`, `{{#unless}}` or `{{#each}}`".into()
            )
        );
        assert_eq!(
            error("{{#each}}{{/each}}"),
            (1, 1, "`{{#each}}` needs a path".into())
        );
        assert_eq!(
            error("x {{{ raw }}}"),
            (
                1,
                3,
                "`{{{` is not supported: values are always written as they are, never escaped"
                    .into()
            )
        );
        assert_eq!(
            error("{{ a | nope }}"),
            (
                1,
                1,
                "unknown filter `nope` (known: length, upper, lower, json, default)".into()
            )
        );
    }

    #[test]
    fn quoted_braces_stay_inside_the_tag() {
        let nodes = parse(r#"{{ x | default:"}}" }}!"#).unwrap();
        assert_eq!(texts(&nodes), vec!["<x>", "!"]);
        assert_eq!(texts(&parse("{{! a \" quote }}z").unwrap()), vec!["z"]);
    }
}
