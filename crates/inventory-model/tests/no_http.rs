//! A model crate must not depend on HTTP: `cargo tree` over its normal
//! dependencies names no HTTP client, server, async runtime or workspace client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn no_http_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "inventory-model",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"botcomponent-schema"), "{tree}");
    for banned in [
        "reqwest",
        "hyper",
        "http",
        "h2",
        "tokio",
        "axum",
        "httpmock",
        "client-core",
        "dataverse-client",
        "entra-auth",
        "arg-client",
        "graph-client",
    ] {
        assert!(
            !names.contains(&banned),
            "inventory-model depends on {banned}:\n{tree}"
        );
    }
}
