//! The progress of long work (`queue run`, `pipeline run`): on a terminal a live line drawn
//! by `indicatif` on stderr (ended/total, rate, ETA, failures), redrawn in place; when
//! stderr is not a terminal (a log file, a pipe, a timer's journal), a plain line each time
//! another tenth of the work has ended. Nothing with `--format json` or `-q`.

use crate::output::Format;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the live line is redrawn on its own (rate and ETA change with time).
const TICK: Duration = Duration::from_millis(200);

/// Progress of `total` items.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    unit: &'static str,
    total: AtomicU64,
    /// The last tenth a plain line was printed for.
    step: AtomicU64,
    /// `(ended, failed)` last reported.
    last: Mutex<(u64, u64)>,
    started: Instant,
}

impl Progress {
    /// Progress of `total` `unit`s (e.g. "jobs"), shown as `format` and stderr allow.
    pub fn new(total: u64, unit: &'static str, format: Format) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let shown = format == Format::Table && !crate::output::quiet();
        let bar = (shown && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = format!(
                "▶ {{bar:30}} {{pos}}/{{len}} {unit} · {{per_sec}} · ETA {{eta}} · {{msg}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
            }
            bar.set_message("0 failed");
            bar.enable_steady_tick(TICK);
            bar
        });
        Progress {
            bar,
            plain: shown && !terminal,
            unit,
            total: AtomicU64::new(total),
            step: AtomicU64::new(0),
            last: Mutex::new((0, 0)),
            started: Instant::now(),
        }
    }

    /// Raises the total (work added while running).
    pub fn set_total(&self, total: u64) {
        let total = self.total.fetch_max(total, Ordering::Relaxed).max(total);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// `ended` items have ended, `failed` of them failed.
    pub fn update(&self, ended: u64, failed: u64) {
        self.set_total(ended);
        if let Ok(mut last) = self.last.lock() {
            *last = (ended, failed);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(ended);
            bar.set_message(format!("{failed} failed"));
        }
        if self.plain {
            let total = self.total.load(Ordering::Relaxed).max(1);
            let tenth = ended * 10 / total;
            if tenth > self.step.fetch_max(tenth, Ordering::Relaxed) {
                eprintln!("{}", self.plain_line(ended, failed));
            }
        }
    }

    /// `progress: 40/100 jobs ended (40%) · 12.3/s · ETA 5s · 2 failed`.
    fn plain_line(&self, ended: u64, failed: u64) -> String {
        let total = self.total.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = ended as f64 / seconds;
        let eta = if rate > 0.0 && total > ended {
            format!("{:.0}s", (total - ended) as f64 / rate)
        } else {
            "-".into()
        };
        format!(
            "progress: {ended}/{total} {} ended ({}%) · {rate:.1}/s · ETA {eta} · {failed} failed",
            self.unit,
            ended * 100 / total.max(1)
        )
    }

    /// Runs `print` (which writes lines of its own) without tearing the live line.
    pub fn println(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Ends the live line (left on screen as it stands).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
