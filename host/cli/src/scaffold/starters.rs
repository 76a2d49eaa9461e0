//! Python and JavaScript starters for `baton plugin new --lang python|js`: the plugin module
//! (`app.py` / `app.js`), a helper module for what every plugin needs (JSON settings and
//! payloads, failures, logging, HTTP over wasi:http; files for JS), `build.sh` (one command:
//! installs componentize-py with pip or componentize-js with npm when missing, then builds
//! `NAME.wasm`), a test that calls the component through `baton plugin call`, the WIT the
//! component is built against (`wit/`) and a README.

use super::{Lang, wit_files};
use baton_runtime::inspect::{WIT_VERSION, World};
use std::path::PathBuf;

/// The componentize-py release the Python starter pins (PyPI `componentize-py`).
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js release the JS starter pins (npm `@bytecodealliance/componentize-js`).
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// Every file of a `lang` starter of world `kind` named `name`, relative to its directory.
pub fn files(kind: World, name: &str, lang: Lang) -> Vec<(PathBuf, String)> {
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{world}}", kind.name())
            .replace("{{componentize_py}}", COMPONENTIZE_PY)
            .replace("{{componentize_js}}", COMPONENTIZE_JS)
            .replace("{{class}}", &class_name(name))
            .replace("{{tests}}", tests(kind, lang).trim_end())
    };
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut add = |path: &str, text: &str| files.push((PathBuf::from(path), fill(text)));
    match lang {
        Lang::Python => {
            add(
                "app.py",
                match kind {
                    World::Resolver => include_str!("python/resolver.py"),
                    World::Stage => include_str!("python/stage.py"),
                    World::Agent => include_str!("python/agent.py"),
                },
            );
            if kind == World::Agent {
                add(
                    "agent_sessions.py",
                    include_str!("python/agent_sessions.py"),
                );
            }
            add("baton_helpers.py", include_str!("python/baton_helpers.py"));
            add("build.sh", include_str!("python/build.sh"));
            add("test_plugin.py", include_str!("python/test_plugin.py"));
            add(".gitignore", "*.wasm\n__pycache__/\n");
        }
        Lang::Js => {
            add(
                "app.js",
                match kind {
                    World::Resolver => include_str!("js/resolver.js"),
                    World::Stage => include_str!("js/stage.js"),
                    World::Agent => include_str!("js/agent.js"),
                },
            );
            add("baton.js", include_str!("js/baton.js"));
            add("files.js", include_str!("js/files.js"));
            add("build.sh", include_str!("js/build.sh"));
            add("package.json", include_str!("js/package.json"));
            add("test.mjs", include_str!("js/test.mjs"));
            add(".gitignore", "*.wasm\nnode_modules/\n");
        }
        Lang::Rust => {}
    }
    add("README.md", &readme(kind, name, lang));
    for (path, content) in wit_files() {
        files.push((PathBuf::from("wit").join(path), content.to_string()));
    }
    files
}

/// `my-resolver` → `MyResolver`.
fn class_name(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The starter's own tests, in its language: what `baton plugin call` must answer.
fn tests(kind: World, lang: Lang) -> &'static str {
    match (lang, kind) {
        (Lang::Python, World::Resolver) => {
            r#"    def test_a_url_is_its_own_candidate(self):
        doc = call("--input", '{"id": "https://example.org/paper.pdf"}')
        self.assertTrue(doc["ok"], doc)
        self.assertEqual(doc["result"][0]["url"], "https://example.org/paper.pdf")

    def test_anything_else_is_skipped(self):
        doc = call("--input", '{"id": "10.1234/x"}')
        self.assertEqual(doc["failure"]["kind"], "skip", doc)
"#
        }
        (Lang::Python, World::Stage) => {
            r#"    def test_counts_the_lines_of_each_input(self):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            notes = os.path.join(tmp, "notes.txt")
            with open(notes, "w") as f:
                f.write("one\ntwo\n")
            out = os.path.join(tmp, "out")
            doc = call("--stage-input", notes, "--output-dir", out)
            self.assertTrue(doc["ok"], doc)
            with open(os.path.join(out, "notes.txt.count")) as f:
                self.assertEqual(f.read(), "2\n")
"#
        }
        (Lang::Python, World::Agent) => {
            r#"    def test_each_prompt_is_answered(self):
        doc = call("--input", '{"prompt": "hello"}')
        self.assertEqual(doc["result"]["text"], "turn 1: hello", doc)

    def test_an_empty_prompt_is_a_bad_request(self):
        doc = call("--input", '{"prompt": ""}')
        self.assertEqual(doc["failure"]["kind"], "bad-request", doc)
"#
        }
        (Lang::Js, World::Resolver) => {
            r#"test("a URL is its own candidate", () => {
  const doc = call("--input", '{"id": "https://example.org/paper.pdf"}');
  assert.ok(doc.ok, JSON.stringify(doc));
  assert.equal(doc.result[0].url, "https://example.org/paper.pdf");
});

test("anything else is skipped", () => {
  const doc = call("--input", '{"id": "10.1234/x"}');
  assert.equal(doc.failure.kind, "skip", JSON.stringify(doc));
});
"#
        }
        (Lang::Js, World::Stage) => {
            r#"test("counts the lines of each input", () => {
  const tmp = mkdtempSync(join(tmpdir(), "starter-"));
  const notes = join(tmp, "notes.txt");
  writeFileSync(notes, "one\ntwo\n");
  const out = join(tmp, "out");
  const doc = call("--stage-input", notes, "--output-dir", out);
  assert.ok(doc.ok, JSON.stringify(doc));
  assert.equal(readFileSync(join(out, "notes.txt.count"), "utf8"), "2\n");
});
"#
        }
        (Lang::Js, World::Agent) => {
            r#"test("each prompt is answered", () => {
  const doc = call("--input", '{"prompt": "hello"}');
  assert.equal(doc.result.text, "turn 1: hello", JSON.stringify(doc));
});

test("an empty prompt is a bad request", () => {
  const doc = call("--input", '{"prompt": ""}');
  assert.equal(doc.failure.kind, "bad-request", JSON.stringify(doc));
});
"#
        }
        (Lang::Rust, _) => "",
    }
}

fn readme(kind: World, name: &str, lang: Lang) -> String {
    let (language, tool, helper, test) = match lang {
        Lang::Python => (
            "Python",
            format!(
                "componentize-py {COMPONENTIZE_PY} (PyPI; `build.sh` installs it with pip when it is missing — needs python3 ≥ 3.10)"
            ),
            "`baton_helpers.py`: settings and payload JSON, failures, logging, HTTP over wasi:http",
            "python3 test_plugin.py",
        ),
        _ => (
            "JavaScript",
            format!(
                "componentize-js {COMPONENTIZE_JS} (npm `@bytecodealliance/componentize-js`; `build.sh` installs it with npm when it is missing — needs Node.js ≥ 18)"
            ),
            "`baton.js`: settings and payload JSON, failures, logging, HTTP with `fetch`; `files.js`: files over wasi:filesystem",
            "npm test",
        ),
    };
    let try_it = match kind {
        World::Resolver => format!(
            "baton plugin call {name}.wasm --input '{{\"id\": \"https://example.org/paper.pdf\"}}'"
        ),
        World::Stage => {
            format!("baton plugin call {name}.wasm --stage-input notes.txt --output-dir out")
        }
        World::Agent => {
            format!("baton plugin call {name}.wasm --input '{{\"prompt\": \"hello\"}}'")
        }
    };
    format!(
        "# {name}\n\nA Baton {kind} plugin in {language} (WIT `baton:plugin@{WIT_VERSION}`, world `{kind}`; \
         the contract is in `wit/`).\n\n\
         ```sh\n./build.sh            # builds {name}.wasm\n{test}   # calls it through `baton plugin call` (baton on PATH, or BATON=...)\n\
         {try_it}\nbaton plugin add {name}.wasm   # pins it in baton.toml with the grants it asks for\n```\n\n\
         Builds with {tool}.\n\nHelpers: {helper}.\n\n\
         See Baton's docs/plugins.md (the section for {language}) for the types, failures, sessions, HTTP, \
         files and logging.\n"
    )
}
