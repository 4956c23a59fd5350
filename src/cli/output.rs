//! Renderers shared by the commands: etcdutl's table style and byte sizes.

/// `humanize.Bytes` (go-humanize v1.0.x): SI units, e.g. `25 kB`, `2.1 MB`.
pub fn humanize_bytes(s: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if s < 10 {
        return format!("{s} B");
    }
    // e = floor(log1000(s)), computed exactly on integers.
    let mut e = 0usize;
    let mut t = s;
    while t >= 1000 && e + 1 < UNITS.len() {
        t /= 1000;
        e += 1;
    }
    let base = 1000f64.powi(i32::try_from(e).unwrap_or(0));
    #[allow(clippy::cast_precision_loss)]
    let val = ((s as f64) / base * 10.0 + 0.5).floor() / 10.0;
    let unit = UNITS.get(e).copied().unwrap_or("EB");
    // Rust and Go both round half to even on the exact binary value.
    if val < 10.0 {
        format!("{val:.1} {unit}")
    } else {
        format!("{val:.0} {unit}")
    }
}

/// How a table cell is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Right-aligned (etcdutl's data cells).
    Right,
    /// Left-aligned.
    Left,
}

/// A table in the style of olekukonko/tablewriter v0.0.5 as etcdutl sets it up:
/// `+-|` borders, one space of padding, headers upper-cased and centred
/// (floor(gap/2) spaces on the left), data cells aligned per `align`.
pub fn table(headers: &[&str], rows: &[Vec<String>], align: Align) -> String {
    table_with(headers, rows, align, Border::Ascii)
}

/// How a table's lines are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// `+-|`: tablewriter v0.0.5 (etcdutl 3.4–3.6).
    Ascii,
    /// `┌─┬┐│├┼┤└┴┘`: tablewriter 1.x (etcdutl 3.7); same padding and alignment.
    Box,
}

/// The glyphs of one horizontal rule: left end, fill, junction, right end.
fn rule(border: Border, width: &[usize], at: Rule) -> String {
    let (l, f, j, r) = match (border, at) {
        (Border::Ascii, _) => ('+', '-', '+', '+'),
        (Border::Box, Rule::Top) => ('┌', '─', '┬', '┐'),
        (Border::Box, Rule::Middle) => ('├', '─', '┼', '┤'),
        (Border::Box, Rule::Bottom) => ('└', '─', '┴', '┘'),
    };
    let mut b = String::new();
    b.push(l);
    for (i, w) in width.iter().enumerate() {
        if i > 0 {
            b.push(j);
        }
        b.extend(std::iter::repeat_n(f, w + 2));
    }
    b.push(r);
    b.push('\n');
    b
}

#[derive(Clone, Copy)]
enum Rule {
    Top,
    Middle,
    Bottom,
}

/// [`table`] with the given border style.
pub fn table_with(headers: &[&str], rows: &[Vec<String>], align: Align, border: Border) -> String {
    let bar = if border == Border::Box { '│' } else { '|' };
    let heads: Vec<String> = headers.iter().map(|h| title(h)).collect();
    let ncol = heads.len();
    let mut width: Vec<usize> = heads.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(ncol) {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    out.push_str(&rule(border, &width, Rule::Top));
    out.push(bar);
    for (h, w) in heads.iter().zip(&width) {
        let gap = w.saturating_sub(h.chars().count());
        let left = gap / 2;
        out.push(' ');
        out.push_str(&" ".repeat(left));
        out.push_str(h);
        out.push_str(&" ".repeat(gap - left));
        out.push(' ');
        out.push(bar);
    }
    out.push('\n');
    out.push_str(&rule(border, &width, Rule::Middle));
    for row in rows {
        out.push(bar);
        for (i, w) in width.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            let gap = w.saturating_sub(cell.chars().count());
            out.push(' ');
            match align {
                Align::Right => {
                    out.push_str(&" ".repeat(gap));
                    out.push_str(cell);
                }
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(gap));
                }
            }
            out.push(' ');
            out.push(bar);
        }
        out.push('\n');
    }
    out.push_str(&rule(border, &width, Rule::Bottom));
    out
}

/// tablewriter's header auto-format: `_` (and `.` between non-digits) become
/// spaces, trimmed, upper-cased.
fn title(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let is_num_or_space = |c: Option<&char>| c.is_none_or(|c| c.is_ascii_digit() || *c == ' ');
    let mapped: String = chars
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            '_' => ' ',
            '.' if !is_num_or_space(i.checked_sub(1).and_then(|j| chars.get(j)))
                || !is_num_or_space(chars.get(i + 1)) =>
            {
                ' '
            }
            c => *c,
        })
        .collect();
    let t = mapped.trim();
    if t.is_empty() && !name.is_empty() {
        " ".into()
    } else {
        t.to_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_matches_go() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(24576), "25 kB");
        assert_eq!(humanize_bytes(2_097_152), "2.1 MB");
        assert_eq!(humanize_bytes(1000), "1.0 kB");
        assert_eq!(humanize_bytes(999), "999 B");
        assert_eq!(humanize_bytes(1_073_741_824), "1.1 GB");
    }

    #[test]
    fn box_table_matches_etcdutl_3_7() {
        // testdata/etcd-3.7.3/basic/expected/raw.db.hashkv.table
        let t = table_with(
            &["hash", "hash revision", "compact revision"],
            &[vec!["876240483".into(), "31".into(), "25".into()]],
            Align::Right,
            Border::Box,
        );
        let want = "\
┌───────────┬───────────────┬──────────────────┐
│   HASH    │ HASH REVISION │ COMPACT REVISION │
├───────────┼───────────────┼──────────────────┤
│ 876240483 │            31 │               25 │
└───────────┴───────────────┴──────────────────┘
";
        assert_eq!(t, want);
    }

    #[test]
    fn table_matches_etcdutl() {
        let t = table(
            &["hash", "revision", "total keys", "total size"],
            &[vec![
                "d5237da4".into(),
                "37".into(),
                "43".into(),
                "25 kB".into(),
            ]],
            Align::Right,
        );
        let want = "\
+----------+----------+------------+------------+
|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |
+----------+----------+------------+------------+
| d5237da4 |       37 |         43 |      25 kB |
+----------+----------+------------+------------+
";
        assert_eq!(t, want);
    }
}
