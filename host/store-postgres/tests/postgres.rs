//! The PostgreSQL store against a real server (the private one `baton-test-postgres`
//! starts): the conformance suite, then what only a shared server has — concurrent
//! claimers, concurrent migrations, events by origin with the ledger's catch-up,
//! notifications, dependency races between hosts, and connection errors.

use baton_core::model::{JobKind, JobState, NewJob, Outcome};
use baton_core::store::{Claim, RunRecord, RunState, Store, StoreRead, commit};
use baton_store_postgres::PgStore;
use baton_test_postgres::server;
use postgres::fallible_iterator::FallibleIterator;
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

fn job(key: &str) -> NewJob {
    NewJob {
        key: key.into(),
        kind: JobKind::Resolve,
        plugin: None,
        payload: "{}".into(),
        priority: 0,
        max_attempts: 3,
    }
}

fn claim(owner: &str, limit: usize, run: Option<&str>) -> Claim {
    Claim {
        run: run.map(String::from),
        any_run: false,
        owner: owner.into(),
        limit,
        lease_until: 1_000_000,
    }
}

fn ledger_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "jsonl") {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    text
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    baton_core::conformance::run_all(&|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = server().url_for_new_database();
        Box::new(PgStore::open(&url, &dir.path().join(format!("ledger-{n}"))).unwrap())
    });
}

#[test]
fn concurrent_claimers_never_take_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let mut store = PgStore::open(&url, &dir.path().join("ledger")).unwrap();
    let jobs: Vec<NewJob> = (0..2000).map(|i| job(&format!("j{i}"))).collect();
    commit(&mut store, 1, |tx| tx.enqueue(&jobs, false)).unwrap();
    let claimers: Vec<_> = (0..4)
        .map(|w| {
            let (url, ledger) = (url.clone(), dir.path().join(format!("ledger-{w}")));
            std::thread::spawn(move || {
                let mut store = PgStore::open_as(&url, &ledger, &format!("host{w}")).unwrap();
                let mut ids = Vec::new();
                loop {
                    let spec = claim(&format!("w{w}"), 25, None);
                    let got = commit(&mut store, 10, |tx| tx.claim(&spec, &mut |_| true)).unwrap();
                    if got.is_empty() {
                        return ids;
                    }
                    ids.extend(got.iter().map(|c| c.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.join().unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 2000);
    assert_eq!(store.stats(20).unwrap().states["running"], 2000);
}

#[test]
fn a_claim_gives_back_what_its_filter_turns_away() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let mut store = PgStore::open(&url, dir.path()).unwrap();
    let jobs: Vec<NewJob> = (0..6)
        .map(|i| NewJob {
            plugin: Some(if i % 2 == 0 { "a" } else { "b" }.into()),
            priority: 10 - i,
            ..job(&format!("f{i}"))
        })
        .collect();
    commit(&mut store, 1, |tx| tx.enqueue(&jobs, true)).unwrap();
    let spec = claim("w", 2, None);
    let got = commit(&mut store, 5, |tx| {
        tx.claim(&spec, &mut |offer| offer.plugin == Some("b"))
    })
    .unwrap();
    let keys: Vec<&str> = got.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["f1", "f3"], "offered in priority order, filtered");
    let refused = store.job("f0").unwrap().unwrap();
    assert_eq!(
        (
            refused.state,
            refused.attempts,
            refused.fence,
            refused.updated_at
        ),
        (JobState::Queued, 0, 0, 1),
        "a job turned away was changed"
    );
}

#[test]
fn concurrent_opens_of_a_new_database_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let opens: Vec<_> = (0..6)
        .map(|i| {
            let (url, ledger) = (url.clone(), dir.path().join(format!("l{i}")));
            std::thread::spawn(move || PgStore::open(&url, &ledger).map(|_| ()))
        })
        .collect();
    for open in opens {
        open.join().unwrap().unwrap();
    }
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = client
        .query_one("SELECT count(*), max(version) FROM baton_migrations", &[])
        .unwrap();
    let (count, max): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(count, max, "a migration was recorded twice");
    client
        .execute("INSERT INTO baton_migrations (version) VALUES (999)", &[])
        .unwrap();
    let error = PgStore::open(&url, dir.path()).err().unwrap();
    assert!(
        format!("{error:#}").contains("newer than this baton"),
        "{error:#}"
    );
}

#[test]
fn events_record_their_origin_and_a_new_ledger_catches_up_this_hosts_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let mut h1 = PgStore::open_as(&url, &dir.path().join("h1"), "h1").unwrap();
    let mut h2 = PgStore::open_as(&url, &dir.path().join("h2"), "h2").unwrap();
    commit(&mut h1, 1, |tx| tx.enqueue(&[job("a1"), job("a2")], true)).unwrap();
    commit(&mut h2, 2, |tx| tx.enqueue(&[job("b1")], true)).unwrap();
    commit(&mut h1, 3, |tx| tx.enqueue(&[job("a3")], true)).unwrap();
    let h1_text = ledger_text(&dir.path().join("h1"));
    assert!(h1_text.contains("\"job\":\"a3\"") && !h1_text.contains("\"job\":\"b1\""));
    // A process of host h1 with a ledger that stops after a1 writes a2 and a3, not b1.
    let seqs: Vec<i64> = h1_text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let partial = dir.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    let first = h1_text.lines().next().unwrap();
    let day = baton_core::clock::day_of(1);
    std::fs::write(partial.join(format!("{day}.jsonl")), format!("{first}\n")).unwrap();
    let mut late = PgStore::open_as(&url, &partial, "h1").unwrap();
    commit(&mut late, 4, |tx| tx.bump_counter("x", 1)).unwrap();
    assert_eq!(
        ledger_text(&partial),
        h1_text,
        "the catch-up wrote another ledger"
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let origins: Vec<String> = client
        .query("SELECT origin FROM events ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(origins, ["h1", "h1", "h2", "h1"]);
}

/// Three processes of one host share its ledger; one is killed after its commit and before
/// its append, while the others have long caught up. The next writer to take the lock
/// writes the missing line before its own, and another host's events stay out.
#[test]
fn a_writer_killed_between_commit_and_append_loses_no_line_among_live_writers() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let ledger = dir.path().join("h1");
    let mut first = PgStore::open_as(&url, &ledger, "h1").unwrap();
    let mut second = PgStore::open_as(&url, &ledger, "h1").unwrap();
    let mut other_host = PgStore::open_as(&url, &dir.path().join("h2"), "h2").unwrap();
    commit(&mut first, 1, |tx| tx.enqueue(&[job("a")], true)).unwrap();
    commit(&mut second, 2, |tx| tx.enqueue(&[job("b")], true)).unwrap();
    // The killed writer: it took the lock, committed its event, and never appended.
    let mut killed = baton_core::ledger::LedgerFile::new(&ledger);
    let lock = killed.lock().unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .execute(
            "INSERT INTO events (at, job_id, event, data, origin)
             VALUES (3, NULL, 'lost', '{\"at\":3,\"event\":\"lost\"}', 'h1')",
            &[],
        )
        .unwrap();
    drop(lock);
    commit(&mut other_host, 4, |tx| tx.enqueue(&[job("x")], true)).unwrap();
    commit(&mut first, 5, |tx| tx.enqueue(&[job("c")], true)).unwrap();
    commit(&mut second, 6, |tx| tx.enqueue(&[job("d")], true)).unwrap();
    let lines: Vec<serde_json::Value> = ledger_text(&ledger)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines
        .iter()
        .map(|l| l["job"].as_str().unwrap_or(l["event"].as_str().unwrap()))
        .collect();
    assert_eq!(events, ["a", "b", "lost", "c", "d"], "{lines:?}");
    let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn transactions_that_make_jobs_ready_notify_baton_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let mut store = PgStore::open(&url, dir.path()).unwrap();
    let mut listener = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    listener
        .batch_execute(&format!("LISTEN {}", baton_store_postgres::NOTIFY_CHANNEL))
        .unwrap();
    let heard = |listener: &mut postgres::Client, wait: u64| {
        let mut notes = listener.notifications();
        let mut it = notes.timeout_iter(Duration::from_millis(wait));
        let mut n = 0;
        while let Some(note) = it.next().unwrap() {
            assert_eq!(note.channel(), "baton_jobs");
            n += 1;
        }
        n
    };
    commit(&mut store, 1, |tx| {
        tx.enqueue(&[job("n1"), job("n2")], true)
    })
    .unwrap();
    assert_eq!(
        heard(&mut listener, 500),
        1,
        "one notification per transaction"
    );
    let held = commit(&mut store, 2, |tx| {
        tx.claim(&claim("w", 2, None), &mut |_| true)
    })
    .unwrap();
    commit(&mut store, 3, |tx| {
        tx.heartbeat(&[(held[0].id, held[0].fence)], 5000)
    })
    .unwrap();
    let refused = store.transaction(4, &mut |tx| {
        tx.enqueue(&[job("n3")], true)?;
        anyhow::bail!("refused")
    });
    assert!(refused.is_err());
    assert_eq!(
        heard(&mut listener, 300),
        0,
        "claims, heartbeats and rollbacks are silent"
    );
    let outcomes = [(held[0].clone(), Outcome::Done { result: json!({}) })];
    commit(&mut store, 5, |tx| tx.finish(&outcomes)).unwrap();
    assert_eq!(
        heard(&mut listener, 300),
        0,
        "a finish that readies nothing is silent"
    );
    commit(&mut store, 6, |tx| tx.release(&held[1..])).unwrap();
    assert_eq!(
        heard(&mut listener, 500),
        1,
        "a released job is ready again"
    );
}

#[test]
fn dependencies_finished_at_once_on_two_hosts_unblock_their_dependent() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    let mut store = PgStore::open(&url, &dir.path().join("l0")).unwrap();
    let stage = |key: &str| NewJob {
        kind: JobKind::Stage,
        ..job(key)
    };
    let run = RunRecord {
        id: "r".into(),
        pipeline: "p".into(),
        started_at: 1,
        finished_at: None,
        state: RunState::Running,
        options: json!({}),
        owner: None,
    };
    let jobs = vec![
        (stage("r/a"), vec![]),
        (stage("r/b"), vec![]),
        (stage("r/c"), vec![0, 1]),
    ];
    commit(&mut store, 1, |tx| tx.start_run(&run, &jobs)).unwrap();
    let held = commit(&mut store, 2, |tx| {
        tx.claim(&claim("w", 2, Some("r")), &mut |_| true)
    })
    .unwrap();
    assert_eq!(held.len(), 2);
    // Host 0 finishes a and waits before committing; meanwhile host 1 finishes b.
    let (first_done, first_seen) = std::sync::mpsc::channel::<()>();
    let mut first_done = Some(first_done);
    let mut first_seen = Some(first_seen);
    let threads: Vec<_> = held
        .into_iter()
        .enumerate()
        .map(|(i, held)| {
            let (url, ledger) = (url.clone(), dir.path().join(format!("l{}", i + 1)));
            let (done, seen) = (
                first_done.take(),
                if i == 1 { first_seen.take() } else { None },
            );
            std::thread::spawn(move || {
                let mut store = PgStore::open_as(&url, &ledger, &format!("h{i}")).unwrap();
                let outcome = [(held, Outcome::Done { result: json!({}) })];
                commit(&mut store, 10, |tx| {
                    if let Some(seen) = &seen {
                        seen.recv().unwrap();
                    }
                    let applied = tx.finish(&outcome)?;
                    if let Some(done) = &done {
                        done.send(()).unwrap();
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    Ok(applied)
                })
                .unwrap()
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), [true]);
    }
    assert_eq!(store.job("r/c").unwrap().unwrap().state, JobState::Queued);
}

#[test]
fn a_refused_connection_says_how_to_start_a_server_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let error = PgStore::open("postgres://baton:s3cret@127.0.0.1:1/baton", dir.path())
        .err()
        .unwrap();
    let text = format!("{error:#}");
    assert!(
        text.contains("postgres://baton@127.0.0.1:1/baton"),
        "{text}"
    );
    assert!(text.contains("Start it"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn a_read_only_handle_reads_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = server().url_for_new_database();
    assert!(PgStore::open_read_only(&url).unwrap().is_none());
    let mut store = PgStore::open(&url, dir.path()).unwrap();
    commit(&mut store, 1, |tx| tx.enqueue(&[job("r1")], true)).unwrap();
    let reader = PgStore::open_read_only(&url).unwrap().unwrap();
    assert_eq!(reader.job("r1").unwrap().unwrap().state, JobState::Queued);
    assert_eq!(reader.stats(2).unwrap().total, 1);
}
