//! Declares the eight inventory tables in an emulated Dataverse from the published schema
//! (`inventory-model`), as `inventory schema apply` would create them.

#![allow(dead_code, unreachable_pub)]

use inventory_model::{ColumnType, TableDef, schema::TABLES};
use tenant_emulator::dataverse::{ColumnDef, ColumnKind, Dataverse, EntitySetDef};

fn kind(t: ColumnType) -> ColumnKind {
    match t {
        ColumnType::String { .. } => ColumnKind::String,
        ColumnType::Memo { .. } => ColumnKind::Memo,
        ColumnType::Integer => ColumnKind::Integer,
        ColumnType::Boolean { .. } => ColumnKind::Boolean,
        ColumnType::DateTime => ColumnKind::DateTime,
        ColumnType::Choice { .. } => ColumnKind::Picklist,
        _ => ColumnKind::String,
    }
}

pub fn definition(t: &TableDef) -> EntitySetDef {
    let mut def = EntitySetDef::new(t.entity_set_name, t.logical_name, t.primary_id())
        .primary_name(t.primary_name().logical_name)
        .columns(
            t.columns
                .iter()
                .map(|c| ColumnDef::new(c.logical_name, kind(c.column_type))),
        )
        .with_system_columns();
    for k in t.keys {
        def = def.alternate_key(k.columns.iter().copied());
    }
    def
}

pub fn declare_inventory_tables(dv: &Dataverse) {
    for t in TABLES {
        dv.declare_entity_set(definition(t)).unwrap();
    }
}
