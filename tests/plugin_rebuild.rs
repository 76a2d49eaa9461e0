//! The rebuild loop: `plugin add --update` re-pins an entry in place and says what changed,
//! a pin mismatch names both digests and the command that re-pins, and the compile cache
//! keeps one build per plugin under a size bound and is emptied by `plugin cache prune`.

use crate::common::{Project, plugin};
use std::path::Path;

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

const CONFIG: &str = "# my project\n[queue]\nworkers = 2   # enough for this machine\n";

#[test]
fn update_repins_in_place_and_says_what_changed() {
    let project = Project::new();
    project.write("baton.toml", CONFIG);
    let file = project.path().join("build/x.wasm");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::copy(plugin("logger"), &file).unwrap();
    let first = sha256(&file);
    project
        .baton(&["plugin", "add", "build/x.wasm", "--name", "x"])
        .expect(0);
    // The user annotates the entry.
    let config = std::fs::read_to_string(project.path().join("baton.toml")).unwrap();
    let config = config.replace(
        &format!("sha256 = \"{first}\""),
        &format!("sha256 = \"{first}\"   # pinned after review\nsettings = {{ mode = \"fast\" }}"),
    );
    project.write("baton.toml", &config);
    // A rebuild: the pin no longer matches, and the error says how to re-pin.
    std::fs::copy(plugin("fragile"), &file).unwrap();
    let second = sha256(&file);
    let list = project.baton(&["plugin", "list"]).expect(10);
    let table = list.stdout();
    assert!(
        table.contains(&format!("baton.toml pins {first} but the file is {second}")),
        "{table}"
    );
    let command = table
        .split("re-pin it with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no command in:\n{table}"));
    assert!(
        command.starts_with("baton plugin add ") && command.ends_with(" --update --name x"),
        "{command}"
    );
    // Adding again without --update is refused with the right command.
    let again = project
        .baton(&["plugin", "add", "build/x.wasm", "--name", "x"])
        .expect(20);
    assert!(
        again.stderr().contains("--update --name x"),
        "{}",
        again.stderr()
    );
    // Run the command the error gave, as given.
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let update = project.baton(&args).expect(0).stdout();
    assert!(
        update.contains(&format!("sha256   {first} → {second}")),
        "{update}"
    );
    assert!(update.contains("version  0.1.0 (unchanged)"), "{update}");
    let after = std::fs::read_to_string(project.path().join("baton.toml")).unwrap();
    assert_eq!(
        after,
        config.replace(&first, &second),
        "only the digest may change"
    );
    project.baton(&["plugin", "list"]).expect(0);
    // Nothing to do the second time; JSON says what it compared.
    let json = project
        .baton(&[
            "plugin",
            "add",
            "build/x.wasm",
            "--name",
            "x",
            "--update",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(json["changed"], false, "{json}");
    assert_eq!(json["sha256"]["old"], second.as_str());
    assert_eq!(json["version"]["old"], "0.1.0");
    // A rebuild that asks for more: the new asks are named, and so is the missing grant.
    std::fs::copy(plugin("unpaywall"), &file).unwrap();
    let json = project
        .baton(&[
            "plugin",
            "add",
            "build/x.wasm",
            "--name",
            "x",
            "--update",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(json["changed"], true, "{json}");
    assert!(
        !json["asks"]["added"].as_array().unwrap().is_empty(),
        "{json}"
    );
    assert!(!json["ungranted"].as_array().unwrap().is_empty(), "{json}");
    // --update of a name that is not configured is refused.
    let missing = project
        .baton(&["plugin", "add", "build/x.wasm", "--name", "y", "--update"])
        .expect(20);
    assert!(
        missing.stderr().contains("no plugin `y` is configured"),
        "{}",
        missing.stderr()
    );
}

/// The compile cache's `.cwasm` entries.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_cache_keeps_one_build_per_plugin_and_prune_empties_only_its_own_files() {
    let project = Project::new();
    project.write("baton.toml", "[runtime]\ncache-dir = \"cache\"\n");
    let cache = project.path().join("cache");
    let file = project.path().join("x.wasm");
    let inspect = |path: &str| {
        project
            .baton(&["plugin", "inspect", path, "--format", "json"])
            .expect(0);
    };
    std::fs::copy(plugin("logger"), &file).unwrap();
    inspect("x.wasm");
    let first = entries(&cache);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with(&sha256(&file)));
    // Rebuilt: the new build replaces the old one.
    std::fs::copy(plugin("fragile"), &file).unwrap();
    inspect("x.wasm");
    let second = entries(&cache);
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].starts_with(&sha256(&file)), "{second:?}");
    // Another plugin has its own entry; a file the user put there is never touched.
    std::fs::write(cache.join("notes.txt"), "mine").unwrap();
    std::fs::copy(plugin("noop"), project.path().join("other.wasm")).unwrap();
    inspect("other.wasm");
    assert_eq!(entries(&cache).len(), 2);
    // Dry run: counts, removes nothing.
    let dry = project
        .baton(&["plugin", "cache", "prune", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(dry["cache"]["entries"], 2, "{dry}");
    assert_eq!(dry["cache"]["kept_foreign"], 1, "{dry}");
    let bytes = dry["cache"]["bytes"].as_u64().unwrap();
    assert!(bytes > 0, "{dry}");
    assert_eq!(entries(&cache).len(), 2);
    let pruned = project
        .baton(&["plugin", "cache", "prune"])
        .expect(0)
        .stdout();
    assert!(
        pruned.contains("removed 2 compiled plugin(s) and 1 other cache file(s)"),
        "{pruned}"
    );
    assert!(
        pruned.contains("left 1 file(s) there that Baton did not write"),
        "{pruned}"
    );
    assert!(entries(&cache).is_empty());
    assert_eq!(
        std::fs::read_to_string(cache.join("notes.txt")).unwrap(),
        "mine"
    );
    // The size bound: with room for about one entry, the least recently used goes.
    let one = bytes / 2 + bytes / 4;
    project.write(
        "baton.toml",
        &format!("[runtime]\ncache-dir = \"cache\"\ncache-max-size = \"{one}\"\n"),
    );
    inspect("x.wasm");
    inspect("other.wasm");
    let left = entries(&cache);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(&sha256(&project.path().join("other.wasm"))));
}
