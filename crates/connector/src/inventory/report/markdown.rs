//! The Markdown rendering: GitHub-style pipe tables, every cell escaped so that no value can
//! end a cell, start markup or inject HTML.

use super::{Report, Risk, severity_label};

/// A value as Markdown text inside a table cell: the punctuation that ends a cell or starts
/// inline markup (emphasis, code, links, HTML, entities, strike-through, math) is escaped with a
/// backslash, which CommonMark allows before any ASCII punctuation; line breaks become spaces.
/// Block markup (`#`, `-` ...) needs no escape, as a cell never starts a line.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '&' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn table(out: &mut String, headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    out.push_str("| ");
    out.push_str(&headers.join(" | "));
    out.push_str(" |\n|");
    for _ in headers {
        out.push_str("---|");
    }
    out.push('\n');
    for r in rows {
        out.push_str("| ");
        out.push_str(&r.join(" | "));
        out.push_str(" |\n");
    }
}

/// The report as Markdown.
pub(super) fn render(r: &Report) -> String {
    let mut out = String::from("# Copilot agent inventory\n\n");
    let t = &r.totals;
    if let Some(run) = &r.run_id {
        out.push_str(&format!("- Scan: `{}`", run.replace('`', "'")));
        if let Some(s) = &r.status {
            out.push_str(&format!(" ({})", escape(s)));
        }
        out.push('\n');
    }
    if let Some(at) = r.finished_at.as_deref().or(r.started_at.as_deref()) {
        out.push_str(&format!("- Finished: {}\n", escape(at)));
    }
    out.push_str(&format!("- {}\n", t.describe()));
    let risks: Vec<String> = Risk::ALL
        .iter()
        .map(|k| format!("{} {}", t.agents_by_risk.get(*k), k.as_str()))
        .collect();
    out.push_str(&format!("- Risk: {}\n", risks.join(", ")));
    for l in &r.layers {
        out.push_str(&format!("- {}\n", escape(&l.describe())));
    }

    out.push_str("\n## Environments\n\n");
    table(
        &mut out,
        &[
            "Environment",
            "Type",
            "Id",
            "Outcome",
            "Agents",
            "Critical",
            "High",
            "Medium",
            "Unknown",
            "Low",
        ],
        r.environments.iter().map(|e| {
            let mut row = vec![
                escape(e.display_name()),
                escape(e.kind.as_deref().unwrap_or("")),
                escape(&e.environment_id),
                escape(e.outcome.as_deref().unwrap_or("")),
                e.agents.to_string(),
            ];
            row.extend(
                Risk::ALL
                    .iter()
                    .map(|k| e.agents_by_risk.get(*k).to_string()),
            );
            row
        }),
    );

    out.push_str("\n## Agents\n\n");
    table(
        &mut out,
        &[
            "Risk",
            "Agent",
            "Environment",
            "Findings",
            "Checks found",
            "Not evaluated",
            "State",
            "Authentication",
        ],
        r.agents.iter().map(|a| {
            vec![
                a.risk.label().to_owned(),
                escape(&a.name),
                escape(a.environment_name.as_deref().unwrap_or(&a.environment_id)),
                a.findings.to_string(),
                escape(&a.checks_found.join(", ")),
                a.not_evaluated.to_string(),
                escape(a.published_state.as_deref().unwrap_or("")),
                escape(a.auth_mode.as_deref().unwrap_or("")),
            ]
        }),
    );

    out.push_str("\n## Findings\n\n");
    if r.findings.is_empty() {
        out.push_str("No finding.\n");
    } else {
        table(
            &mut out,
            &["Severity", "Check", "Agent", "Environment", "Evidence"],
            r.findings.iter().map(|f| {
                let evidence: Vec<String> =
                    f.evidence.iter().map(|e| escape(&e.describe())).collect();
                vec![
                    severity_label(f.severity).to_owned(),
                    format!("{} ({})", escape(&f.title), escape(&f.check)),
                    escape(&f.agent_name),
                    escape(f.environment_name.as_deref().unwrap_or(&f.environment_id)),
                    evidence.join("<br>"),
                ]
            }),
        );
    }

    out.push_str("\n## Coverage gaps\n\n");
    if r.coverage_gaps.is_empty() {
        out.push_str("None: every source was read.\n");
    } else {
        table(
            &mut out,
            &["Gap", "Environment", "Agent", "Detail"],
            r.coverage_gaps.iter().map(|g| {
                vec![
                    escape(&g.code),
                    escape(
                        g.environment_name
                            .as_deref()
                            .or(g.environment_id.as_deref())
                            .unwrap_or(""),
                    ),
                    escape(
                        g.agent_name
                            .as_deref()
                            .or(g.agent_id.as_deref())
                            .unwrap_or(""),
                    ),
                    escape(&g.detail),
                ]
            }),
        );
    }
    out
}
