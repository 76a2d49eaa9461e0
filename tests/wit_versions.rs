//! The versioning story of `docs/wit.md`: the host serves `baton:plugin@0.2.0` (the current
//! contract, which the SDK and the first-party plugins target) and the frozen
//! `baton:plugin@0.1.0` side by side. A 0.1.0 resolver (`v0-1-resolver`, built from
//! `wit/0.1.0/`) and a 0.2.0 one (`noop`) serve one queue in one run.

use crate::common::fixture::{Reply, Server};
use crate::common::{Project, plugin};

fn pdf(n: u8) -> Vec<u8> {
    let mut body = b"%PDF-1.7\n".to_vec();
    body.extend(std::iter::repeat_n(n, 64));
    body
}

#[test]
fn a_0_1_plugin_and_a_0_2_plugin_serve_one_queue() {
    let project = Project::new();
    let files = Server::start("127.0.0.6", |path| {
        let n = path.trim_start_matches("/pdf/").trim_end_matches(".pdf");
        match n.parse::<u8>() {
            Ok(n) => Reply::content("application/pdf", pdf(n)),
            Err(_) => Reply::json(404, "{}"),
        }
    });
    for name in ["v0-1-resolver", "noop"] {
        std::fs::copy(plugin(name), project.path().join(format!("{name}.wasm"))).unwrap();
    }
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"noop\"\naccept = \"application/pdf\"\nmax-attempts = 1\n\
         [plugins.noop]\npath = \"noop.wasm\"\n\
         [plugins.old]\npath = \"v0-1-resolver.wasm\"\n",
    );

    // Each version says which contract it was built against.
    for (file, wit) in [
        ("v0-1-resolver.wasm", "baton:plugin@0.1.0"),
        ("noop.wasm", "baton:plugin@0.2.0"),
    ] {
        let inspect = project
            .baton(&["plugin", "inspect", file, "--format", "json"])
            .expect(0)
            .json();
        assert_eq!(inspect["wit"], wit, "{inspect}");
        assert_eq!(inspect["world"], "resolver", "{inspect}");
    }

    // The 0.1.0 plugin's log line goes through the 0.1.0 `log` import.
    let call = project
        .baton(&[
            "plugin",
            "call",
            "v0-1-resolver.wasm",
            "--format",
            "json",
            "--input",
            &format!(r#"{{"id": "x", "url": "{}"}}"#, files.url("/pdf/9.pdf")),
        ])
        .expect(0)
        .json();
    assert_eq!(call["wit"], "baton:plugin@0.1.0", "{call}");
    assert_eq!(call["result"][0]["note"], "baton:plugin@0.1.0", "{call}");
    assert_eq!(call["logs"][0]["message"], "resolved", "{call}");
    assert_eq!(
        call["logs"][0]["fields"][0][1], "baton:plugin@0.1.0",
        "{call}"
    );

    // One queue: the chain's 0.2.0 resolver, and jobs that name the 0.1.0 one.
    for (id, n, resolver) in [
        ("new-1", 1, None),
        ("new-2", 2, None),
        ("old-3", 3, Some("old")),
        ("old-4", 4, Some("old")),
    ] {
        let payload = format!(r#"{{"url": "{}"}}"#, files.url(&format!("/pdf/{n}.pdf")));
        let mut args = vec!["queue", "enqueue", id, &payload];
        if let Some(resolver) = resolver {
            args.extend(["--resolver", resolver]);
        }
        project.baton(&args).expect(0);
    }
    // A 0.1.0 `skip` keeps its meaning: the job ends skipped.
    project
        .baton(&["queue", "enqueue", "old-none", "{}", "--resolver", "old"])
        .expect(0);
    let run = project
        .baton(&["queue", "run", "--drain", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(run["done"], 4, "{run}");
    assert_eq!(run["skipped"], 1, "{run}");
    for (id, resolver) in [
        ("new-1", "noop"),
        ("new-2", "noop"),
        ("old-3", "old"),
        ("old-4", "old"),
    ] {
        let show = project
            .baton(&["job", "show", id, "--format", "json"])
            .expect(0)
            .json();
        assert_eq!(show["job"]["state"], "done", "{show}");
        assert_eq!(show["artifact"]["resolver"], resolver, "{show}");
    }
    let skipped = project
        .baton(&["job", "show", "old-none", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(skipped["job"]["state"], "skipped", "{skipped}");
    assert!(
        skipped.to_string().contains("the payload has no `url`"),
        "{skipped}"
    );
}
