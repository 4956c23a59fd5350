//! Colour for people, never for pipes: ANSI styles only when stdout is a
//! terminal and `NO_COLOR` is unset (https://no-color.org), and never in JSON.
//! `CLICOLOR_FORCE` (set and not `0`) forces colour onto a pipe, as in
//! https://bixense.com/clicolors/; `NO_COLOR` still wins.

use std::io::IsTerminal;

/// A style for a verdict or a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// All is well.
    Good,
    /// Worth a look.
    Warn,
    /// Something is wrong.
    Bad,
}

/// Whether stdout gets colour.
pub fn enabled() -> bool {
    let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    set("CLICOLOR_FORCE").is_some_and(|v| v != "0") || std::io::stdout().is_terminal()
}

/// `s` in `style` when colour is on, else `s` unchanged.
pub fn paint(s: &str, style: Style) -> String {
    if !enabled() {
        return s.to_string();
    }
    let code = match style {
        Style::Good => "1;32",
        Style::Warn => "1;33",
        Style::Bad => "1;31",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}
