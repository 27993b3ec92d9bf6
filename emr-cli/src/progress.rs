//! Progress on stderr: an indicatif bar when stderr is a terminal, as wide
//! as the terminal at most; with `--progress` and stderr not a terminal, a
//! plain line at most once a second; nothing otherwise (a pipe or a log
//! file gets only the results) or with `--quiet`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emr_core::chain::BatchProgress;
use emr_core::mining::{Progress, SearchStats};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::count;

const PLAIN_EVERY: Duration = Duration::from_secs(1);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Plain,
    Off,
}

impl Mode {
    pub fn detect(quiet: bool, progress: bool) -> Mode {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else if progress {
            Mode::Plain
        } else {
            Mode::Off
        }
    }
}

/// `12.3 MH/s`.
pub fn rate(per_second: f64, unit: &str) -> String {
    let (value, prefix) = match per_second {
        r if r >= 1e9 => (r / 1e9, "G"),
        r if r >= 1e6 => (r / 1e6, "M"),
        r if r >= 1e3 => (r / 1e3, "k"),
        r => (r, ""),
    };
    format!("{value:.1} {prefix}{unit}")
}

/// `0.8 s`, `12 min`, `3.1 h`.
pub fn duration(seconds: f64) -> String {
    match seconds {
        s if !s.is_finite() => "?".to_owned(),
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// indicatif leaves the cursor at the end of a finished bar: the next
/// output starts on a line of its own.
fn end_line() {
    let _ = writeln!(std::io::stderr());
}

fn plain_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn bar(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

struct MineState {
    difficulty: f64,
    height: u64,
    last_plain: Instant,
}

/// Mining progress: blocks done of those asked for, the hash rate, and the
/// expected time per block at that rate (difficulty / rate: a block needs
/// `difficulty` hashes on average).
pub struct MineProgress {
    mode: Mode,
    bar: Option<ProgressBar>,
    total: u64,
    state: Arc<Mutex<MineState>>,
}

impl MineProgress {
    pub fn new(mode: Mode, total: u64) -> MineProgress {
        let bar = (mode == Mode::Bar).then(|| {
            bar(
                total,
                "{spinner} mining [{bar:20}] {pos}/{len} blocks  {wide_msg}",
            )
        });
        let state = MineState {
            difficulty: 1.0,
            height: 0,
            last_plain: Instant::now(),
        };
        MineProgress {
            mode,
            bar,
            total,
            state: Arc::new(Mutex::new(state)),
        }
    }

    pub fn block_started(&self, done: u64, height: u64, difficulty: u128) {
        if let Ok(mut s) = self.state.lock() {
            s.difficulty = difficulty as f64;
            s.height = height;
        }
        if let Some(bar) = &self.bar {
            bar.set_message(format!("height {height}, difficulty {difficulty}"));
        } else if self.mode == Mode::Plain && done == 0 {
            plain_line(&format!(
                "mining {} from height {height}, difficulty {difficulty}",
                count(self.total, "block", "blocks")
            ));
        }
    }

    /// The callback for `SearchOptions::progress`.
    pub fn callback(&self) -> Option<Box<dyn Fn(Progress) + Send + Sync>> {
        if self.mode == Mode::Off {
            return None;
        }
        let bar = self.bar.clone();
        let state = Arc::clone(&self.state);
        let asked = count(self.total, "block", "blocks");
        Some(Box::new(move |p: Progress| {
            let Ok(mut s) = state.lock() else { return };
            let expected = s.difficulty / p.hashes_per_second.max(1.0);
            let text = format!(
                "height {}, {} , ~{} per block expected",
                s.height,
                rate(p.hashes_per_second, "H/s"),
                duration(expected)
            )
            .replace(" ,", ",");
            match &bar {
                Some(bar) => bar.set_message(text),
                None => {
                    if s.last_plain.elapsed() >= PLAIN_EVERY {
                        s.last_plain = Instant::now();
                        plain_line(&format!(
                            "mining: {text} ({} hashes so far, {asked} asked)",
                            p.hashes
                        ));
                    }
                }
            }
        }))
    }

    /// A mined block: the bar moves on. Its line is the command's result,
    /// printed once, by [`MineProgress::result_line`].
    pub fn block_done(&self, stats: &SearchStats) {
        let difficulty = self.state.lock().map_or(1.0, |s| s.difficulty);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "{}, ~{} per block expected",
                rate(stats.hashes_per_second, "H/s"),
                duration(difficulty / stats.hashes_per_second.max(1.0))
            ));
        }
    }

    /// Prints a line of the result on stdout as soon as it is known, above
    /// the bar when there is one.
    pub fn result_line(&self, line: &str) {
        let print = || {
            let _ = writeln!(std::io::stdout(), "{line}");
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.disable_steady_tick();
            bar.abandon();
            end_line();
        }
    }
}

/// Import and check: blocks done of all, blocks and records per second.
pub struct BatchBar {
    mode: Mode,
    what: &'static str,
    bar: Option<ProgressBar>,
    /// `records_before[i]`: records in blocks `0..i`.
    records_before: Vec<u64>,
    started: Instant,
    last_plain: Mutex<Instant>,
}

impl BatchBar {
    pub fn new(
        mode: Mode,
        what: &'static str,
        records_per_block: impl IntoIterator<Item = u64>,
    ) -> BatchBar {
        let mut records_before = vec![0];
        for n in records_per_block {
            let last = *records_before.last().unwrap_or(&0);
            records_before.push(last + n);
        }
        let total = (records_before.len() - 1) as u64;
        let template = format!("{{spinner}} {what} [{{bar:20}}] {{pos}}/{{len}} blocks  {{wide_msg}}");
        let bar = (mode == Mode::Bar).then(|| bar(total, &template));
        let last_plain = Mutex::new(Instant::now());
        BatchBar {
            mode,
            what,
            bar,
            records_before,
            started: Instant::now(),
            last_plain,
        }
    }

    fn text(&self, done: u64) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-6);
        let records = self.records_before.get(done as usize).copied().unwrap_or(0);
        format!(
            "{}, {}",
            rate(done as f64 / seconds, "blocks/s"),
            rate(records as f64 / seconds, "records/s")
        )
    }

    pub fn update(&self, p: BatchProgress) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.done);
                bar.set_message(self.text(p.done));
            }
            None if self.mode == Mode::Plain => {
                let Ok(mut last) = self.last_plain.lock() else {
                    return;
                };
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    plain_line(&format!(
                        "{}: {}/{} blocks, {}",
                        self.what,
                        p.done,
                        p.total,
                        self.text(p.done)
                    ));
                }
            }
            None => {}
        }
    }

    pub fn finish(&self, done: u64) {
        let total = (self.records_before.len() - 1) as u64;
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(self.text(done));
                bar.disable_steady_tick();
                bar.abandon();
                end_line();
            }
            None if self.mode == Mode::Plain => {
                plain_line(&format!(
                    "{}: {done}/{total} blocks, {}",
                    self.what,
                    self.text(done)
                ));
            }
            None => {}
        }
    }
}
