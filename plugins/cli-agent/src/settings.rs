//! The adapter's settings, read once when a session opens.
use baton_sdk::fatal;
use baton_sdk::json::Object;
use baton_sdk::types::Failure;

pub enum PromptVia {
    Stdin,
    Arg,
}

pub struct Settings {
    pub program: String,
    /// The configured args, then `[model-flag, model]` when both are known.
    pub args: Vec<String>,
    pub prompt_via: PromptVia,
    pub timeout_ms: Option<u64>,
}

impl Settings {
    pub fn parse(text: &str, model: Option<String>) -> Result<Self, Failure> {
        let settings = Object::parse("settings", text)?;
        let program = settings.required_str("program")?.to_string();
        let mut args = settings.strings("args")?.unwrap_or_default();
        let prompt_via = match settings.str("prompt-via")? {
            None | Some("stdin") => PromptVia::Stdin,
            Some("arg") => PromptVia::Arg,
            Some(other) => {
                return Err(fatal(format!(
                    "settings.prompt-via must be \"stdin\" or \"arg\", found {other:?}"
                )))
            }
        };
        match (settings.str("model-flag")?, model) {
            (Some(flag), Some(model)) => {
                args.push(flag.to_string());
                args.push(model);
            }
            (None, Some(model)) => {
                baton_sdk::warn!("model ignored: settings have no model-flag", "model" => model);
            }
            _ => {}
        }
        Ok(Self {
            program,
            args,
            prompt_via,
            timeout_ms: settings.u64("timeout-ms")?,
        })
    }
}
