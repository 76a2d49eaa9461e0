//! Prompts that share a `session` through the real binary and the `openai` adapter against
//! the provider double: one adapter and model per session (checked when the pipeline is
//! validated), a later turn that follows the earlier turns' answers (rerun when they change),
//! and a later turn run alone that continues the conversation its outputs record; answers
//! cut at the token limit are flagged; a failed breaker probe ends the run's other prompts of
//! that credential at once.

use crate::common::Project;
use crate::common::double::Double;
use crate::prompt_limits::{KEY, project};
use serde_json::Value;

/// Two turns of session `s`: the first quotes `data/topic.txt`.
const SESSION: &str = r#"
[[stage]]
id = "first"
agent = "openai"
session = "s"
inputs = ["data/topic.txt"]
prompt = "tell me about {{ inputs['data/topic.txt'] | trim }}"

[[stage]]
id = "second"
agent = "openai"
session = "s"
prompt = "and briefly"
"#;

/// The double's requests for prompt `prompt`.
fn asked(double: &Double, prompt: &str) -> Vec<Value> {
    double
        .requests()
        .into_iter()
        .filter(|r| r["prompt"] == prompt)
        .collect()
}

fn answer(project: &Project, id: &str) -> String {
    std::fs::read_to_string(project.path().join(format!("out/{id}/{id}.md"))).unwrap()
}

#[test]
fn a_session_keeps_one_adapter_and_model() {
    let double = Double::start(&["--key", KEY]);
    let project = project(&double, KEY, "");
    project.write(
        "pipelines/mixed.toml",
        "[[stage]]\nid = \"x1\"\nagent = \"openai\"\nsession = \"s\"\nprompt = \"a\"\n\n\
         [[stage]]\nid = \"x2\"\nagent = \"anthropic\"\nsession = \"s\"\nprompt = \"b\"\n\n\
         [[stage]]\nid = \"x3\"\nagent = \"openai\"\nmodel = \"gpt-4.1\"\nsession = \"s\"\nprompt = \"c\"\n\n\
         [[stage]]\nid = \"x4\"\nagent = \"openai\"\nsession = \"s\"\nprompt = \"{% if %}\"\n",
    );
    let run = project.baton(&["pipeline", "run", "mixed"]).expect(20);
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        text.contains("pipelines/mixed.toml:7: prompt `x2` joins session `s`, which `x1` (pipelines/mixed.toml:1) opens with agent `openai` and the adapter's default model, but asks agent `anthropic`"),
        "{text}"
    );
    assert!(
        text.contains("prompt `x3` joins session `s`") && text.contains("model `gpt-4.1`"),
        "{text}"
    );
    // A template that cannot parse is found before anything runs.
    assert!(
        text.contains(
            "pipelines/mixed.toml:20: prompt `x4`: the prompt text: line 1: syntax error"
        ),
        "{text}"
    );
    assert!(double.requests().is_empty());
}

#[test]
fn a_later_turn_follows_the_earlier_ones_and_continues_their_conversation_when_run_alone() {
    let double = Double::start(&["--key", KEY]);
    let project = project(&double, KEY, "");
    project.write("data/topic.txt", "ships\n");
    project.write("pipelines/talk.toml", SESSION);
    project.baton(&["pipeline", "run", "talk"]).expect(0);
    assert_eq!(answer(&project, "second"), "double answer #2: and briefly");

    // The first turn's input changes: it reruns, and so does the turn after it, in the
    // same conversation.
    project.write("data/topic.txt", "trains\n");
    let rerun = project
        .baton(&["pipeline", "run", "talk", "--format", "json"])
        .expect(0);
    let states: Vec<(String, String)> = rerun.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("first".into(), "done".into()),
            ("second".into(), "done".into())
        ]
    );
    assert_eq!(asked(&double, "and briefly").len(), 2);

    // Run alone, the second turn starts a new instance from the first turn as it stands
    // on disk: the provider sees it as turn 2 of the conversation.
    project
        .baton(&["pipeline", "run", "talk", "--only", "second", "--force"])
        .expect(0);
    let alone = asked(&double, "and briefly");
    assert_eq!(alone.len(), 3, "{alone:?}");
    assert_eq!(alone[2]["turn"], 2, "{alone:?}");
    assert_eq!(answer(&project, "second"), "double answer #2: and briefly");
    assert_eq!(
        asked(&double, "tell me about trains").len(),
        1,
        "not asked again"
    );
}

#[test]
fn an_answer_cut_at_its_token_limit_is_flagged() {
    let double = Double::start(&["--key", KEY, "--mode", "length"]);
    let project = project(&double, KEY, "");
    project.write(
        "pipelines/short.toml",
        "[[stage]]\nid = \"cut\"\nagent = \"openai\"\nprompt = \"a long story\"\nmax-tokens = 5\n",
    );
    let run = project.baton(&["pipeline", "run", "short"]).expect(0);
    assert!(
        run.stdout().contains(
            "cut … done in"
        ) && run.stdout().contains("⚠ the answer was cut at its token limit (finish reason `length`): raise `max-tokens`"),
        "{}",
        run.stdout()
    );
    let marker: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("out/cut/cut.md.done.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["finish_reason"], "length");
}

#[test]
fn a_failed_probe_ends_the_runs_other_prompts_of_that_credential() {
    let double = Double::start(&["--key", KEY]);
    let project = project(&double, "sk-wrong", "[pipeline]\nauth-cooldown = \"2s\"\n");
    let mut pipeline = String::new();
    for n in 1..=4 {
        pipeline.push_str(&format!(
            "[[stage]]\nid = \"o{n}\"\nagent = \"openai\"\nprompt = \"o{n}\"\n\n"
        ));
    }
    project.write("pipelines/bad.toml", &pipeline);
    let started = std::time::Instant::now();
    let run = project
        .baton(&["pipeline", "run", "bad", "--continue-on-error"])
        .expect(10);
    let took = started.elapsed();
    // Three strikes (the first calls go out together, before any answer), the 2 s
    // cool-down, one probe; then the prompts still waiting stop without a call, instead of
    // each waiting out a doubled cool-down to probe again.
    let calls = double.requests().len();
    assert!((4..=6).contains(&calls), "{calls} calls\n{}", run.stdout());
    assert!(took.as_secs() < 20, "took {took:?}");
    let out = run.stdout();
    assert_eq!(out.matches("FAILED").count(), 4, "{out}");
    assert!(
        out.contains("the auth breaker's probe failed in this run"),
        "{out}"
    );
}
