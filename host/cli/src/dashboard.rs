//! `baton dashboard [--refresh S] [--compact] [--filter TEXT]`: a live terminal view of the
//! store (ratatui over crossterm) — jobs by state and rate, running jobs with age and holder,
//! waiting jobs with their reason, recent failures with the rerun command, workers with
//! their last heartbeat, limiter keys with usage and quota left. Keys: `/` filter, `p` pause,
//! Tab switch list, ↑/↓ select, Enter open the job, Esc close, `q` quit. `--refresh 0` prints
//! one snapshot (table or `--format json`) and exits.

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, Format};
use anyhow::anyhow;
use baton_core::clock::{format_ms, now_ms};
use baton_core::store::Store;
use baton_engine::dashboard::{self, Snapshot};
use baton_engine::settings::Settings;
use clap::Args;
use crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, TableState, Wrap};
use std::time::{Duration, Instant};

/// `dashboard`'s arguments.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Seconds between refreshes; 0 prints one snapshot and exits.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    refresh: f64,
    /// Counts, running jobs and failures only, one line per job.
    #[arg(long)]
    compact: bool,
    /// Show only jobs whose key, holder, reason or error contains TEXT.
    #[arg(long, value_name = "TEXT", default_value = "")]
    filter: String,
}

pub const AFTER_HELP: &str = "\
Keys: / filter (Enter applies, Esc clears) · p pause or resume refreshing · Tab next list ·
↑/↓ select · Enter open the selected job · Esc close · q quit.

Examples:
  baton dashboard                          # live, refreshed every 2 s
  baton dashboard --refresh 0              # one snapshot as tables, for a log or a ticket
  baton dashboard --refresh 0 --format json | jq .counts.states
  baton dashboard --filter host:example.org";

pub fn run(args: &DashboardArgs, settings: &Settings, format: Format) -> CliResult {
    if !(args.refresh >= 0.0 && args.refresh.is_finite()) {
        return Err(usage(anyhow!(
            "--refresh must be a number of seconds, 0 or more (0 prints once), not {}",
            args.refresh
        )));
    }
    let store = crate::open::store(settings)?;
    if args.refresh == 0.0 {
        let snap = dashboard::snapshot(&*store, settings, now_ms())
            .map_err(runtime)?
            .filtered(&args.filter);
        if format == Format::Json {
            output::json(&snap);
        } else {
            print_once(&snap, args.compact);
        }
        return Ok(Exit::Success);
    }
    if format == Format::Json {
        return Err(usage(anyhow!(
            "--format json prints one snapshot: add --refresh 0"
        )));
    }
    let mut terminal = ratatui::try_init()
        .map_err(|e| runtime(anyhow!("cannot open the terminal for the dashboard: {e}")))?;
    let result = Live::new(args, settings, store).run(&mut terminal);
    ratatui::restore();
    result
}

/// Prints one snapshot as tables.
fn print_once(snap: &Snapshot, compact: bool) {
    println!("{}", counts_line(snap));
    println!();
    for (title, header, rows) in sections(snap, compact) {
        println!("{title}");
        if rows.is_empty() {
            println!("  (none)");
        } else {
            output::table(&header, &rows);
        }
        println!();
    }
}

fn counts_line(snap: &Snapshot) -> String {
    let states: Vec<String> = snap
        .counts
        .states
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    format!(
        "jobs {} · {} · {:.1}/s · store {:.1} ms · {}",
        snap.counts.total,
        states.join(" · "),
        snap.counts.jobs_per_second,
        snap.store_ms,
        format_ms(snap.at)
    )
}

fn ago(at: i64, ms: i64) -> String {
    format!("{:.1} s", (at - ms).max(0) as f64 / 1000.0)
}

type Section = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

/// The sections, each a title, a header and rows (cells made safe for a terminal).
fn sections(snap: &Snapshot, compact: bool) -> Vec<Section> {
    let safe = |text: &str| output::safe(text, false);
    let running = (
        "running",
        vec!["job", "kind", "age", "holder", "attempt"],
        snap.running
            .iter()
            .map(|r| {
                vec![
                    safe(&r.key),
                    r.kind.clone(),
                    format!("{:.1} s", r.age_ms as f64 / 1000.0),
                    safe(&r.holder),
                    r.attempt.to_string(),
                ]
            })
            .collect(),
    );
    let failures = (
        "recent failures",
        vec!["job", "failed", "error", "rerun"],
        snap.failures
            .iter()
            .map(|f| {
                vec![
                    safe(&f.key),
                    format_ms(f.at),
                    safe(&f.error),
                    safe(&f.rerun),
                ]
            })
            .collect(),
    );
    if compact {
        return vec![running, failures];
    }
    let waiting = (
        "waiting",
        vec!["job", "state", "reason"],
        snap.waiting
            .iter()
            .map(|w| vec![safe(&w.key), w.state.to_string(), safe(&w.reason_text)])
            .collect(),
    );
    let workers = (
        "workers",
        vec!["host", "role", "last heartbeat", "state", "owner"],
        snap.workers
            .iter()
            .map(|w| {
                vec![
                    safe(&w.host),
                    safe(&w.role),
                    format!("{} ago", ago(snap.at, w.last_beat)),
                    w.state.to_string(),
                    safe(&w.owner),
                ]
            })
            .collect(),
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let limits = (
        "limits",
        vec![
            "key",
            "held",
            "cap",
            "today",
            "quota",
            "left",
            "parked until",
        ],
        snap.limits
            .iter()
            .map(|l| {
                vec![
                    safe(&l.key),
                    l.held.to_string(),
                    opt(l.cap.map(|c| c.to_string())),
                    l.used_today.to_string(),
                    opt(l.quota.map(|q| q.to_string())),
                    opt(l.left_today.map(|q| q.to_string())),
                    opt(l
                        .parked
                        .as_ref()
                        .map(|p| baton_core::clock::format_ms(p.until))),
                ]
            })
            .collect(),
    );
    vec![running, waiting, failures, workers, limits]
}

/// The live view's state.
struct Live<'a> {
    settings: &'a Settings,
    store: Box<dyn Store>,
    refresh: Duration,
    compact: bool,
    filter: String,
    /// The filter being typed, while `/` is active.
    typing: Option<String>,
    paused: bool,
    snap: Option<Snapshot>,
    error: Option<String>,
    /// Which section's selection moves.
    focus: usize,
    selected: TableState,
    /// The job opened with Enter: its `job show` lines.
    opened: Option<Vec<String>>,
}

impl<'a> Live<'a> {
    fn new(args: &DashboardArgs, settings: &'a Settings, store: Box<dyn Store>) -> Live<'a> {
        Live {
            settings,
            store,
            refresh: Duration::from_secs_f64(args.refresh.max(0.1)),
            compact: args.compact,
            filter: args.filter.clone(),
            typing: None,
            paused: false,
            snap: None,
            error: None,
            focus: 0,
            selected: TableState::default().with_selected(Some(0)),
            opened: None,
        }
    }

    fn reload(&mut self) {
        match dashboard::snapshot(&*self.store, self.settings, now_ms()) {
            Ok(snap) => {
                self.snap = Some(snap.filtered(&self.filter));
                self.error = None;
            }
            Err(e) => self.error = Some(format!("cannot read the store: {e:#}")),
        }
    }

    fn run(mut self, terminal: &mut ratatui::DefaultTerminal) -> CliResult {
        self.reload();
        let mut last = Instant::now();
        loop {
            terminal
                .draw(|frame| self.draw(frame))
                .map_err(|e| runtime(anyhow!("cannot draw the dashboard: {e}")))?;
            let wait = self.refresh.saturating_sub(last.elapsed());
            let ready = event::poll(wait.min(Duration::from_millis(250)))
                .map_err(|e| runtime(anyhow!("cannot read the terminal: {e}")))?;
            if ready {
                let event =
                    event::read().map_err(|e| runtime(anyhow!("cannot read the terminal: {e}")))?;
                if let Event::Key(key) = event
                    && key.kind == KeyEventKind::Press
                    && self.key(key.code)
                {
                    return Ok(Exit::Success);
                }
            }
            if !self.paused && last.elapsed() >= self.refresh {
                self.reload();
                last = Instant::now();
            }
        }
    }

    /// Handles a key; returns whether to quit.
    fn key(&mut self, code: KeyCode) -> bool {
        if let Some(typed) = &mut self.typing {
            match code {
                KeyCode::Enter => {
                    self.filter = std::mem::take(typed);
                    self.typing = None;
                    self.reload();
                }
                KeyCode::Esc => self.typing = None,
                KeyCode::Backspace => {
                    typed.pop();
                }
                KeyCode::Char(c) => typed.push(c),
                _ => {}
            }
            return false;
        }
        match code {
            KeyCode::Char('q') => return true,
            KeyCode::Esc if self.opened.is_some() => self.opened = None,
            KeyCode::Esc => {
                self.filter.clear();
                self.reload();
            }
            KeyCode::Char('/') => self.typing = Some(String::new()),
            KeyCode::Char('p') => {
                self.paused = !self.paused;
                if !self.paused {
                    self.reload();
                }
            }
            KeyCode::Char('r') => self.reload(),
            KeyCode::Tab => {
                self.focus = (self.focus + 1) % self.lists();
                self.selected.select(Some(0));
            }
            KeyCode::Down => self.selected.select_next(),
            KeyCode::Up => self.selected.select_previous(),
            KeyCode::Enter => self.open(),
            _ => {}
        }
        false
    }

    fn lists(&self) -> usize {
        if self.compact { 2 } else { 3 }
    }

    /// The keys of the focused list.
    fn focused_keys(&self) -> Vec<String> {
        let Some(snap) = &self.snap else {
            return Vec::new();
        };
        match (self.focus, self.compact) {
            (0, _) => snap.running.iter().map(|r| r.key.clone()).collect(),
            (1, false) => snap.waiting.iter().map(|w| w.key.clone()).collect(),
            _ => snap.failures.iter().map(|f| f.key.clone()).collect(),
        }
    }

    fn open(&mut self) {
        let keys = self.focused_keys();
        let Some(key) = self.selected.selected().and_then(|i| keys.get(i)) else {
            return;
        };
        self.opened = Some(match job_lines(&*self.store, key) {
            Ok(lines) => lines,
            Err(e) => vec![format!("cannot read job {key}: {e:#}")],
        });
    }

    fn draw(&mut self, frame: &mut Frame<'_>) {
        let area = frame.area();
        let header = match (&self.snap, &self.error) {
            (_, Some(error)) => error.clone(),
            (Some(snap), None) => counts_line(snap),
            (None, None) => "reading the store…".into(),
        };
        let status = match (&self.typing, self.paused) {
            (Some(typed), _) => format!("filter: {typed}▏ (Enter apply · Esc cancel)"),
            (None, paused) => format!(
                "{}filter: {} · / filter · p {} · Tab list · ↑↓ select · Enter open · q quit",
                if paused { "PAUSED · " } else { "" },
                if self.filter.is_empty() {
                    "(none)"
                } else {
                    &self.filter
                },
                if paused { "resume" } else { "pause" },
            ),
        };
        let Some(snap) = self.snap.clone() else {
            frame.render_widget(
                Paragraph::new(vec![Line::from(header), Line::from(status)]),
                area,
            );
            return;
        };
        let sections = sections(&snap, self.compact);
        let mut constraints = vec![Constraint::Length(1)];
        constraints.extend(sections.iter().map(|_| Constraint::Fill(1)));
        constraints.push(Constraint::Length(1));
        let areas = Layout::vertical(constraints).split(area);
        frame.render_widget(Paragraph::new(header), areas[0]);
        let focused_title = ["running", "waiting", "recent failures"];
        let focused = if self.compact {
            ["running", "recent failures"][self.focus.min(1)]
        } else {
            focused_title[self.focus.min(2)]
        };
        for (i, (title, header, rows)) in sections.into_iter().enumerate() {
            let widths: Vec<Constraint> = header.iter().map(|_| Constraint::Fill(1)).collect();
            let is_focused = title == focused;
            let table = Table::new(rows.into_iter().map(Row::new), widths)
                .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
                .block(Block::new().borders(Borders::TOP).title(if is_focused {
                    format!("▶ {title}")
                } else {
                    title.to_string()
                }))
                .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
            if is_focused {
                frame.render_stateful_widget(table, areas[i + 1], &mut self.selected);
            } else {
                frame.render_widget(table, areas[i + 1]);
            }
        }
        frame.render_widget(Paragraph::new(status), areas[areas.len() - 1]);
        if let Some(lines) = &self.opened {
            let popup = area.inner(ratatui::layout::Margin::new(4, 2));
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(
                    lines
                        .iter()
                        .map(|l| Line::from(l.clone()))
                        .collect::<Vec<_>>(),
                )
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title("job (Esc closes)")),
                popup,
            );
        }
    }
}

/// What `job show` says about a job, as lines for the popup.
fn job_lines(store: &dyn Store, key: &str) -> anyhow::Result<Vec<String>> {
    let job = store
        .job(key)?
        .ok_or_else(|| anyhow!("no job `{key}` in the queue"))?;
    let safe = |text: &str| output::safe(text, false);
    let mut lines = vec![
        format!("id        {}", safe(&job.key)),
        format!("state     {}", job.state),
        format!("kind      {}", job.kind),
        format!(
            "attempts  {}/{} · recoveries {}",
            job.attempts, job.max_attempts, job.recoveries
        ),
        format!("payload   {}", safe(&job.payload.to_string())),
    ];
    if let Some(owner) = &job.lease_owner {
        lines.push(format!("holder    {}", safe(owner)));
    }
    if let Some(wait) = &job.wait_reason {
        lines.push(format!("waiting   {}", safe(wait)));
    }
    if let Some(error) = &job.last_error {
        lines.push(format!("error     {}", safe(error)));
        lines.push(format!("rerun     {}", dashboard::rerun_command(&job)));
    }
    lines.push(String::new());
    for attempt in store.attempts(job.id)? {
        lines.push(format!(
            "attempt {} · {} · {}",
            attempt.attempt,
            format_ms(attempt.started_at),
            attempt.outcome.as_deref().unwrap_or("running")
        ));
    }
    Ok(lines)
}
