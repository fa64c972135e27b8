//! Plain-text tables for `dsr bench` and `dsr demo`, in Markdown pipe
//! syntax so a run's output can be pasted into `docs/benchmarks.md` as is,
//! and the small number formatters they share.

/// A table: a header row and data rows, printed with aligned columns
/// (first column left-aligned, the others right-aligned).
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let cell = |r: &Vec<String>, c: usize| r.get(c).cloned().unwrap_or_default();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| cell(r, c).chars().count())
                    .chain([self.header[c].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let mut s = String::from("|");
            for (c, w) in widths.iter().enumerate() {
                let v = &cells[c];
                if c == 0 {
                    s += &format!(" {v:<w$} |");
                } else {
                    s += &format!(" {v:>w$} |");
                }
            }
            s
        };
        let mut out = line(self.header.clone());
        out.push('\n');
        let mut rule = String::from("|");
        for (c, w) in widths.iter().enumerate() {
            if c == 0 {
                rule += &format!(" {} |", "-".repeat(*w));
            } else {
                rule += &format!(" {}: |", "-".repeat(w - 1));
            }
        }
        out += &rule;
        out.push('\n');
        for r in &self.rows {
            out += &line((0..cols).map(|c| cell(r, c)).collect());
            out.push('\n');
        }
        out
    }
}

/// Bytes as MiB ("24.0 MiB", "0.25 MiB").
pub fn mib(bytes: u64) -> String {
    let v = bytes as f64 / (1u64 << 20) as f64;
    if v < 1.0 {
        format!("{v:.2} MiB")
    } else {
        format!("{v:.1} MiB")
    }
}

/// Throughput in MB/s (10^6 bytes per second).
pub fn mb_per_s(bytes: u64, secs: f64) -> String {
    let v = bytes as f64 / secs.max(1e-9) / 1e6;
    if v < 10.0 {
        format!("{v:.2} MB/s")
    } else {
        format!("{v:.0} MB/s")
    }
}

/// Seconds with adaptive precision.
pub fn secs(s: f64) -> String {
    if s < 0.01 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A ratio ("1.25x"; more digits below 0.1).
pub fn times(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.4}x")
    } else {
        format!("{r:.2}x")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_markdown() {
        let mut t = Table::new(&["name", "value"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "12345".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "| name   | value |");
        assert_eq!(lines[1], "| ------ | ----: |");
        assert_eq!(lines[2], "| a      |     1 |");
        assert_eq!(lines[3], "| longer | 12345 |");
        assert_eq!(t.len(), 2);
    }
}
