//! Progress for long commands: an indicatif bar on a terminal, plain periodic log lines
//! (through `tracing`, so `--log-json` makes them JSON) when stderr goes to a file.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between plain progress lines when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    last_line: Option<Instant>,
    last_text: String,
}

impl Progress {
    /// A bar of `len` units labelled `prefix`, or periodic lines; nothing when `quiet`.
    pub fn new(quiet: bool, len: u64, prefix: &str) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(len);
            let style = ProgressStyle::with_template("{prefix} [{bar:28}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(prefix.to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            quiet,
            last_line: None,
            last_text: String::new(),
        }
    }

    /// Moves to `pos` with message `msg`; in line mode logs `line()` at most every 5 s.
    pub fn update(&mut self, pos: u64, msg: impl FnOnce() -> String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => {
                b.set_position(pos);
                b.set_message(msg());
            }
            None => {
                if self.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
                    self.last_line = Some(Instant::now());
                    self.last_text = msg();
                    tracing::info!(target: "evonas::progress", "{}", self.last_text);
                }
            }
        }
    }

    /// Clears the bar; in line mode logs the final state.
    pub fn finish(&mut self, msg: String) {
        if self.quiet {
            return;
        }
        match self.bar.take() {
            Some(b) => {
                b.finish_and_clear();
                eprintln!("{msg}");
            }
            // The final state, unless the last periodic line already said exactly this.
            None if msg != self.last_text => tracing::info!(target: "evonas::progress", "{msg}"),
            None => {}
        }
    }
}

/// Sets up logging to stderr: `-v` for debug, `-vv` for trace (default info; `EVONAS_LOG`
/// takes a full filter such as `evonas=debug,sled=warn`); `--log-json` for one JSON object
/// per event.
pub fn init_logging(verbose: u8, json: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("EVONAS_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("evonas={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if json {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
    if let Err(e) = result {
        eprintln!("warning: logging not set up: {e}");
    }
}
