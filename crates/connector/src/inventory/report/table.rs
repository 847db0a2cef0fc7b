//! The terminal rendering: aligned columns measured in display width (a CJK character takes
//! two cells), long cells cut with `…`, control characters shown as `�`, colour only when asked.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{Report, Risk, Severity, severity_label};

/// One cell: its text and, with colour on, its ANSI style.
pub(super) struct Cell {
    text: String,
    style: Option<&'static str>,
}

impl Cell {
    fn plain(text: impl AsRef<str>) -> Self {
        Cell {
            text: clean(text.as_ref()),
            style: None,
        }
    }

    fn styled(text: impl AsRef<str>, style: &'static str) -> Self {
        Cell {
            text: clean(text.as_ref()),
            style: Some(style),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Column {
    title: &'static str,
    max: usize,
    align: Align,
}

const fn col(title: &'static str, max: usize) -> Column {
    Column {
        title,
        max,
        align: Align::Left,
    }
}

const fn num(title: &'static str) -> Column {
    Column {
        title,
        max: 12,
        align: Align::Right,
    }
}

/// Control characters (newlines, escape sequences) would break the layout or drive the
/// terminal: each is shown as `�`.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// `s` cut to at most `width` display cells, ending in `…` when cut.
pub(super) fn fit(s: &str, width: usize) -> String {
    if UnicodeWidthStr::width(s) <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

const EVIDENCE_WIDTH: usize = 80;

fn risk_style(r: Risk) -> &'static str {
    match r {
        Risk::Critical => "1;31",
        Risk::High => "31",
        Risk::Medium => "33",
        Risk::Low => "32",
        Risk::Unknown => "2",
    }
}

fn severity_style(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        _ => "32",
    }
}

fn paint(text: &str, style: Option<&str>, color: bool) -> String {
    match style {
        Some(st) if color => format!("\x1b[{st}m{text}\x1b[0m"),
        _ => text.to_owned(),
    }
}

/// Lays out rows under headers, each column as wide as its widest cell up to its maximum.
fn grid(out: &mut String, columns: &[Column], rows: &[Vec<Cell>], indent: &str, color: bool) {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| UnicodeWidthStr::width(cell.text.as_str()))
                .chain(std::iter::once(UnicodeWidthStr::width(c.title)))
                .max()
                .unwrap_or(0)
                .min(c.max.max(c.title.len()))
        })
        .collect();
    let line = |out: &mut String, cells: Vec<(String, Option<&str>)>| {
        out.push_str(indent);
        let last = cells.len().saturating_sub(1);
        for (i, (text, style)) in cells.into_iter().enumerate() {
            let text = fit(&text, widths[i]);
            let pad = widths[i].saturating_sub(UnicodeWidthStr::width(text.as_str()));
            let painted = paint(&text, style, color);
            match columns[i].align {
                Align::Right => {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(&painted);
                }
                Align::Left if i == last => out.push_str(&painted),
                Align::Left => {
                    out.push_str(&painted);
                    out.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                out.push_str("  ");
            }
        }
        // Never a trailing blank.
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    };
    line(
        out,
        columns
            .iter()
            .map(|c| (c.title.to_owned(), Some("1")))
            .collect(),
    );
    for r in rows {
        line(out, r.iter().map(|c| (c.text.clone(), c.style)).collect());
    }
}

fn heading(out: &mut String, title: &str, color: bool) {
    out.push('\n');
    out.push_str(&paint(title, Some("1;4"), color));
    out.push('\n');
}

/// The report as terminal text.
pub(super) fn render(r: &Report, options: &super::RenderOptions) -> String {
    let color = options.color;
    let mut out = String::new();
    let t = &r.totals;
    let mut title = "Copilot agent inventory".to_owned();
    if let Some(run) = &r.run_id {
        title.push_str(&format!(" — scan {}", clean(run)));
    }
    if let Some(s) = &r.status {
        title.push_str(&format!(" ({})", clean(s)));
    }
    out.push_str(&paint(&title, Some("1"), color));
    out.push('\n');
    if let Some(at) = r.finished_at.as_deref().or(r.started_at.as_deref()) {
        out.push_str(&format!("finished {}\n", clean(at)));
    }
    out.push_str(&format!("{}\n", t.describe()));
    let risks: Vec<String> = Risk::ALL
        .iter()
        .map(|k| {
            paint(
                &format!("{} {}", t.agents_by_risk.get(*k), k.as_str()),
                Some(risk_style(*k)),
                color && t.agents_by_risk.get(*k) > 0,
            )
        })
        .collect();
    out.push_str(&format!("risk: {}\n", risks.join(", ")));
    for l in &r.layers {
        out.push_str(&format!("  {}\n", fit(&clean(&l.describe()), 160)));
    }

    heading(&mut out, "Agents by environment", color);
    if r.environments.is_empty() {
        out.push_str("  (no environment)\n");
    }
    const AGENT_COLUMNS: [Column; 7] = [
        col("RISK", 8),
        col("AGENT", 40),
        num("FINDINGS"),
        col("CHECKS FOUND", 60),
        num("NOT EVALUATED"),
        col("STATE", 12),
        col("AUTHENTICATION", 28),
    ];
    for e in &r.environments {
        let mut head = clean(e.display_name());
        let mut facts = Vec::new();
        if let Some(k) = &e.kind {
            facts.push(clean(k));
        }
        if e.name.is_some() {
            facts.push(clean(&e.environment_id));
        }
        if !facts.is_empty() {
            head.push_str(&format!(" [{}]", facts.join(", ")));
        }
        if let Some(o) = &e.outcome {
            head.push_str(&format!(" {}", clean(o)));
        }
        head.push_str(&format!(": {} agent(s)", e.agents));
        out.push('\n');
        out.push_str(&fit(&head, 160));
        out.push('\n');
        if let Some(d) = &e.detail {
            out.push_str(&format!("  {}\n", fit(&clean(d), 160)));
        }
        let rows: Vec<Vec<Cell>> = r
            .agents
            .iter()
            .filter(|a| a.environment_id.eq_ignore_ascii_case(&e.environment_id))
            .map(|a| {
                vec![
                    Cell::styled(a.risk.label(), risk_style(a.risk)),
                    Cell::plain(&a.name),
                    Cell::plain(a.findings.to_string()),
                    Cell::plain(a.checks_found.join(", ")),
                    Cell::plain(a.not_evaluated.to_string()),
                    Cell::plain(a.published_state.as_deref().unwrap_or("")),
                    Cell::plain(a.auth_mode.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        if !rows.is_empty() {
            grid(&mut out, &AGENT_COLUMNS, &rows, "  ", color);
        }
    }

    heading(&mut out, "Findings", color);
    if r.findings.is_empty() {
        out.push_str("  (no finding)\n");
    } else {
        const FINDING_COLUMNS: [Column; 5] = [
            col("SEVERITY", 8),
            col("CHECK", 34),
            col("AGENT", 32),
            col("ENVIRONMENT", 28),
            col("EVIDENCE", EVIDENCE_WIDTH),
        ];
        let rows: Vec<Vec<Cell>> = r
            .findings
            .iter()
            .map(|f| {
                let first = f
                    .evidence
                    .first()
                    .map(|e| clean(&e.describe()))
                    .unwrap_or_default();
                // The count of further evidence survives the cut.
                let evidence = if f.evidence.len() > 1 {
                    let more = format!(" (+{} more)", f.evidence.len() - 1);
                    format!("{}{more}", fit(&first, EVIDENCE_WIDTH - more.len()))
                } else {
                    first
                };
                vec![
                    Cell::styled(severity_label(f.severity), severity_style(f.severity)),
                    Cell::plain(&f.check),
                    Cell::plain(&f.agent_name),
                    Cell::plain(f.environment_name.as_deref().unwrap_or(&f.environment_id)),
                    Cell::plain(evidence),
                ]
            })
            .collect();
        grid(&mut out, &FINDING_COLUMNS, &rows, "  ", color);
    }

    heading(&mut out, "Coverage gaps", color);
    if r.coverage_gaps.is_empty() {
        out.push_str("  (none: every source was read)\n");
    } else {
        const GAP_COLUMNS: [Column; 4] = [
            col("GAP", 40),
            col("ENVIRONMENT", 36),
            col("AGENT", 36),
            col("DETAIL", 90),
        ];
        let rows: Vec<Vec<Cell>> = r
            .coverage_gaps
            .iter()
            .map(|g| {
                vec![
                    Cell::plain(&g.code),
                    Cell::plain(
                        g.environment_name
                            .as_deref()
                            .or(g.environment_id.as_deref())
                            .unwrap_or(""),
                    ),
                    Cell::plain(
                        g.agent_name
                            .as_deref()
                            .or(g.agent_id.as_deref())
                            .unwrap_or(""),
                    ),
                    Cell::plain(&g.detail),
                ]
            })
            .collect();
        grid(&mut out, &GAP_COLUMNS, &rows, "  ", color);
    }
    out
}
