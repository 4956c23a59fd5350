//! Colour for people, never for pipes: ANSI styles only when stdout is a
//! terminal and `NO_COLOR` is unset (https://no-color.org), and never in JSON.

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
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
