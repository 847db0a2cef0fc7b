//! `docs/inventory-schema.md` is generated from the schema data; this test fails
//! when the file and the data differ. Regenerate with
//! `UPDATE_INVENTORY_SCHEMA_DOC=1 cargo test -p inventory-model --test docs_sync`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[test]
fn the_schema_reference_is_in_sync() {
    let path = format!(
        "{}/../../docs/inventory-schema.md",
        env!("CARGO_MANIFEST_DIR")
    );
    let generated = inventory_model::docs::schema_markdown();
    if std::env::var_os("UPDATE_INVENTORY_SCHEMA_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/inventory-schema.md is out of date: run \
         UPDATE_INVENTORY_SCHEMA_DOC=1 cargo test -p inventory-model --test docs_sync"
    );
}
