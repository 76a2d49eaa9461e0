//! `baton plugin list | inspect | call | new | add`: the operator's view of configured plugins
//! and the plugin author's dev loop.

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::output::{self, FAIL, Format, INFO, OK};
use anyhow::anyhow;
use baton_core::units::{parse_duration, parse_size};
use baton_engine::plugins as spec;
use baton_engine::settings::Settings;
use baton_runtime::bindings::types;
use baton_runtime::call::CallReport;
use baton_runtime::error::PluginError;
use baton_runtime::grants::{ExecGrant, FileGrant, Grants};
use baton_runtime::inspect::World;
use baton_runtime::plugin::{Plugin, PluginSpec};
use baton_runtime::stage_io::StagedIo;
use baton_runtime::{Runtime, json as wit_json};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List configured plugins: kind, version, digest, grants (loads each one).
    List,
    /// Show a component's world, WIT version, describe() output, sha256, imports and exports.
    Inspect {
        /// A .wasm component file.
        file: PathBuf,
    },
    /// Call a plugin once, the author's dev loop: prints the result or the typed error.
    /// Exit 0 on success, 30 when the plugin fails, 20 on bad usage.
    Call(Box<CallArgs>),
    /// Scaffold a new plugin (Rust, Python or JavaScript) that builds with one command and
    /// answers `baton plugin call` out of the box.
    #[command(after_help = "Examples:\n  \
        baton plugin new resolver my-resolver                 # Rust: cargo build --release\n  \
        baton plugin new stage my-stage --lang python         # ./build.sh (componentize-py)\n  \
        baton plugin new agent my-agent --lang js --dir plugins   # ./build.sh (componentize-js)\n\n\
        Python and JavaScript starters carry the WIT (wit/), a helper module, build.sh (which \
        installs its tool with pip or npm when missing) and a test that calls the component \
        through baton plugin call (python3 test_plugin.py / npm test).")]
    New {
        /// resolver, stage or agent.
        kind: World,
        /// The plugin's name (a crate name: letters, digits, `-`).
        name: String,
        /// Parent directory of the new plugin (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The plugin's language: `rust` (a crate on the guest SDK), `python`
        /// (componentize-py) or `js` (componentize-js).
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::scaffold::Lang,
    },
    /// Add a component to baton.toml, pinned by sha256, with the grants it asks for.
    Add {
        file: PathBuf,
        /// The name in config (default: the name the plugin gives itself).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// A .wasm component file, or the name of a configured plugin.
    pub plugin: String,
    /// JSON input: the artifact for a resolver (`{"id": ..., ...payload}`), the params for a
    /// stage, `{"prompt": ..., "options": {...}}` for an agent.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// JSON object handed to the plugin as its settings.
    #[arg(long)]
    pub settings: Option<String>,
    /// Grant outbound HTTP to a `scheme://host:port` pattern (repeatable).
    #[arg(long = "allow-host", value_name = "PATTERN")]
    pub allow_host: Vec<String>,
    /// Grant a directory: HOST_DIR:GUEST_PATH[:rw] (repeatable).
    #[arg(long = "dir", value_name = "HOST:GUEST[:rw]")]
    pub dirs: Vec<String>,
    /// Grant a program to `exec`, with any arguments: NAME or NAME=/abs/path (repeatable).
    #[arg(long = "allow-exec", value_name = "NAME[=PATH]")]
    pub allow_exec: Vec<String>,
    /// Grant an environment variable: NAME (from this environment) or NAME=VALUE.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Grant the key-value `state`.
    #[arg(long)]
    pub allow_state: bool,
    /// A stage input: NAME=PATH (repeatable); NAME may be omitted to use the file name.
    #[arg(long = "stage-input", value_name = "[NAME=]PATH")]
    pub stage_inputs: Vec<String>,
    /// Where a stage writes (default: a fresh directory under .baton/tmp).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Expect this world (resolver, stage, agent); refuse another.
    #[arg(long)]
    pub world: Option<World>,
    /// CPU deadline, e.g. 5s.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Wall-clock bound, host I/O included, e.g. 30s.
    #[arg(long)]
    pub wall_timeout: Option<String>,
    /// Linear memory cap, e.g. 64MiB.
    #[arg(long)]
    pub memory: Option<String>,
    /// Call this many times in the same process (each with a fresh instance).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
}

pub async fn run(
    command: &PluginCommand,
    settings: &Settings,
    rt: impl Fn() -> Result<Runtime, CliError>,
    format: Format,
) -> CliResult {
    match command {
        PluginCommand::List => list(settings, &rt()?, format).await,
        PluginCommand::Inspect { file } => inspect(settings, &rt()?, file, format).await,
        PluginCommand::Call(args) => call(settings, &rt()?, args, format).await,
        PluginCommand::New {
            kind,
            name,
            dir,
            lang,
        } => {
            let created = crate::scaffold::create(*kind, name, &settings.cwd.join(dir), *lang)
                .map_err(usage)?;
            let component = created.join(lang.component(name));
            if format == Format::Json {
                output::json(&json!({
                    "created": created,
                    "kind": kind,
                    "name": name,
                    "lang": lang,
                    "build": lang.build_command(),
                    "component": component,
                    "test": lang.test_command(),
                }));
            } else {
                println!(
                    "{OK} created {kind} plugin `{name}` ({lang:?}) in {}",
                    created.display()
                );
                println!(
                    "{INFO} build it:  cd {} && {}",
                    created.display(),
                    lang.build_command()
                );
                println!(
                    "{INFO} call it:   baton plugin call {}",
                    component.display()
                );
            }
            Ok(Exit::Success)
        }
        PluginCommand::Add { file, name } => {
            add(settings, &rt()?, file, name.as_deref(), format).await
        }
    }
}

fn plugin_error_exit(error: PluginError, format: Format) -> CliResult {
    if format == Format::Json {
        output::json(&json!({
            "ok": false,
            "error": {
                "code": error.kind.code(),
                "plugin": error.plugin,
                "call": error.call,
                "message": error.kind.to_string(),
                "stderr": error.stderr_tail,
            }
        }));
    } else {
        eprintln!("{FAIL} {error}");
    }
    Ok(Exit::Runtime)
}

fn file_spec(settings: &Settings, file: &Path) -> Result<PluginSpec, CliError> {
    spec::for_file(settings, file).map_err(usage)
}

async fn list(settings: &Settings, rt: &Runtime, format: Format) -> CliResult {
    let mut rows = Vec::new();
    let mut documents = Vec::new();
    let mut failed = false;
    for name in settings.plugins.keys() {
        let spec = spec::configured(settings, name).map_err(usage)?;
        let grants = grants_summary(&spec.grants);
        match rt.load(&spec).await {
            Ok(plugin) => {
                rows.push(vec![
                    format!("{OK} {name}"),
                    plugin.world.name().into(),
                    plugin.description.version.clone(),
                    plugin.digest[..12].to_string(),
                    grants.clone(),
                ]);
                documents.push(json!({
                    "name": name, "ok": true, "kind": plugin.world.name(),
                    "version": plugin.description.version, "sha256": plugin.digest,
                    "path": plugin.path, "summary": plugin.description.summary,
                    "asks": plugin.description.asks, "grants": spec.grants,
                }));
            }
            Err(error) => {
                failed = true;
                rows.push(vec![
                    format!("{FAIL} {name}"),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    error.kind.to_string(),
                ]);
                documents.push(json!({
                    "name": name, "ok": false, "path": spec.path,
                    "error": {"code": error.kind.code(), "message": error.kind.to_string()},
                    "grants": spec.grants,
                }));
            }
        }
    }
    if format == Format::Json {
        output::json(&json!({"plugins": documents}));
    } else if rows.is_empty() {
        println!("{INFO} no plugins configured (add one with `baton plugin add FILE`)");
    } else {
        output::table(&["plugin", "kind", "version", "sha256", "grants"], &rows);
    }
    Ok(if failed {
        Exit::Degraded
    } else {
        Exit::Success
    })
}

fn grants_summary(grants: &Grants) -> String {
    let mut parts = Vec::new();
    if !grants.http.is_empty() {
        parts.push(format!("http {}", grants.http.join(",")));
    }
    if !grants.files.is_empty() {
        let files: Vec<String> = grants
            .files
            .iter()
            .map(|f| format!("{}{}", f.guest, if f.writable { "(rw)" } else { "" }))
            .collect();
        parts.push(format!("files {}", files.join(",")));
    }
    if !grants.exec.is_empty() {
        let programs: Vec<&str> = grants.exec.iter().map(|e| e.program.as_str()).collect();
        parts.push(format!("exec {}", programs.join(",")));
    }
    if !grants.env.is_empty() {
        parts.push(format!("env {}", grants.env.join(",")));
    }
    if grants.state {
        parts.push("state".into());
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

async fn inspect(settings: &Settings, rt: &Runtime, file: &Path, format: Format) -> CliResult {
    let spec = file_spec(settings, file)?;
    let examined = match rt.examine(&spec).await {
        Ok(examined) => examined,
        Err(error) => return plugin_error_exit(error, format),
    };
    let d = &examined.description;
    if format == Format::Json {
        output::json(&json!({
            "file": spec.path,
            "sha256": examined.digest,
            "world": examined.world.name(),
            "wit": examined.wit_version.package(),
            "describe": d,
            "imports": examined.info.imports,
            "exports": examined.info.exports,
            "compiled": examined.cache,
        }));
        return Ok(Exit::Success);
    }
    println!("file      {}", spec.path.display());
    println!("sha256    {}", examined.digest);
    println!(
        "world     {} ({})",
        examined.world.qualified_at(examined.wit_version),
        examined.wit_version.package()
    );
    println!("plugin    {} {} — {}", d.name, d.version, d.summary);
    let asks = &d.asks;
    println!(
        "asks      http {:?}, files {:?}, exec {:?}, env {:?}, state {}",
        asks.http, asks.files, asks.exec, asks.env, asks.state
    );
    println!("imports");
    for import in &examined.info.imports {
        println!("  {import}");
    }
    println!("exports");
    for export in &examined.info.exports {
        println!("  {export}");
    }
    Ok(Exit::Success)
}

fn parse_json(flag: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| usage(anyhow!("{flag} is not valid JSON: {e}")))
}

/// The spec for `plugin call`: a configured plugin, or a file with grants from flags.
fn call_spec(settings: &Settings, args: &CallArgs) -> Result<PluginSpec, CliError> {
    let as_file = settings.cwd.join(&args.plugin);
    let mut spec = if !as_file.is_file() && settings.plugins.contains_key(&args.plugin) {
        spec::configured(settings, &args.plugin).map_err(usage)?
    } else {
        file_spec(settings, Path::new(&args.plugin))?
    };
    if let Some(settings) = &args.settings {
        spec.settings = parse_json("--settings", settings)?;
    }
    if let Some(world) = args.world {
        spec.expected = Some(world);
    }
    let grants = &mut spec.grants;
    grants.http.extend(args.allow_host.iter().cloned());
    for dir in &args.dirs {
        let mut parts = dir.splitn(3, ':');
        let (Some(host), Some(guest)) = (parts.next(), parts.next()) else {
            return Err(usage(anyhow!("--dir `{dir}` is not HOST:GUEST[:rw]")));
        };
        let writable = match parts.next() {
            None | Some("ro") => false,
            Some("rw") => true,
            Some(other) => {
                return Err(usage(anyhow!(
                    "--dir `{dir}`: mode `{other}` is not ro or rw"
                )));
            }
        };
        let host = settings.cwd.join(host);
        if !host.is_dir() {
            return Err(usage(anyhow!(
                "--dir `{dir}`: {} is not a directory",
                host.display()
            )));
        }
        grants.files.push(FileGrant {
            host: host.to_string_lossy().into_owned(),
            guest: guest.to_string(),
            writable,
        });
    }
    for exec in &args.allow_exec {
        let (program, path) = match exec.split_once('=') {
            Some((name, path)) => (name.to_string(), Some(path.to_string())),
            None => (exec.clone(), None),
        };
        grants.exec.push(ExecGrant {
            program,
            path,
            args: vec!["*".into()],
            timeout: None,
        });
    }
    grants.env.extend(args.env.iter().cloned());
    grants.state |= args.allow_state;
    for pattern in &grants.http {
        baton_runtime::policy::HostPattern::parse(pattern).map_err(|e| usage(anyhow!(e)))?;
    }
    let limits = &mut spec.limits;
    if let Some(t) = &args.timeout {
        limits.timeout = parse_duration(t).map_err(|e| usage(anyhow!("--timeout: {e}")))?;
    }
    if let Some(t) = &args.wall_timeout {
        limits.wall_timeout =
            parse_duration(t).map_err(|e| usage(anyhow!("--wall-timeout: {e}")))?;
    }
    if let Some(m) = &args.memory {
        limits.memory = parse_size(m).map_err(|e| usage(anyhow!("--memory: {e}")))?;
    }
    Ok(spec)
}

/// The input for one call, checked before anything is loaded.
enum CallInput {
    Resolve(types::Artifact),
    Stage(Value),
    Agent(types::AgentRequest, Option<String>),
}

fn call_input(input: &Value, world: World) -> Result<CallInput, CliError> {
    let object = input
        .as_object()
        .ok_or_else(|| usage(anyhow!("--input must be a JSON object")))?;
    match world {
        World::Resolver => {
            let id = object.get("id").and_then(Value::as_str).ok_or_else(|| {
                usage(anyhow!(
                    "a resolver's --input needs a string `id`, e.g. {{\"id\": \"10.1234/abc\"}}"
                ))
            })?;
            let mut payload = object.clone();
            payload.remove("id");
            Ok(CallInput::Resolve(types::Artifact {
                id: id.to_string(),
                payload: Value::Object(payload).to_string(),
            }))
        }
        World::Stage => Ok(CallInput::Stage(input.clone())),
        World::Agent => {
            let prompt = object
                .get("prompt")
                .and_then(Value::as_str)
                .ok_or_else(|| usage(anyhow!("an agent's --input needs a string `prompt`")))?;
            let options = object.get("options").cloned().unwrap_or(json!({}));
            let model = object
                .get("model")
                .and_then(Value::as_str)
                .map(String::from);
            Ok(CallInput::Agent(
                types::AgentRequest {
                    prompt: prompt.to_string(),
                    options: options.to_string(),
                },
                model,
            ))
        }
    }
}

async fn call(settings: &Settings, rt: &Runtime, args: &CallArgs, format: Format) -> CliResult {
    let spec = call_spec(settings, args)?;
    let input = parse_json("--input", &args.input)?;
    let plugin = match rt.load(&spec).await {
        Ok(plugin) => plugin,
        Err(error) => return plugin_error_exit(error, format),
    };
    let input = call_input(&input, plugin.world)?;
    let mut exit = Exit::Success;
    for _ in 0..args.repeat.max(1) {
        exit = match call_once(settings, rt, &plugin, &input, args).await? {
            Ok(document) => {
                let failed = document["ok"] == json!(false);
                print_call(&plugin, &document, format);
                if failed { Exit::Runtime } else { Exit::Success }
            }
            Err(error) => plugin_error_exit(error, format)?,
        };
    }
    Ok(exit)
}

/// One call; the outer error is the CLI's, the inner one the plugin's.
async fn call_once(
    settings: &Settings,
    rt: &Runtime,
    plugin: &Plugin,
    input: &CallInput,
    args: &CallArgs,
) -> Result<Result<Value, PluginError>, CliError> {
    Ok(match input {
        CallInput::Resolve(artifact) => {
            rt.resolve(plugin, artifact.clone(), 1).await.map(|report| {
                document(plugin, report, |v| match v {
                    Ok(candidates) => Ok(json!(
                        candidates
                            .iter()
                            .map(wit_json::candidate)
                            .collect::<Vec<_>>()
                    )),
                    Err(f) => Err(wit_json::failure(f)),
                })
            })
        }
        CallInput::Stage(params) => {
            let io = stage_io(settings, args)?;
            rt.run_stage(plugin, &io, "call", "call", params, 1)
                .await
                .map(|report| {
                    let mut doc = document(plugin, report, |v| match v {
                        Ok(outcome) => Ok(wit_json::stage_outcome(outcome)),
                        Err(f) => Err(wit_json::failure(f)),
                    });
                    doc["output_dir"] = json!(io.output_dir());
                    doc
                })
        }
        CallInput::Agent(request, model) => match rt.open_session(plugin, model.clone()).await {
            Ok(mut session) => session.send(request.clone()).await.map(|report| {
                document(plugin, report, |v| match v {
                    Ok(reply) => Ok(wit_json::agent_reply(reply)),
                    Err(f) => Err(wit_json::agent_failure(f)),
                })
            }),
            Err(error) => Err(error),
        },
    })
}

fn stage_io(settings: &Settings, args: &CallArgs) -> Result<StagedIo, CliError> {
    let mut inputs = Vec::new();
    for item in &args.stage_inputs {
        let (name, path) = match item.split_once('=') {
            Some((name, path)) => (name.to_string(), PathBuf::from(path)),
            None => {
                let path = PathBuf::from(item);
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| usage(anyhow!("--stage-input `{item}` has no file name")))?;
                (name, path)
            }
        };
        let path = settings.cwd.join(path);
        if !path.exists() {
            return Err(usage(anyhow!(
                "--stage-input `{item}`: {} does not exist",
                path.display()
            )));
        }
        inputs.push((name, path));
    }
    let work = settings.state_dir.clone().join("tmp");
    let output = match &args.output_dir {
        Some(dir) => settings.cwd.join(dir),
        None => {
            std::fs::create_dir_all(&work)
                .map_err(|e| runtime(anyhow!("cannot create {}: {e}", work.display())))?;
            tempfile::Builder::new()
                .prefix("call-output-")
                .tempdir_in(&work)
                .map_err(|e| runtime(anyhow!("cannot create an output directory: {e}")))?
                .keep()
        }
    };
    StagedIo::prepare(&work, &inputs, &output).map_err(usage)
}

fn document<T>(
    plugin: &Plugin,
    report: CallReport<T>,
    result: impl Fn(&T) -> Result<Value, Value>,
) -> Value {
    let (ok, result, failure) = match result(&report.value) {
        Ok(value) => (true, value, Value::Null),
        Err(failure) => (false, Value::Null, failure),
    };
    json!({
        "ok": ok,
        "plugin": plugin.name,
        "world": plugin.world.name(),
        "wit": plugin.wit_version.package(),
        "result": result,
        "failure": failure,
        "logs": report.logs,
        "progress": report.progress,
        "stdout": report.stdout,
        "stderr": report.stderr,
        "refused_http": report.refused_http,
        "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0,
    })
}

fn print_call(plugin: &Plugin, document: &Value, format: Format) {
    if format == Format::Json {
        output::json(document);
        return;
    }
    for log in document["logs"].as_array().into_iter().flatten() {
        eprintln!(
            "{INFO} [{}] {} {}",
            log["level"].as_str().unwrap_or(""),
            log["message"].as_str().unwrap_or(""),
            log["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!(
                    "{}={}",
                    f[0].as_str().unwrap_or(""),
                    f[1].as_str().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    for refused in document["refused_http"].as_array().into_iter().flatten() {
        eprintln!("{FAIL} HTTP refused: {}", refused.as_str().unwrap_or(""));
    }
    let elapsed = document["elapsed_ms"].as_f64().unwrap_or(0.0);
    if document["ok"] == json!(true) {
        println!(
            "{}",
            serde_json::to_string_pretty(&document["result"]).unwrap_or_default()
        );
        if let Some(dir) = document["output_dir"].as_str() {
            eprintln!("{INFO} output in {dir}");
        }
        eprintln!("{OK} {} answered in {elapsed:.2} ms", plugin.name);
    } else {
        let failure = &document["failure"];
        eprintln!(
            "{FAIL} {} returned failure {}: {}",
            plugin.name,
            failure["kind"].as_str().unwrap_or("?"),
            failure["reason"].as_str().unwrap_or("")
        );
    }
}

async fn add(
    settings: &Settings,
    rt: &Runtime,
    file: &Path,
    name: Option<&str>,
    format: Format,
) -> CliResult {
    let spec = file_spec(settings, file)?;
    let examined = match rt.examine(&spec).await {
        Ok(examined) => examined,
        Err(error) => return plugin_error_exit(error, format),
    };
    let name = name.unwrap_or(&examined.description.name).to_string();
    if settings.plugins.contains_key(&name) {
        return Err(usage(anyhow!(
            "a plugin named `{name}` is already configured (choose another with --name)"
        )));
    }
    let path = spec
        .path
        .strip_prefix(&settings.root)
        .unwrap_or(&spec.path)
        .to_string_lossy()
        .into_owned();
    let asks = &examined.description.asks;
    let mut entry = format!(
        "\n[plugins.{name}]\npath = {path:?}\nsha256 = \"{}\"\nkind = \"{}\"\n",
        examined.digest,
        examined.world.name()
    );
    let mut todo = Vec::new();
    if !asks.http.is_empty() {
        todo.push(format!("# http = [] # asks for {:?}", asks.http));
    }
    for (guest, writable) in &asks.files {
        todo.push(format!(
            "# files = [{{ host = \"DIR\", guest = \"{guest}\", writable = {writable} }}]"
        ));
    }
    if !asks.exec.is_empty() {
        todo.push(format!("# exec = [] # asks for {:?}", asks.exec));
    }
    if !asks.env.is_empty() {
        todo.push(format!("# env = {:?}", asks.env));
    }
    if asks.state {
        todo.push("# state = true".into());
    }
    if !todo.is_empty() {
        entry.push_str(&format!(
            "[plugins.{name}.grants]\n# The plugin asks for these; grant what you allow:\n{}\n",
            todo.join("\n")
        ));
    }
    let target = settings
        .config
        .file
        .clone()
        .unwrap_or_else(|| settings.root.join(baton_engine::settings::CONFIG_FILE));
    let mut text = std::fs::read_to_string(&target).unwrap_or_default();
    text.push_str(&entry);
    std::fs::write(&target, text)
        .map_err(|e| runtime(anyhow!("cannot write {}: {e}", target.display())))?;
    if format == Format::Json {
        output::json(&json!({"added": name, "file": target, "sha256": examined.digest}));
    } else {
        println!("{OK} added `{name}` to {}", target.display());
        if !todo.is_empty() {
            println!("{INFO} it asks for capabilities: edit [plugins.{name}.grants] to grant them");
        }
    }
    Ok(Exit::Success)
}
