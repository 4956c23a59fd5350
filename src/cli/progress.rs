//! A progress bar on stderr for passes over big files: only on a terminal,
//! only when the file is big enough for the pass to take about a second, and
//! never on stdout.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use etcd_rescue::ops::ProgressFn;

/// Pages below which no bar is shown (256 MiB of 4 KiB pages).
const MIN_PAGES: u64 = 64 * 1024;

/// Bytes of input below which no spinner is shown.
const MIN_SPINNER_BYTES: u64 = 256 * 1024 * 1024;

/// A spinner with elapsed time, for long operations that report no page
/// counts (restore, compare): shown only on a terminal and only when the inputs
/// add up to at least 256 MiB. Cleared when dropped.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Starts a spinner for `label` over inputs of `bytes` in total.
    pub fn start(label: &str, bytes: u64) -> Spinner {
        if !std::io::stderr().is_terminal() || bytes < MIN_SPINNER_BYTES {
            return Spinner(None);
        }
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            b.set_style(style);
        }
        b.set_message(label.to_string());
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(Some(b))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

/// Total size of the files under `paths` (for deciding on a spinner).
pub fn total_bytes(paths: &[std::path::PathBuf]) -> u64 {
    fn walk(p: &std::path::Path, depth: u32) -> u64 {
        let Ok(m) = std::fs::metadata(p) else {
            return 0;
        };
        if m.is_file() {
            return m.len();
        }
        if !m.is_dir() || depth > 4 {
            return 0;
        }
        std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| walk(&e.path(), depth + 1)).sum())
            .unwrap_or(0)
    }
    paths.iter().map(|p| walk(p, 0)).sum()
}

/// Below this much elapsed time the rate is not known well enough for an ETA.
const MIN_ETA_ELAPSED: Duration = Duration::from_millis(500);

/// The time left from the rate so far (`done` of `total` in `elapsed`), or
/// `None` when it cannot be told yet (nothing done, too early) or nothing is
/// left. Never "0s" while work remains: the seconds are rounded up.
/// (indicatif's `{eta}` shows "0s" until its rate estimate warms up.)
pub fn time_left(done: u64, total: u64, elapsed: Duration) -> Option<String> {
    if done == 0 || done >= total || elapsed < MIN_ETA_ELAPSED {
        return None;
    }
    let ms = elapsed.as_millis().saturating_mul(u128::from(total - done)) / u128::from(done);
    let s = u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX).max(1);
    Some(if s >= 3600 {
        format!("{}h {:02}m left", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m {:02}s left", s / 60, s % 60)
    } else {
        format!("{s}s left")
    })
}

/// A bar that appears on the first progress report of a big enough pass.
pub struct Bar {
    label: &'static str,
    bar: Arc<Mutex<Option<ProgressBar>>>,
    enabled: bool,
}

impl Bar {
    /// A bar for `label` (e.g. "checking"); inert unless stderr is a terminal.
    pub fn new(label: &'static str) -> Bar {
        Bar {
            label,
            bar: Arc::new(Mutex::new(None)),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// The callback to hand to an operation (`None` when no bar can show).
    pub fn callback(&self) -> Option<ProgressFn> {
        if !self.enabled {
            return None;
        }
        let slot = Arc::clone(&self.bar);
        let label = self.label;
        Some(Arc::new(move |done: u64, total: u64| {
            if total < MIN_PAGES {
                return;
            }
            let Ok(mut guard) = slot.lock() else { return };
            let bar = guard.get_or_insert_with(|| {
                let b = ProgressBar::with_draw_target(
                    Some(total),
                    ProgressDrawTarget::stderr_with_hz(8),
                );
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg} [{bar:40}] {percent:>3}% {pos}/{len} pages{left}",
                ) {
                    b.set_style(style.progress_chars("=> ").with_key(
                        "left",
                        |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                            if let Some(t) = time_left(s.pos(), s.len().unwrap_or(0), s.elapsed()) {
                                let _ = write!(w, ", {t}");
                            }
                        },
                    ));
                }
                b.set_message(label);
                b
            });
            bar.set_position(done.min(total));
        }))
    }

    /// Clears the bar from the terminal.
    pub fn finish(&self) {
        if let Ok(mut guard) = self.bar.lock() {
            if let Some(b) = guard.take() {
                b.finish_and_clear();
            }
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_real_or_absent() {
        let sec = Duration::from_secs(1);
        // Nothing done yet, or too early: no estimate, not "0s".
        assert_eq!(time_left(0, 100, sec * 5), None);
        assert_eq!(time_left(10, 100, Duration::from_millis(100)), None);
        // Done: nothing left to show.
        assert_eq!(time_left(100, 100, sec * 5), None);
        // A tenth in 2 s: 18 s for the rest.
        assert_eq!(time_left(10, 100, sec * 2).as_deref(), Some("18s left"));
        // Almost done, fast: still at least 1 s while work remains.
        assert_eq!(
            time_left(999_999, 1_000_000, sec).as_deref(),
            Some("1s left")
        );
        assert_eq!(time_left(1, 100, sec * 2).as_deref(), Some("3m 18s left"));
        assert_eq!(time_left(1, 10_000, sec).as_deref(), Some("2h 46m left"));
        for done in 1..100 {
            let t = time_left(done, 100, sec).unwrap_or_default();
            assert!(!t.starts_with("0s"), "{done}: {t}");
        }
    }
}
