//! How the resource commands print: aligned tables, JSON and YAML documents, and the line diff
//! `apply --dry-run` shows for a changed resource.

use std::fmt::Write as _;

use serde::Serialize;

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}   ", w = widths[i]);
            }
        }
        out.push('\n');
    };
    line(&mut out, header.to_vec());
    for row in rows {
        line(&mut out, row.iter().map(String::as_str).collect());
    }
    out
}

/// A list of resources as a JSON array.
pub fn json<T: Serialize>(items: &[T]) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(items)? + "\n")
}

/// A list of resources as a YAML list (`[]` when empty).
pub fn yaml<T: Serialize>(items: &[T]) -> anyhow::Result<String> {
    Ok(serde_yaml_ng::to_string(items)?)
}

/// A line diff of `old` → `new`: unchanged lines with two spaces, removed with `-`, added with `+`.
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the ends.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let t = table(
            &["NAME", "KIND", "STATUS"],
            &[
                vec!["listener".into(), "listener".into(), "active".into()],
                vec!["a".into(), "snippet".into(), "inactive: boom".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME       KIND       STATUS\nlistener   listener   active\na          snippet    inactive: boom\n"
        );
    }

    #[test]
    fn diffs_mark_removed_and_added_lines() {
        let d = diff(
            "kind: snippet\ncode: pong\nname: x\n",
            "kind: snippet\ncode: pang\nname: x\n",
        );
        assert_eq!(d, "  kind: snippet\n- code: pong\n+ code: pang\n  name: x\n");
        assert_eq!(diff("", "a\n"), "+ a\n");
    }
}
