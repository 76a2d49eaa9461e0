//! Runs a syntax tree on one input, appending every output to a list. Evaluation is eager,
//! but keeps jq's order of outputs: for `a op b` the right side varies slowest, and an
//! object construction with several outputs per entry yields their cartesian product.
//! `body?` keeps the outputs the body produced before an error and drops the error.
use serde_json::{Map, Value};

use super::builtins;
use super::parser::{Ast, Key};
use super::value::{self, truthy};
use super::Error;

/// Every output of `ast` on `input`, in order.
pub fn eval_all(ast: &Ast, input: &Value) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    eval(ast, input, &mut out)?;
    Ok(out)
}

/// Appends the outputs of `ast` on `input` to `out`.
pub fn eval(ast: &Ast, input: &Value, out: &mut Vec<Value>) -> Result<(), Error> {
    match ast {
        Ast::Identity => out.push(input.clone()),
        Ast::Literal(value) => out.push(value.clone()),
        Ast::Field(base, name) => {
            let key = Value::String(name.clone());
            for base in eval_all(base, input)? {
                out.push(value::index(&base, &key)?);
            }
        }
        Ast::Index(base, index) => {
            for key in eval_all(index, input)? {
                for base in eval_all(base, input)? {
                    out.push(value::index(&base, &key)?);
                }
            }
        }
        Ast::Iterate(base) => {
            for base in eval_all(base, input)? {
                out.extend(value::iterate(&base)?);
            }
        }
        Ast::Try(body) => {
            let mut outputs = Vec::new();
            // An error ends the body; what it produced before stays.
            let _ = eval(body, input, &mut outputs);
            out.extend(outputs);
        }
        Ast::Array(body) => {
            let items = match body {
                Some(body) => eval_all(body, input)?,
                None => Vec::new(),
            };
            out.push(Value::Array(items));
        }
        Ast::Object(entries) => object(entries, input, out)?,
        Ast::Negate(operand) => {
            for operand in eval_all(operand, input)? {
                out.push(value::negate(&operand)?);
            }
        }
        Ast::Pipe(left, right) => {
            for value in eval_all(left, input)? {
                eval(right, &value, out)?;
            }
        }
        Ast::Comma(parts) => {
            for part in parts {
                eval(part, input, out)?;
            }
        }
        Ast::Binary(op, left, right) => {
            let lefts = eval_all(left, input)?;
            for right in eval_all(right, input)? {
                for left in &lefts {
                    out.push(value::binary(*op, left, &right)?);
                }
            }
        }
        Ast::And(left, right) => {
            for left in eval_all(left, input)? {
                if !truthy(&left) {
                    out.push(Value::Bool(false));
                    continue;
                }
                for right in eval_all(right, input)? {
                    out.push(Value::Bool(truthy(&right)));
                }
            }
        }
        Ast::Or(left, right) => {
            for left in eval_all(left, input)? {
                if truthy(&left) {
                    out.push(Value::Bool(true));
                    continue;
                }
                for right in eval_all(right, input)? {
                    out.push(Value::Bool(truthy(&right)));
                }
            }
        }
        Ast::Alternative(left, right) => {
            // Errors on the left count as no output, as in jq.
            let mut lefts = Vec::new();
            let _ = eval(left, input, &mut lefts);
            let before = out.len();
            out.extend(lefts.into_iter().filter(truthy));
            if out.len() == before {
                eval(right, input, out)?;
            }
        }
        Ast::If(branches, otherwise) => conditional(branches, otherwise.as_deref(), input, out)?,
        Ast::Call(builtin, args) => builtins::call(*builtin, args, input, out)?,
    }
    Ok(())
}

fn conditional(
    branches: &[(Ast, Ast)],
    otherwise: Option<&Ast>,
    input: &Value,
    out: &mut Vec<Value>,
) -> Result<(), Error> {
    let Some(((condition, then), rest)) = branches.split_first() else {
        match otherwise {
            Some(otherwise) => eval(otherwise, input, out)?,
            None => out.push(input.clone()),
        }
        return Ok(());
    };
    for decision in eval_all(condition, input)? {
        if truthy(&decision) {
            eval(then, input, out)?;
        } else {
            conditional(rest, otherwise, input, out)?;
        }
    }
    Ok(())
}

fn object(entries: &[(Key, Ast)], input: &Value, out: &mut Vec<Value>) -> Result<(), Error> {
    let mut partials = vec![Map::new()];
    for (key, value) in entries {
        let keys = match key {
            Key::Literal(key) => vec![key.clone()],
            Key::Computed(key) => eval_all(key, input)?
                .into_iter()
                .map(|key| match key {
                    Value::String(key) => Ok(key),
                    other => Err(Error(format!(
                        "Cannot use {} as an object key",
                        value::describe(&other)
                    ))),
                })
                .collect::<Result<_, _>>()?,
        };
        let values = eval_all(value, input)?;
        let mut next = Vec::with_capacity(partials.len() * keys.len() * values.len());
        for partial in &partials {
            for key in &keys {
                for value in &values {
                    let mut object = partial.clone();
                    object.insert(key.clone(), value.clone());
                    next.push(object);
                }
            }
        }
        partials = next;
    }
    out.extend(partials.into_iter().map(Value::Object));
    Ok(())
}
