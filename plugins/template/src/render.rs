//! The Jinja environment the stage renders with (MiniJinja): block tags take their line
//! with them (`trim_blocks`, `lstrip_blocks`), the file's last line break is kept, nothing
//! is escaped, undefined values are errors unless `strict` is off, and every stage input
//! can be loaded by its name with `include`, `import`, `from` and `extends`. Errors become
//! one line naming the template, the line and the column, and the templates that led
//! there.
use std::error::Error as _;
use std::fs;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, Value};

/// A stage input other templates can load: its name and its path in the sandbox.
pub struct Loadable {
    pub name: String,
    pub path: String,
}

/// An environment holding the parsed main template.
pub struct Renderer {
    env: Environment<'static>,
    name: String,
    /// What a template can load, for the message when it names something else.
    loadable: String,
}

impl Renderer {
    /// Parses the main template `name` (whose text is `text`); other templates are loaded
    /// from `loadable` when the main one asks for them.
    pub fn new(
        name: &str,
        text: String,
        strict: bool,
        loadable: Vec<Loadable>,
    ) -> Result<Renderer, String> {
        let names: Vec<String> = loadable
            .iter()
            .map(|input| format!("`{}`", input.name))
            .collect();
        let mut env = environment(strict, loadable)?;
        env.add_template_owned(name.to_string(), text)
            .map_err(|error| describe(&error))?;
        Ok(Renderer {
            env,
            name: name.to_string(),
            loadable: if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
        })
    }

    pub fn render(&self, root: Value) -> Result<String, String> {
        self.env
            .get_template(&self.name)
            .and_then(|template| template.render(root))
            .map_err(|error| {
                let mut message = describe(&error);
                if innermost(&error).kind() == ErrorKind::TemplateNotFound {
                    message.push_str(&format!(
                        "; a template can include, import or extend these inputs: {}",
                        self.loadable
                    ));
                }
                message
            })
    }
}

fn environment(strict: bool, loadable: Vec<Loadable>) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|error| format!("cannot configure the template syntax: {error}"))?;
    env.set_syntax(syntax);
    env.set_debug(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(if strict {
        UndefinedBehavior::Strict
    } else {
        UndefinedBehavior::Chainable
    });
    env.set_loader(move |name| load(&loadable, name));
    Ok(env)
}

/// The text of the input called `name`, if it is one.
fn load(loadable: &[Loadable], name: &str) -> Result<Option<String>, Error> {
    let Some(input) = loadable.iter().find(|input| input.name == name) else {
        return Ok(None);
    };
    fs::read_to_string(&input.path).map(Some).map_err(|error| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("input `{name}` ({}): cannot read: {error}", input.path),
        )
    })
}

/// `template `T`: line L, column C: <kind>: <detail>`, for the innermost template error,
/// then ` (from template `U`: line M, ...)` for each template that included, imported or
/// extended it, innermost first.
fn describe(error: &Error) -> String {
    let chain = chain(error);
    let Some((cause, outer)) = chain.split_last() else {
        return error.to_string();
    };
    let mut message = format!("{}{}", place(cause), what(cause));
    if let Some(other) = cause.source() {
        message.push_str(&format!(": {other}"));
    }
    // The templates that led there, innermost first; a template that includes itself
    // is named once with the number of times.
    let mut from: Vec<(String, usize)> = Vec::new();
    for error in outer.iter().rev() {
        let place = place(error);
        let place = place.trim_end_matches(": ");
        match from.last_mut() {
            _ if place.is_empty() => {}
            Some((last, times)) if last == place => *times += 1,
            _ => from.push((place.to_string(), 1)),
        }
    }
    for (place, times) in from {
        if times == 1 {
            message.push_str(&format!(" (from {place})"));
        } else {
            message.push_str(&format!(" (from {place}, {times} times)"));
        }
    }
    message
}

/// The error and the template errors that caused it, outermost first.
fn chain(error: &Error) -> Vec<&Error> {
    let mut chain = vec![error];
    let mut current = error;
    while let Some(next) = current
        .source()
        .and_then(|source| source.downcast_ref::<Error>())
    {
        chain.push(next);
        current = next;
    }
    chain
}

fn innermost(error: &Error) -> &Error {
    chain(error).last().copied().unwrap_or(error)
}

/// `template `T`: line L, column C: `, as much of it as the error knows.
fn place(error: &Error) -> String {
    let Some(name) = error.name() else {
        return String::new();
    };
    let Some(line) = error.line() else {
        return format!("template `{name}`: ");
    };
    match column(error) {
        Some(column) => format!("template `{name}`: line {line}, column {column}: "),
        None => format!("template `{name}`: line {line}: "),
    }
}

/// The 1-based column (in characters) where the error's span starts.
fn column(error: &Error) -> Option<usize> {
    let source = error.template_source()?;
    let start = error.range()?.start;
    let before = source.get(..start)?;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    Some(before[line_start..].chars().count() + 1)
}

fn what(error: &Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, strict: bool) -> Result<String, String> {
        Renderer::new("main.tmpl", text.into(), strict, Vec::new())?.render(Value::from(()))
    }

    #[test]
    fn block_lines_vanish_and_the_last_line_break_stays() {
        assert_eq!(
            run(
                "a\n  {% if true %}\nb <{{ '<' }}>\n  {% endif %}\nc\n",
                true
            )
            .unwrap(),
            "a\nb <<>\nc\n"
        );
        assert_eq!(
            run(
                "{% if true %}x{% endif %}\ny{% if 1 %}z{% endif +%}\n",
                true
            )
            .unwrap(),
            "xyz\n"
        );
    }

    #[test]
    fn undefined_is_an_error_unless_not_strict() {
        assert_eq!(
            run("one\ntwo {{ nope }}\n", true).unwrap_err(),
            "template `main.tmpl`: line 2, column 8: undefined value: `nope` is undefined"
        );
        assert_eq!(run("one {{ nope.deeper }}.", false).unwrap(), "one .");
    }

    #[test]
    fn syntax_errors_and_missing_includes_are_named() {
        assert_eq!(
            run("a\n{% if %}", true).unwrap_err(),
            "template `main.tmpl`: line 2, column 7: syntax error: unexpected end of block"
        );
        let missing = run("{% include 'other.tmpl' %}", true).unwrap_err();
        assert!(
            missing.starts_with("template `main.tmpl`: line 1")
                && missing.contains("'other.tmpl'")
                && missing.ends_with("these inputs: none"),
            "{missing}"
        );
        assert_eq!(
            run("x{% include 'other.tmpl' ignore missing %}y", true).unwrap(),
            "xy"
        );
    }

    #[test]
    fn errors_in_loaded_templates_name_the_way_there() {
        let dir = std::env::temp_dir().join(format!("template-render-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            Loadable {
                name: format!("t/{name}"),
                path: path.to_string_lossy().into_owned(),
            }
        };
        let renderer = Renderer::new(
            "main.tmpl",
            "x\n{% include 't/inc.tmpl' %}".into(),
            true,
            vec![write("inc.tmpl", "a\n  {{ nmae }}\n")],
        )
        .unwrap();
        assert_eq!(
            renderer.render(Value::from(())).unwrap_err(),
            "template `t/inc.tmpl`: line 2, column 6: undefined value: `nmae` is undefined \
             (from template `main.tmpl`: line 2, column 4)"
        );
        let renderer = Renderer::new(
            "main.tmpl",
            "{% include 't/self.tmpl' %}".into(),
            true,
            vec![write("self.tmpl", "{% include 't/self.tmpl' %}")],
        )
        .unwrap();
        let message = renderer.render(Value::from(())).unwrap_err();
        assert!(
            message.starts_with(
                "template `t/self.tmpl`: line 1, column 4: invalid operation: recursion limit exceeded \
                 (from template `t/self.tmpl`: line 1, column 4, "
            ) && message.ends_with(" times) (from template `main.tmpl`: line 1, column 4)"),
            "{message}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
