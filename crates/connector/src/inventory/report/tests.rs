#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use unicode_width::UnicodeWidthStr;

use super::*;

pub(crate) const SCRIPT_NAME: &str = "<script>alert(1)</script>";
pub(crate) const QUOTE_NAME: &str = "Tom & \"Jerry's\" <b>bot</b>";
pub(crate) const CJK_NAME: &str = "日本語のエージェント Ünïcødé ассистент";
pub(crate) const PIPE_NAME: &str = "pipes | and *stars* and `ticks`";

fn posture(agent: &str, env: &str, risk: &str, found: &[(&str, &str, &str)]) -> Value {
    let mut results: Vec<Value> = found
        .iter()
        .map(|(check, column, value)| {
            json!({
                "check": check,
                "severity": CheckId::from_id(check).map(|c| severity_str(c.severity())).unwrap_or("medium"),
                "status": "found",
                "evidence": [{ "source_id": agent, "column": column, "value": value }]
            })
        })
        .collect();
    results.push(json!({ "check": "orphaned-owner", "severity": "high", "status": "not_evaluated", "reason": "not read" }));
    results.push(json!({ "check": "dormant", "severity": "low", "status": "not_found" }));
    json!({ "agent_id": agent, "environment_id": env, "risk": risk, "results": results })
}

fn agent(id: &str, env: &str, name: &str) -> Value {
    json!({
        "fsi_agentid": id, "fsi_environmentid": env, "fsi_agentname": name, "fsi_name": name,
        "fsi_publishedstate": "Published", "fsi_authmode": "No authentication"
    })
}

/// A scan document shaped like `inventory scan --output` writes, with hostile names.
pub(crate) fn sample() -> Value {
    json!({
        "fsi_copilotagent": [
            agent("a-1", "env-a", SCRIPT_NAME),
            agent("a-2", "env-a", QUOTE_NAME),
            agent("a-3", "ENV-B", CJK_NAME),
            agent("a-4", "env-b", PIPE_NAME),
            agent("a-5", "env-b", "Quiet helper"),
            agent("a-6", "env-c", "Long name that goes on and on well past any column width a terminal table would give it"),
        ],
        "fsi_caienvironment": [
            { "fsi_environmentid": "env-a", "fsi_environmentname": "Contoso Prod", "fsi_environmenttype": "Production", "fsi_environmenturl": "https://contoso.crm.dynamics.com/" },
            { "fsi_environmentid": "env-b", "fsi_environmentname": "Fabrikam Dev", "fsi_environmenttype": "Developer" },
            { "fsi_environmentid": "env-c", "fsi_environmentname": "Zeta Sandbox", "fsi_environmenttype": "Sandbox" },
            { "fsi_environmentid": "env-d", "fsi_environmentname": "Locked", "fsi_environmenttype": "Production" }
        ],
        "fsi_caicompliancestate": [
            { "fsi_agentid": "a-6", "fsi_environmentid": "env-c", "fsi_risklevel": 100000001 }
        ],
        "postures": [
            posture("a-1", "env-a", "Critical", &[("shared-with-everyone", "bot.accesscontrolpolicy", "0 (Any)"), ("no-end-user-auth", "bot.authenticationmode", "1 (None)"), ("hard-coded-credentials", "bot.configuration", "<redacted> & more")]),
            posture("a-2", "env-a", "High", &[("no-end-user-auth", "bot.authenticationmode", "1 (None)")]),
            posture("a-3", "env-b", "Medium", &[("public-knowledge", "/aISettings/useModelKnowledge", "true")]),
            posture("a-4", "env-b", "High", &[("maker-credentials", "connectionProperties.mode", "Maker | \"quoted\""), ("http-request", "/beginDialog/actions/0/url", "http://internal.example/api")]),
            posture("a-5", "env-b", "Unknown", &[]),
        ],
        "summary": {
            "run_id": "run-42", "status": "partial",
            "layers": {
                "dataverse": { "status": "partial", "count": 3, "detail": "1 environment(s) could not be read" },
                "environment_list": { "status": "read", "count": 4 },
                "tenant_inventory": { "status": "read", "count": 5, "source": "powerplatform" }
            },
            "started_at": "2026-12-02T05:00:00Z", "finished_at": "2026-12-02T05:01:00Z",
            "environments": [
                { "environment_id": "env-a", "outcome": "scanned" },
                { "environment_id": "env-b", "outcome": "scanned" },
                { "environment_id": "env-c", "outcome": "scanned" },
                { "environment_id": "env-d", "outcome": "forbidden", "detail": "HTTP 403 <no app user>" }
            ],
            "coverage_gaps": [
                { "kind": "environment_not_scanned", "reason": "forbidden", "environment_id": "env-d", "detail": "access denied (403)" },
                { "kind": "dataverse_only", "reason": "unexplained", "environment_id": "env-b", "agent_id": "A-4", "detail": "in Dataverse | not in <inventory>" }
            ]
        }
    })
}

fn report() -> Report {
    Report::from_document(&sample()).unwrap()
}

#[test]
fn builds_agents_findings_and_gaps_from_a_scan_document() {
    let r = report();
    assert_eq!(r.run_id.as_deref(), Some("run-42"));
    assert_eq!(r.status.as_deref(), Some("partial"));
    assert_eq!(r.totals.agents, 6);
    assert_eq!(r.totals.environments, 4);
    assert_eq!(r.totals.findings, 7);
    assert_eq!(r.totals.coverage_gaps, 2);
    assert_eq!(r.totals.agents_by_risk.0, [1, 2, 2, 1, 0]);
    // Most risky first; within a level by environment name then agent name.
    let order: Vec<&str> = r.agents.iter().map(|a| a.agent_id.as_str()).collect();
    assert_eq!(order, ["a-1", "a-2", "a-4", "a-3", "a-6", "a-5"]);
    // Risk from the compliance row when there is no posture; environment ids match in any case.
    let a6 = r.agents.iter().find(|a| a.agent_id == "a-6").unwrap();
    assert_eq!(a6.risk, Risk::Medium);
    assert_eq!(a6.findings, 0);
    let a3 = r.agents.iter().find(|a| a.agent_id == "a-3").unwrap();
    assert_eq!(a3.environment_name.as_deref(), Some("Fabrikam Dev"));
    assert_eq!(a3.not_evaluated, 1);
    let a1 = &r.agents[0];
    assert_eq!(
        a1.checks_found,
        [
            "shared-with-everyone",
            "no-end-user-auth",
            "hard-coded-credentials"
        ]
    );
    // Findings: severity first, then the agent's risk, with their evidence.
    assert_eq!(r.findings[0].check, "hard-coded-credentials");
    assert_eq!(r.findings[0].severity, Severity::Critical);
    assert_eq!(
        r.findings[0].title,
        "Credentials are written into the agent"
    );
    assert_eq!(
        r.findings[0].evidence[0].value.as_deref(),
        Some("<redacted> & more")
    );
    let severities: Vec<u8> = r
        .findings
        .iter()
        .map(|f| severity_rank(f.severity))
        .collect();
    assert!(
        severities.windows(2).all(|w| w[0] >= w[1]),
        "{severities:?}"
    );
    // Gaps name the agent they concern (id matched without regard to case).
    let gap = r
        .coverage_gaps
        .iter()
        .find(|g| g.code == "dataverse_only.unexplained")
        .unwrap();
    assert_eq!(gap.agent_name.as_deref(), Some(PIPE_NAME));
    assert_eq!(r.agents[2].coverage_gaps, 1);
    // The unreadable environment is listed with its outcome, without agents.
    let d = r
        .environments
        .iter()
        .find(|e| e.environment_id == "env-d")
        .unwrap();
    assert_eq!(d.outcome.as_deref(), Some("forbidden"));
    assert_eq!(d.agents, 0);
    let b = r
        .environments
        .iter()
        .find(|e| e.environment_id == "env-b")
        .unwrap();
    assert_eq!(b.agents, 3);
    assert_eq!(b.agents_by_risk.get(Risk::High), 1);
}

#[test]
fn bad_documents_name_what_to_fix() {
    let e = Report::from_document(&json!([1, 2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a JSON object"), "{e}");
    let e = Report::from_document(&json!({"rows": []}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("inventory scan --output"), "{e}");
    let e = Report::from_document(
        &json!({"fsi_copilotagent": [{"fsi_agentid": "x"}, {"fsi_name": "n"}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`fsi_copilotagent`[1] fsi_agentid is missing"),
        "{e}"
    );
    let e = Report::from_document(&json!({"fsi_copilotagent": {}}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`fsi_copilotagent` is not an array"), "{e}");
    let e = Report::from_document(
        &json!({"fsi_copilotagent": [], "postures": [{"agent_id": "x", "risk": "Severe"}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`postures`[0] risk"), "{e}");
    let e = Report::from_document(
        &json!({"fsi_copilotagent": [{"fsi_agentid": "x", "fsi_name": {"a": 1}}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("fsi_name is not text"), "{e}");
    // An agent without posture or compliance row is unknown, never dropped.
    let r = Report::from_document(&json!({"fsi_copilotagent": [{"fsi_agentid": "x"}]})).unwrap();
    assert_eq!(r.agents[0].risk, Risk::Unknown);
    assert_eq!(r.agents[0].name, "x");
}

#[test]
fn risk_parses_names_and_option_values() {
    assert_eq!(Risk::parse(&json!("High")), Some(Risk::High));
    assert_eq!(Risk::parse(&json!(" critical ")), Some(Risk::Critical));
    assert_eq!(Risk::parse(&json!(100000004)), Some(Risk::Unknown));
    assert_eq!(Risk::parse(&json!(100000000)), Some(Risk::Low));
    assert_eq!(Risk::parse(&json!(7)), None);
    assert_eq!(Risk::parse(&json!(true)), None);
}

#[test]
fn formats_parse_and_follow_file_extensions() {
    assert_eq!(Format::parse("HTML").unwrap(), Format::Html);
    assert_eq!(Format::parse("md").unwrap(), Format::Markdown);
    assert!(
        Format::parse("pdf")
            .unwrap_err()
            .contains("table, markdown, json or html")
    );
    assert_eq!(Format::from_extension("out/r.html"), Some(Format::Html));
    assert_eq!(Format::from_extension("r.MD"), Some(Format::Markdown));
    assert_eq!(Format::from_extension("r.json"), Some(Format::Json));
    assert_eq!(Format::from_extension("report"), None);
}

// ---- table ----

#[test]
fn table_columns_line_up_and_long_cells_are_cut() {
    let text = report().render(Format::Table, &RenderOptions::default());
    assert!(!text.contains('\x1b'), "no colour unless asked");
    assert!(text.contains("6 agent(s) in 4 environment(s), 7 finding(s), 2 coverage gap(s)"));
    assert!(text.contains("risk: 1 critical, 2 high, 2 medium, 1 unknown, 0 low"));
    // The header and rows of one environment's agents start each column at the same display
    // column, CJK names (two cells a character) included.
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.contains("Fabrikam Dev"))
        .unwrap();
    let block: Vec<&str> = lines[head + 1..head + 5].to_vec();
    assert!(block[0].trim_start().starts_with("RISK"), "{block:#?}");
    let col = |l: &str, needle: &str| -> usize {
        let at = l.find(needle).unwrap();
        UnicodeWidthStr::width(&l[..at])
    };
    let findings_col = col(block[0], "FINDINGS") + "FINDINGS".len();
    for l in &block[1..] {
        // FINDINGS is right-aligned: the count ends where the header ends.
        let before_checks = &l[..];
        let width_to_end: usize = {
            let mut w = 0;
            let mut end = 0;
            for (i, c) in before_checks.char_indices() {
                w += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if w == findings_col {
                    end = i + c.len_utf8();
                    break;
                }
            }
            end
        };
        let tail = &l[..width_to_end];
        assert!(
            tail.ends_with(|c: char| c.is_ascii_digit()),
            "row not aligned: {l:?} / {:?}",
            block[0]
        );
    }
    assert!(text.contains(CJK_NAME), "fits whole: {text}");
    // A name longer than the column is cut with an ellipsis to 40 cells.
    let long = lines.iter().find(|l| l.contains("Long name")).unwrap();
    let cell = long.split("  ").find(|c| c.contains("Long name")).unwrap();
    assert!(cell.trim_end().ends_with('…'), "{cell:?}");
    assert_eq!(UnicodeWidthStr::width(cell.trim_end()), 40);
    // No trailing blanks.
    assert!(text.lines().all(|l| !l.ends_with(' ')));
    // Findings and gaps are there, with evidence.
    assert!(
        text.contains("bot.accesscontrolpolicy = 0 (Any) (in a-1)"),
        "{text}"
    );
    assert!(text.contains("dataverse_only.unexplained"));
    assert!(
        text.contains("  tenant inventory: read from powerplatform (5)\n"),
        "{text}"
    );
    assert!(text.contains("  dataverse: partial (3): 1 environment(s) could not be read\n"));
}

#[test]
fn table_colour_only_when_asked_and_control_characters_are_neutralised() {
    let mut doc = sample();
    doc["fsi_copilotagent"][4]["fsi_agentname"] = json!("evil\x1b[2J\nname");
    let r = Report::from_document(&doc).unwrap();
    let plain = r.render(Format::Table, &RenderOptions::default());
    assert!(!plain.contains('\x1b'));
    assert!(plain.contains("evil\u{FFFD}[2J\u{FFFD}name"), "{plain}");
    let colored = r.render(Format::Table, &RenderOptions::default().color(true));
    assert!(colored.contains("\x1b[1;31mCritical\x1b[0m"), "{colored}");
    // The only escape sequences are the report's own.
    assert!(!colored.contains("\x1b[2J"));
}

#[test]
fn fit_cuts_by_display_width() {
    assert_eq!(table::fit("abc", 3), "abc");
    assert_eq!(table::fit("abcdef", 4), "abc…");
    assert_eq!(table::fit("日本語です", 5), "日本…");
    assert_eq!(
        UnicodeWidthStr::width(table::fit("日本語です", 5).as_str()),
        5
    );
    assert_eq!(table::fit("abc", 0), "");
}

// ---- markdown ----

/// Cells of a Markdown table row: split on pipes not escaped by a backslash.
fn md_cells(line: &str) -> usize {
    let mut n: usize = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    n.saturating_sub(1)
}

/// Every row of a Markdown table has as many cells as its header.
fn md_shape(md: &str) -> Result<(), String> {
    let mut expected = None;
    for line in md.lines() {
        if line.starts_with('|') {
            let n = md_cells(line);
            match expected {
                None => expected = Some(n),
                Some(e) if e != n => return Err(format!("{n} cells, not {e}: {line}")),
                Some(_) => {}
            }
        } else {
            expected = None;
        }
    }
    Ok(())
}

#[test]
fn markdown_tables_keep_their_shape_and_escape_values() {
    let md = report().render(Format::Markdown, &RenderOptions::default());
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("\\<script\\>alert(1)\\</script\\>"), "{md}");
    assert!(
        md.contains("pipes \\| and \\*stars\\* and \\`ticks\\`"),
        "{md}"
    );
    assert!(
        md.contains("Tom \\& \"Jerry's\" \\<b\\>bot\\</b\\>"),
        "{md}"
    );
    assert!(md.contains(CJK_NAME));
    md_shape(&md).unwrap();
    assert!(md.contains("## Agents"));
    assert!(md.contains("## Findings"));
    assert!(md.contains("## Coverage gaps"));
    // The summary lines say what the table's do.
    assert!(
        md.contains("- 6 agent(s) in 4 environment(s), 7 finding(s), 2 coverage gap(s)\n"),
        "{md}"
    );
    assert!(
        md.contains("- tenant inventory: read from powerplatform (5)\n"),
        "{md}"
    );
    assert!(
        md.contains("- dataverse: partial (3): 1 environment(s) could not be read\n"),
        "{md}"
    );
}

// ---- json ----

#[test]
fn json_has_the_documented_stable_shape() {
    let text = report().render(Format::Json, &RenderOptions::default());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        text.starts_with("{\n  \"report_version\": 1,\n  \"run_id\""),
        "{text}"
    );
    // Fields in the documented order.
    let at = |k: &str| text.find(&format!("\n  \"{k}\":")).unwrap();
    let keys = [
        "report_version",
        "run_id",
        "status",
        "started_at",
        "finished_at",
        "totals",
        "layers",
        "environments",
        "agents",
        "findings",
        "coverage_gaps",
    ];
    assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])));
    assert_eq!(v.as_object().unwrap().len(), keys.len());
    assert_eq!(v["report_version"], 1);
    assert_eq!(
        v["totals"]["agents_by_risk"],
        json!({"critical": 1, "high": 2, "medium": 2, "unknown": 1, "low": 0})
    );
    let a = &v["agents"][0];
    assert_eq!(a["name"], SCRIPT_NAME);
    assert_eq!(a["risk"], "critical");
    let mut agent_keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    agent_keys.sort_unstable();
    let mut documented = [
        "agent_id",
        "name",
        "environment_id",
        "environment_name",
        "risk",
        "findings",
        "checks_found",
        "not_evaluated",
        "published_state",
        "auth_mode",
        "coverage_gaps",
    ];
    documented.sort_unstable();
    assert_eq!(agent_keys, documented);
    let f = &v["findings"][0];
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["agent_risk"], "critical");
    assert_eq!(f["evidence"][0]["column"], "bot.configuration");
    assert_eq!(f["evidence"][0]["path"], Value::Null);
    assert_eq!(v["environments"][0]["type"], "Production");
    assert_eq!(v["coverage_gaps"][0]["code"], "dataverse_only.unexplained");
    assert_eq!(v["coverage_gaps"][0]["environment_name"], "Fabrikam Dev");
    let layers: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        ["environment_list", "tenant_inventory", "dataverse"]
    );
    assert_eq!(v["layers"][1]["source"], "powerplatform");
    // Rendering is deterministic.
    assert_eq!(
        text,
        report().render(Format::Json, &RenderOptions::default())
    );
}

// ---- html ----

#[test]
fn html_escapes_every_value_and_is_self_contained() {
    let page = report().render(Format::Html, &RenderOptions::default());
    assert!(page.starts_with("<!DOCTYPE html>"));
    // One script element: the page's own; the hostile name is text.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("Tom &amp; &quot;Jerry&#39;s&quot; &lt;b&gt;bot&lt;/b&gt;"));
    assert!(!page.contains("<b>bot</b>"));
    assert!(page.contains(CJK_NAME));
    assert!(page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains("HTTP 403 &lt;no app user&gt;"));
    assert!(page.contains("Maker | &quot;quoted&quot;"));
    // No external asset: no src or href attribute at all, and a policy that forbids requests.
    assert!(!page.contains(" src="), "external source");
    assert!(!page.contains(" href="), "link");
    assert!(!page.contains("@import"));
    assert!(page.contains("default-src 'none'"));
    // The tables the script drives, with their rows in the report's order.
    for id in ["agents", "findings", "gaps", "environments"] {
        assert!(
            page.contains(&format!("<table id=\"{id}\" class=\"data\"")),
            "{id}"
        );
    }
    let ids: Vec<&str> = page
        .match_indices("<tr data-risk=\"")
        .take(6)
        .map(|(i, _)| {
            let rest = &page[i..];
            let at = rest.find("data-agent-id=\"").unwrap() + "data-agent-id=\"".len();
            let end = rest[at..].find('"').unwrap();
            &rest[at..at + end]
        })
        .collect();
    assert_eq!(ids, ["a-1", "a-2", "a-4", "a-3", "a-6", "a-5"]);
    assert!(page.contains("aria-sort=\"descending\" class=\"num\"><button type=\"button\">Risk"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever an agent is called, it stays text: one script element, tables keep their
    /// shape, the terminal table stays inside its columns and nothing panics.
    #[test]
    fn any_name_stays_text(name in "\\PC{0,60}|[<>&\"'|`*_\\\\\\x1b\\n]{1,20}") {
        let mut doc = sample();
        doc["fsi_copilotagent"][0]["fsi_agentname"] = json!(name);
        doc["postures"][0]["results"][0]["evidence"][0]["value"] = json!(name);
        let r = Report::from_document(&doc).unwrap();
        let page = r.render(Format::Html, &RenderOptions::default());
        prop_assert_eq!(page.matches("<script").count(), 1);
        prop_assert_eq!(page.matches("</script>").count(), 1);
        let md = r.render(Format::Markdown, &RenderOptions::default());
        prop_assert!(md_shape(&md).is_ok(), "{:?}", md_shape(&md));
        let text = r.render(Format::Table, &RenderOptions::default());
        prop_assert!(!text.contains('\x1b'));
        for line in text.lines() {
            prop_assert!(UnicodeWidthStr::width(line) <= 400, "{}", line);
        }
    }
}
