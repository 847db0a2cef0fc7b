//! The Markdown reference of the schema (`docs/inventory-schema.md`), generated
//! from the schema data so that the two cannot drift (a test compares them).

use std::fmt::Write as _;

use crate::options::option_sets;
use crate::schema::{Release, TABLES};

/// The Markdown reference of the inventory schema.
pub fn schema_markdown() -> String {
    let mut out = String::new();
    let sets = option_sets();
    let columns: usize = TABLES.iter().map(|t| t.columns.len()).sum();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "# Copilot agent inventory: Dataverse schema\n");
    let _ = writeln!(
        out,
        "Generated from `crates/inventory-model/src/schema.rs` and `options.rs` by\n\
         `inventory_model::docs::schema_markdown()`; a test fails when this file differs.\n\
         Regenerate with `UPDATE_INVENTORY_SCHEMA_DOC=1 cargo test -p inventory-model --test docs_sync`.\n"
    );
    let _ = writeln!(
        out,
        "{} tables, {} option sets ({} shared), {} columns including each table's primary \
         name `fsi_name` (the platform adds each table's primary key `<table>id`). Releases: \
         0.1.0-preview, and the columns and options marked **0.2.0** added in 0.2.0-preview. \
         Logical names are the schema names lowercased.\n",
        TABLES.len(),
        sets.len(),
        sets.iter().filter(|s| s.shared).count(),
        columns
    );
    let _ = writeln!(
        out,
        "Downstream shells (`fsi_caibillingentitlement`, `fsi_caiworkiqstate`) are filled by \
         other solutions; the scan writes their rows only where it was given data for them.\n"
    );
    let _ = writeln!(out, "## Option sets\n");
    let _ = writeln!(out, "| Option set | Shared | Since | Values |");
    let _ = writeln!(out, "|---|---|---|---|");
    for set in &sets {
        let values: Vec<String> = set
            .options
            .iter()
            .map(|o| {
                let mark = if o.since > set.since {
                    " **0.2.0**"
                } else {
                    ""
                };
                format!("{} ({}){mark}", o.label, o.value)
            })
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            set.name,
            if set.shared { "yes" } else { "no" },
            set.since.as_str(),
            values.join(", ")
        );
    }
    let _ = writeln!(out, "\n## Tables");
    for t in TABLES {
        let _ = writeln!(out, "\n### {} (`{}`)\n", t.display_name, t.logical_name);
        let _ = writeln!(out, "- Schema name: `{}`", t.schema_name);
        let _ = writeln!(out, "- Entity set: `{}`", t.entity_set_name);
        let _ = writeln!(
            out,
            "- Ownership: {}",
            if t.organization_owned {
                "OrganizationOwned"
            } else {
                "UserOwned"
            }
        );
        if t.downstream_shell {
            let _ = writeln!(out, "- Downstream shell: rows only where there is data");
        }
        let _ = writeln!(out, "- {}\n", t.description);
        let _ = writeln!(
            out,
            "| Column (schema name) | Logical name | Type | Required | Since | Description |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for c in t.columns {
            let kind = c.column_type.reference_text();
            let since = match c.since {
                Release::V0_1_0 => "0.1.0",
                _ => "**0.2.0**",
            };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} | {} | {} |",
                c.schema_name,
                c.logical_name,
                kind,
                if c.required { "yes" } else { "no" },
                since,
                c.description
            );
        }
        if t.keys.is_empty() {
            let _ = writeln!(out, "\nNo alternate key.");
        }
        for k in t.keys {
            let cols: Vec<String> = k.columns.iter().map(|c| format!("`{c}`")).collect();
            let _ = writeln!(
                out,
                "\nAlternate key `{}`: ({}).",
                k.schema_name,
                cols.join(", ")
            );
        }
    }
    out
}
