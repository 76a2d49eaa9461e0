//! A conversation kept by an HTTP adapter's session: the user and assistant turns so far,
//! sent whole with every prompt (the chat APIs keep no state), and the options a prompt may
//! carry (`temperature`, `max-tokens`, `system`, `timeout-ms`, and `history`: the earlier
//! turns of a session the host rebuilds in a new instance, as `[{"prompt", "answer"}]`).
use serde_json::Value;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The operator's prompt.
    User,
    /// The model's answer.
    Assistant,
}

impl Role {
    /// `user` or `assistant`, as both APIs name them.
    pub fn name(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// The turns of one session.
#[derive(Debug, Default)]
pub struct Conversation {
    turns: Vec<(Role, String)>,
}

impl Conversation {
    /// The turns so far, with `prompt` as the next user turn.
    pub fn with_prompt<'a>(&'a self, prompt: &'a str) -> Vec<(Role, &'a str)> {
        self.turns
            .iter()
            .map(|(role, text)| (*role, text.as_str()))
            .chain([(Role::User, prompt)])
            .collect()
    }

    /// Keeps a prompt and its answer (a failed prompt is not kept: it will be sent again).
    pub fn answered(&mut self, prompt: String, answer: String) {
        self.turns.push((Role::User, prompt));
        self.turns.push((Role::Assistant, answer));
    }

    /// Answered prompts so far.
    pub fn turns(&self) -> usize {
        self.turns.len() / 2
    }

    /// Starts an empty conversation from `history` (earlier prompts and their answers, in
    /// order), as the host sends it when it continues a session in a new instance; a
    /// conversation that has turns already keeps them.
    pub fn seed(&mut self, history: &[(String, String)]) {
        if self.turns.is_empty() {
            for (prompt, answer) in history {
                self.answered(prompt.clone(), answer.clone());
            }
        }
    }
}

/// The options of one prompt (the WIT `agent-request.options`), with the session's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// The answer's token limit.
    pub max_tokens: Option<u64>,
    /// A system prompt.
    pub system: Option<String>,
    /// How long to wait for the answer, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Earlier turns of the session, `(prompt, answer)` in order, for a conversation that
    /// continues in a new instance (see [`Conversation::seed`]).
    pub history: Vec<(String, String)>,
}

impl Options {
    /// Reads the options JSON (unknown keys are ignored, as the contract says); a known key
    /// of the wrong type is an error naming it.
    pub fn parse(text: &str) -> Result<Options, String> {
        let value: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(text).map_err(|error| format!("options are not JSON: {error}"))?
        };
        let object = value.as_object().ok_or("options must be a JSON object")?;
        let number = |key: &str| -> Result<Option<u64>, String> {
            object
                .get(key)
                .map(|v| {
                    v.as_u64()
                        .ok_or(format!("options.{key} must be a non-negative integer"))
                })
                .transpose()
        };
        Ok(Options {
            temperature: object
                .get("temperature")
                .map(|v| v.as_f64().ok_or("options.temperature must be a number"))
                .transpose()?,
            max_tokens: number("max-tokens")?,
            system: object
                .get("system")
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or("options.system must be a string")
                })
                .transpose()?,
            timeout_ms: number("timeout-ms")?,
            history: match object.get("history") {
                None => Vec::new(),
                Some(turns) => turns
                    .as_array()
                    .ok_or("options.history must be a list of {\"prompt\", \"answer\"}")?
                    .iter()
                    .map(|turn| {
                        let text = |key: &str| {
                            turn.get(key)
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .ok_or(format!(
                                    "options.history: every turn needs a string `{key}`"
                                ))
                        };
                        Ok((text("prompt")?, text("answer")?))
                    })
                    .collect::<Result<_, String>>()?,
            },
        })
    }

    /// These options, with `defaults` where a value is missing.
    pub fn or(self, defaults: &Options) -> Options {
        Options {
            temperature: self.temperature.or(defaults.temperature),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            system: self.system.or_else(|| defaults.system.clone()),
            timeout_ms: self.timeout_ms.or(defaults.timeout_ms),
            history: self.history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_accumulate() {
        let mut conversation = Conversation::default();
        assert_eq!(conversation.with_prompt("a"), vec![(Role::User, "a")]);
        conversation.answered("a".into(), "A".into());
        assert_eq!(
            conversation.with_prompt("b"),
            vec![(Role::User, "a"), (Role::Assistant, "A"), (Role::User, "b")]
        );
        assert_eq!(conversation.turns(), 1);
    }

    #[test]
    fn history_seeds_only_an_empty_conversation() {
        let options = Options::parse(
            r#"{"history": [{"prompt": "a", "answer": "A"}, {"prompt": "b", "answer": "B"}]}"#,
        )
        .unwrap();
        let mut conversation = Conversation::default();
        conversation.seed(&options.history);
        assert_eq!(conversation.turns(), 2);
        assert_eq!(conversation.with_prompt("c")[3], (Role::Assistant, "B"));
        conversation.seed(&[("x".into(), "X".into())]);
        assert_eq!(conversation.turns(), 2);
        assert!(Options::parse(r#"{"history": [{"prompt": "a"}]}"#).is_err());
        assert!(Options::parse(r#"{"history": "a"}"#).is_err());
    }

    #[test]
    fn options() {
        let options =
            Options::parse(r#"{"temperature": 0.2, "max-tokens": 50, "other": 1}"#).unwrap();
        assert_eq!(options.temperature, Some(0.2));
        assert_eq!(options.max_tokens, Some(50));
        assert_eq!(Options::parse("").unwrap(), Options::default());
        assert_eq!(
            Options::parse(r#"{"max-tokens": "many"}"#).unwrap_err(),
            "options.max-tokens must be a non-negative integer"
        );
        let defaults = Options {
            system: Some("be brief".into()),
            max_tokens: Some(9),
            ..Options::default()
        };
        let merged = options.or(&defaults);
        assert_eq!(
            (merged.max_tokens, merged.system.as_deref()),
            (Some(50), Some("be brief"))
        );
    }
}
