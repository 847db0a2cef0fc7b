//! The HTML rendering: one self-contained page. Styles and script are inline, a
//! Content-Security-Policy forbids every request, every value is HTML-escaped, and no value is
//! ever placed inside the script or a style: the script only reads the rendered table cells.

use std::fmt::Write as _;

use super::{Report, Risk, risks_present, severity_label, severity_rank, severity_str};

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Text and attribute values (always double-quoted) escaped for HTML.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in HTML text; show them, do not pass them.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A sortable header cell.
struct Head {
    key: &'static str,
    title: &'static str,
    number: bool,
}

const fn text(key: &'static str, title: &'static str) -> Head {
    Head {
        key,
        title,
        number: false,
    }
}

const fn number(key: &'static str, title: &'static str) -> Head {
    Head {
        key,
        title,
        number: true,
    }
}

fn thead(out: &mut String, heads: &[Head], sorted: Option<(&str, bool)>) {
    out.push_str("<thead><tr>");
    for h in heads {
        let sort = match sorted {
            Some((k, desc)) if k == h.key => {
                if desc {
                    "descending"
                } else {
                    "ascending"
                }
            }
            _ => "none",
        };
        let _ = write!(
            out,
            "<th scope=\"col\" data-key=\"{}\" data-type=\"{}\" aria-sort=\"{sort}\"{}><button type=\"button\">{}</button></th>",
            h.key,
            if h.number { "number" } else { "text" },
            if h.number { " class=\"num\"" } else { "" },
            h.title
        );
    }
    out.push_str("</tr></thead>");
}

fn risk_badge(r: Risk) -> String {
    format!(
        "<span class=\"risk risk-{}\">{}</span>",
        r.as_str(),
        r.label()
    )
}

fn opt(v: Option<&str>) -> String {
    v.map(esc).unwrap_or_default()
}

fn count_label(out: &mut String, table: &str, n: usize) {
    let _ = write!(
        out,
        "<span class=\"count\" data-for=\"{table}\">{n} shown</span>"
    );
}

/// The report as one HTML page.
pub(super) fn render(r: &Report) -> String {
    let mut out = String::with_capacity(16 * 1024 + r.agents.len() * 600);
    let t = &r.totals;
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"copilot-connector inventory report\">\n");
    out.push_str("<title>Copilot agent inventory</title>\n<style>\n");
    out.push_str(CSS);
    out.push_str(
        "</style>\n</head>\n<body>\n<header>\n<h1>Copilot agent inventory</h1>\n<p class=\"meta\">",
    );
    let mut meta = Vec::new();
    if let Some(run) = &r.run_id {
        meta.push(format!("Scan <code>{}</code>", esc(run)));
    }
    if let Some(s) = &r.status {
        meta.push(format!("status <b id=\"scan-status\">{}</b>", esc(s)));
    }
    if let Some(at) = r.finished_at.as_deref().or(r.started_at.as_deref()) {
        meta.push(format!("finished {}", esc(at)));
    }
    if meta.is_empty() {
        meta.push("Scan details not recorded".to_owned());
    }
    out.push_str(&meta.join(", "));
    out.push_str("</p>\n<ul class=\"cards\" id=\"totals\">");
    let _ = write!(
        out,
        "<li><b>{}</b>agents</li><li><b>{}</b>environments</li><li><b>{}</b>findings</li><li><b>{}</b>coverage gaps</li>",
        t.agents, t.environments, t.findings, t.coverage_gaps
    );
    for k in Risk::ALL {
        let _ = write!(
            out,
            "<li><b>{}</b>{}</li>",
            t.agents_by_risk.get(k),
            risk_badge(k)
        );
    }
    out.push_str("</ul>\n");
    if !r.layers.is_empty() {
        out.push_str("<p class=\"meta\" id=\"layers\">");
        let parts: Vec<String> = r
            .layers
            .iter()
            .map(|l| {
                let mut p = format!(
                    "{}: <b>{}</b>",
                    esc(&l.layer.replace('_', " ")),
                    esc(&l.status)
                );
                if let Some(src) = &l.source {
                    p.push_str(&format!(" from {}", esc(src)));
                }
                if let Some(n) = l.count {
                    p.push_str(&format!(" ({n})"));
                }
                if let Some(d) = &l.detail {
                    p.push_str(&format!(": {}", esc(d)));
                }
                p
            })
            .collect();
        out.push_str(&parts.join("; "));
        out.push_str("</p>\n");
    }
    out.push_str("</header>\n<main>\n");

    // The controls filter every table (risk only the agents and findings).
    out.push_str("<div class=\"controls\" role=\"search\"><label>Filter <input id=\"filter\" type=\"search\" placeholder=\"agent, environment, check, evidence…\" autocomplete=\"off\"></label>");
    out.push_str("<label>Risk <select id=\"risk\"><option value=\"\">all levels</option>");
    for k in Risk::ALL {
        let _ = write!(
            out,
            "<option value=\"{}\">{} ({})</option>",
            k.as_str(),
            k.label(),
            t.agents_by_risk.get(k)
        );
    }
    out.push_str("</select></label><span class=\"hint\">Click a column header to sort; again to reverse.</span></div>\n");

    // Agents.
    out.push_str("<section><h2>Agents");
    count_label(&mut out, "agents", r.agents.len());
    out.push_str("</h2>\n");
    if r.agents.is_empty() {
        out.push_str("<p class=\"none\">No agent was found.</p>\n");
    }
    out.push_str("<table id=\"agents\" class=\"data\" data-risk-filter>");
    thead(
        &mut out,
        &[
            number("risk", "Risk"),
            text("agent", "Agent"),
            text("environment", "Environment"),
            number("findings", "Findings"),
            text("checks", "Checks found"),
            number("not-evaluated", "Not evaluated"),
            text("state", "State"),
            text("auth", "Authentication"),
        ],
        Some(("risk", true)),
    );
    out.push_str("<tbody>\n");
    for a in &r.agents {
        let _ = writeln!(
            out,
            "<tr data-risk=\"{}\" data-agent-id=\"{}\"><td data-value=\"{}\">{}</td><td>{}<span class=\"id\">{}</span></td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            a.risk.as_str(),
            esc(&a.agent_id),
            a.risk.rank(),
            risk_badge(a.risk),
            esc(&a.name),
            esc(&a.agent_id),
            esc(a.environment_name.as_deref().unwrap_or(&a.environment_id)),
            a.findings,
            esc(&a.checks_found.join(", ")),
            a.not_evaluated,
            opt(a.published_state.as_deref()),
            opt(a.auth_mode.as_deref()),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");

    // Findings.
    out.push_str("<section><h2>Findings");
    count_label(&mut out, "findings", r.findings.len());
    out.push_str("</h2>\n");
    if r.findings.is_empty() {
        out.push_str("<p class=\"none\">No finding.</p>\n");
    }
    out.push_str("<table id=\"findings\" class=\"data\" data-risk-filter>");
    thead(
        &mut out,
        &[
            number("severity", "Severity"),
            text("check", "Check"),
            text("agent", "Agent"),
            number("agent-risk", "Agent risk"),
            text("environment", "Environment"),
            text("evidence", "Evidence"),
        ],
        Some(("severity", true)),
    );
    out.push_str("<tbody>\n");
    for f in &r.findings {
        let _ = write!(
            out,
            "<tr data-risk=\"{}\" data-agent-id=\"{}\" data-check=\"{}\"><td data-value=\"{}\"><span class=\"risk risk-{}\">{}</span></td><td>{}<span class=\"id\">{}</span></td><td>{}</td><td data-value=\"{}\">{}</td><td>{}</td><td><ul class=\"evidence\">",
            f.agent_risk.as_str(),
            esc(&f.agent_id),
            esc(&f.check),
            severity_rank(f.severity),
            severity_str(f.severity),
            severity_label(f.severity),
            esc(&f.title),
            esc(&f.check),
            esc(&f.agent_name),
            f.agent_risk.rank(),
            risk_badge(f.agent_risk),
            esc(f.environment_name.as_deref().unwrap_or(&f.environment_id)),
        );
        for e in &f.evidence {
            out.push_str("<li><code>");
            out.push_str(&esc(e
                .column
                .as_deref()
                .or(e.path.as_deref())
                .unwrap_or("record")));
            out.push_str("</code>");
            if let Some(v) = &e.value {
                out.push_str(" = ");
                out.push_str(&esc(v));
            }
            let _ = write!(
                out,
                " <span class=\"id\">in {}</span></li>",
                esc(&e.source_id)
            );
        }
        out.push_str("</ul></td></tr>\n");
    }
    out.push_str("</tbody></table>\n</section>\n");

    // Coverage gaps.
    out.push_str("<section><h2>Coverage gaps");
    count_label(&mut out, "gaps", r.coverage_gaps.len());
    out.push_str("</h2>\n");
    if r.coverage_gaps.is_empty() {
        out.push_str("<p class=\"none\">None: every source was read.</p>\n");
    }
    out.push_str("<table id=\"gaps\" class=\"data\">");
    thead(
        &mut out,
        &[
            text("gap", "Gap"),
            text("environment", "Environment"),
            text("agent", "Agent"),
            text("detail", "Detail"),
        ],
        None,
    );
    out.push_str("<tbody>\n");
    let env_name = |id: Option<&str>| -> String {
        let Some(id) = id else {
            return String::new();
        };
        match r
            .environments
            .iter()
            .find(|e| e.environment_id.eq_ignore_ascii_case(id))
            .and_then(|e| e.name.as_deref())
        {
            Some(name) => format!("{}<span class=\"id\">{}</span>", esc(name), esc(id)),
            None => esc(id),
        }
    };
    for g in &r.coverage_gaps {
        let agent = match (&g.agent_name, &g.agent_id) {
            (Some(n), Some(id)) => format!("{}<span class=\"id\">{}</span>", esc(n), esc(id)),
            (None, Some(id)) => esc(id),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr data-code=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.code),
            esc(&g.code),
            env_name(g.environment_id.as_deref()),
            agent,
            esc(&g.detail)
        );
    }
    out.push_str("</tbody></table>\n</section>\n");

    // Environments.
    out.push_str("<section><h2>Environments");
    count_label(&mut out, "environments", r.environments.len());
    out.push_str("</h2>\n<table id=\"environments\" class=\"data\">");
    let mut heads = vec![
        text("environment", "Environment"),
        text("type", "Type"),
        text("outcome", "Outcome"),
        number("agents", "Agents"),
    ];
    heads.extend(Risk::ALL.map(|k| number(k.as_str(), k.label())));
    thead(&mut out, &heads, None);
    out.push_str("<tbody>\n");
    for e in &r.environments {
        let _ = write!(
            out,
            "<tr data-environment-id=\"{}\"><td>{}<span class=\"id\">{}</span></td><td>{}</td><td>{}{}</td><td class=\"num\">{}</td>",
            esc(&e.environment_id),
            esc(e.display_name()),
            esc(&e.environment_id),
            opt(e.kind.as_deref()),
            opt(e.outcome.as_deref()),
            e.detail
                .as_deref()
                .map(|d| format!("<span class=\"id\">{}</span>", esc(d)))
                .unwrap_or_default(),
            e.agents
        );
        for k in Risk::ALL {
            let _ = write!(out, "<td class=\"num\">{}</td>", e.agents_by_risk.get(k));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</section>\n</main>\n");
    let present: Vec<&str> = risks_present(r).iter().map(|k| k.as_str()).collect();
    let _ = writeln!(
        out,
        "<footer>Written by copilot-connector inventory report (report version {}). Risk levels present: {}. The page makes no request; it works offline.</footer>",
        r.report_version,
        if present.is_empty() {
            "none".to_owned()
        } else {
            present.join(", ")
        }
    );
    out.push_str("<script>\n");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}
