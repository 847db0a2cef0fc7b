//! The in-memory tables: rows by primary key, tombstones and a global version counter for
//! change tracking, alternate key indexes, and an undo log for atomic change sets.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::schema::{ManyToMany, SetSchema};
use super::{Materializer, OptionSetDef};

/// A stored row: one cell per column of the set, in column order. Absent values are null.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The change-tracking version of the last write (also the ETag).
    pub(crate) version: u64,
    pub(crate) cells: Box<[Value]>,
}

impl Row {
    /// The weak ETag of this version, `W/"{version}"`.
    pub(crate) fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// One entity set's data.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) schema: Arc<SetSchema>,
    pub(crate) rows: BTreeMap<Uuid, Row>,
    /// Deleted ids with the version of their deletion.
    pub(crate) tombstones: BTreeMap<Uuid, u64>,
    /// One index per alternate key: normalized key values to row id.
    alt_index: Vec<HashMap<String, Uuid>>,
}

static NULL: Value = Value::Null;

/// Normalizes key values so that string keys compare case-insensitively, as SQL does.
pub(crate) fn key_string<'v>(values: impl IntoIterator<Item = &'v Value>) -> Option<String> {
    let mut out = String::new();
    for v in values {
        match v {
            Value::Null => return None,
            Value::String(s) => out.push_str(&serde_json::to_string(&s.to_lowercase()).ok()?),
            Value::Number(n) => match n.as_f64() {
                Some(f) => out.push_str(&f.to_string()),
                None => out.push_str(&n.to_string()),
            },
            other => out.push_str(&other.to_string()),
        }
        out.push('\u{1}');
    }
    Some(out)
}

impl Table {
    pub(crate) fn new(schema: Arc<SetSchema>) -> Self {
        let alt_index = schema.alt_keys.iter().map(|_| HashMap::new()).collect();
        Self {
            schema,
            rows: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            alt_index,
        }
    }

    fn alt_keys_of(&self, cells: &[Value]) -> Vec<Option<String>> {
        self.schema
            .alt_keys
            .iter()
            .map(|cols| key_string(cols.iter().map(|c| &cells[*c])))
            .collect()
    }

    /// The row holding alternate key `k` (index into the schema's keys) with `values`.
    pub(crate) fn find_alt(&self, k: usize, values: &[Value]) -> Option<Uuid> {
        let key = key_string(values.iter())?;
        self.alt_index.get(k)?.get(&key).copied()
    }

    /// The alternate key (if any) that `cells` would duplicate on another row than `id`.
    pub(crate) fn alt_conflict(&self, id: Uuid, cells: &[Value]) -> Option<usize> {
        self.alt_keys_of(cells)
            .into_iter()
            .enumerate()
            .find_map(|(k, key)| {
                let other = self.alt_index[k].get(key.as_ref()?)?;
                (*other != id).then_some(k)
            })
    }

    /// This table under `schema`, a copy of the old one with columns or keys added at the end:
    /// rows gain null cells for new columns, and the key indexes are rebuilt.
    pub(crate) fn with_schema(self, schema: Arc<SetSchema>) -> Self {
        let len = schema.len();
        let mut table = Table::new(schema);
        table.tombstones = self.tombstones;
        for (id, mut row) in self.rows {
            if row.cells.len() < len {
                let mut cells = row.cells.into_vec();
                cells.resize(len, Value::Null);
                row.cells = cells.into_boxed_slice();
            }
            table.rows.insert(id, row);
        }
        let ids: Vec<Uuid> = table.rows.keys().copied().collect();
        for id in ids {
            table.index(id);
        }
        table
    }

    /// Whether no two rows share non-null values of `cols` (as an alternate key on them needs).
    pub(crate) fn unique_on(&self, cols: &[usize]) -> bool {
        let mut seen = HashSet::new();
        self.rows.values().all(|row| {
            key_string(cols.iter().map(|c| &row.cells[*c])).is_none_or(|k| seen.insert(k))
        })
    }

    fn unindex(&mut self, id: Uuid) {
        if let Some(row) = self.rows.get(&id) {
            let keys = self.alt_keys_of(&row.cells);
            for (k, key) in keys.into_iter().enumerate() {
                if let Some(key) = key
                    && self.alt_index[k].get(&key) == Some(&id)
                {
                    self.alt_index[k].remove(&key);
                }
            }
        }
    }

    fn index(&mut self, id: Uuid) {
        if let Some(row) = self.rows.get(&id) {
            let keys = self.alt_keys_of(&row.cells);
            for (k, key) in keys.into_iter().enumerate() {
                if let Some(key) = key {
                    self.alt_index[k].insert(key, id);
                }
            }
        }
    }
}

/// A set's materializer and, if known, the only columns it produces.
pub(crate) struct MaterializerEntry {
    pub(crate) f: Materializer,
    pub(crate) columns: Option<HashSet<String>>,
}

/// What to restore when a change set fails.
#[derive(Debug)]
pub(crate) struct Undo {
    set: String,
    id: Uuid,
    row: Option<Row>,
    tombstone: Option<u64>,
}

impl Undo {
    /// What restores row `id` of `set` (held in `table`) as it is now, row and tombstone.
    fn of(table: &Table, set: &str, id: Uuid) -> Self {
        Self {
            set: set.to_owned(),
            id,
            row: table.rows.get(&id).cloned(),
            tombstone: table.tombstones.get(&id).copied(),
        }
    }
}

/// All tables plus change-tracking state.
pub(crate) struct Store {
    pub(crate) tables: HashMap<String, Table>,
    /// The last version handed out; every write takes the next one.
    pub(crate) version: u64,
    /// Delta tokens at or below this version have expired.
    pub(crate) expired_through: u64,
    pub(crate) materializers: HashMap<String, MaterializerEntry>,
    pub(crate) many_to_many: Vec<ManyToMany>,
    /// The global option sets (the configured ones plus those created through the metadata API).
    pub(crate) option_sets: Vec<OptionSetDef>,
    /// Alternate keys created through the metadata API, by entity set (for their index status).
    pub(crate) key_records: HashMap<String, Vec<KeyRecord>>,
}

/// An alternate key created through the metadata API.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    /// `SchemaName`, e.g. `fsi_AgentEnvKey`.
    pub(crate) schema_name: String,
    /// The key's columns (logical names), in key order.
    pub(crate) columns: Vec<String>,
    /// When it was created (its index is built `key_activation_delay` later).
    pub(crate) created: time::OffsetDateTime,
    /// Existing rows broke uniqueness: no index was built and the key is not usable.
    pub(crate) failed: bool,
}

impl Store {
    pub(crate) fn new(many_to_many: Vec<ManyToMany>) -> Self {
        Self {
            tables: HashMap::new(),
            // Real version numbers are large; starting high keeps ETags realistic.
            version: 1_000_000,
            expired_through: 0,
            materializers: HashMap::new(),
            many_to_many,
            option_sets: Vec::new(),
            key_records: HashMap::new(),
        }
    }

    pub(crate) fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    pub(crate) fn table(&self, set: &str) -> Option<&Table> {
        self.tables.get(set)
    }

    pub(crate) fn table_by_logical(&self, logical: &str) -> Option<&Table> {
        self.tables.values().find(|t| t.schema.logical() == logical)
    }

    /// A global option set by name (case-insensitive, as Dataverse compares names).
    pub(crate) fn option_set(&self, name: &str) -> Option<&OptionSetDef> {
        self.option_sets
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The label of `value` in option set `option_set`.
    pub(crate) fn option_label(&self, option_set: &str, value: i64) -> Option<&str> {
        self.option_set(option_set)?
            .options
            .iter()
            .find(|o| i64::from(o.value) == value)
            .map(|o| o.label.as_str())
    }

    /// Stores `cells` as row `id` of `set` with a new version (stamped into `versionnumber`),
    /// clearing any tombstone. Returns the version.
    pub(crate) fn put(
        &mut self,
        set: &str,
        id: Uuid,
        mut cells: Box<[Value]>,
        undo: Option<&mut Vec<Undo>>,
    ) -> u64 {
        let version = self.next_version();
        let Some(table) = self.tables.get_mut(set) else {
            return version;
        };
        if let Some(vcol) = table.schema.col("versionnumber") {
            cells[vcol] = Value::from(version);
        }
        if let Some(undo) = undo {
            undo.push(Undo::of(table, set, id));
        }
        table.unindex(id);
        table.tombstones.remove(&id);
        table.rows.insert(id, Row { version, cells });
        table.index(id);
        version
    }

    /// Deletes row `id` of `set`, leaving a tombstone. Returns whether it existed.
    pub(crate) fn remove(&mut self, set: &str, id: Uuid, undo: Option<&mut Vec<Undo>>) -> bool {
        let exists = self
            .tables
            .get(set)
            .is_some_and(|t| t.rows.contains_key(&id));
        if !exists {
            return false;
        }
        let version = self.next_version();
        let Some(table) = self.tables.get_mut(set) else {
            return false;
        };
        if let Some(undo) = undo {
            undo.push(Undo::of(table, set, id));
        }
        table.unindex(id);
        table.rows.remove(&id);
        table.tombstones.insert(id, version);
        true
    }

    /// Restores everything recorded in `undo`, newest first.
    pub(crate) fn rollback(&mut self, undo: Vec<Undo>) {
        for entry in undo.into_iter().rev() {
            let Some(table) = self.tables.get_mut(&entry.set) else {
                continue;
            };
            table.unindex(entry.id);
            match entry.row {
                Some(row) => {
                    table.rows.insert(entry.id, row);
                    table.index(entry.id);
                }
                None => {
                    table.rows.remove(&entry.id);
                }
            }
            match entry.tombstone {
                Some(v) => {
                    table.tombstones.insert(entry.id, v);
                }
                None => {
                    table.tombstones.remove(&entry.id);
                }
            }
        }
    }

    /// A view of a row that fills null cells from the set's materializer, if any.
    pub(crate) fn view<'a>(&'a self, table: &'a Table, row: &'a Row) -> RowView<'a> {
        self.view_with(table, row, self.materializer_of(table))
    }

    /// The materializer of `table`'s set, if any (looked up once for many rows).
    pub(crate) fn materializer_of(&self, table: &Table) -> Option<&MaterializerEntry> {
        self.materializers.get(table.schema.set())
    }

    /// [`view`](Self::view) with the set's materializer already looked up.
    pub(crate) fn view_with<'a>(
        &'a self,
        table: &'a Table,
        row: &'a Row,
        materializer: Option<&'a MaterializerEntry>,
    ) -> RowView<'a> {
        RowView {
            schema: &table.schema,
            row,
            materializer,
            cache: OnceCell::new(),
        }
    }
}

/// A row as queries see it: stored cells, with null cells produced on demand by the set's
/// materializer (called at most once per view).
pub(crate) struct RowView<'a> {
    pub(crate) schema: &'a SetSchema,
    pub(crate) row: &'a Row,
    materializer: Option<&'a MaterializerEntry>,
    cache: OnceCell<Map<String, Value>>,
}

impl RowView<'_> {
    pub(crate) fn stored_map(&self) -> Map<String, Value> {
        self.schema
            .columns()
            .iter()
            .zip(self.row.cells.iter())
            .map(|(c, v)| (c.name().to_owned(), v.clone()))
            .collect()
    }

    pub(crate) fn get(&self, col: usize) -> &Value {
        let stored = &self.row.cells[col];
        if !stored.is_null() {
            return stored;
        }
        let Some(entry) = self.materializer else {
            return stored;
        };
        let name = self.schema.column(col).name();
        if entry
            .columns
            .as_ref()
            .is_some_and(|only| !only.contains(name))
        {
            return stored;
        }
        let extra = self.cache.get_or_init(|| (entry.f)(&self.stored_map()));
        extra.get(self.schema.column(col).name()).unwrap_or(&NULL)
    }

    pub(crate) fn etag(&self) -> String {
        self.row.etag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataverse::schema::{ColumnDef, ColumnKind, EntitySetDef};
    use serde_json::json;

    fn store() -> Store {
        let mut s = Store::new(Vec::new());
        let schema = SetSchema::build(
            EntitySetDef::new("things", "thing", "thingid")
                .column(ColumnDef::new("code", ColumnKind::String))
                .column(ColumnDef::new("versionnumber", ColumnKind::BigInt))
                .alternate_key(["code"]),
        )
        .unwrap();
        s.tables
            .insert("things".into(), Table::new(Arc::new(schema)));
        s
    }

    #[test]
    fn put_remove_rollback() {
        let mut s = store();
        let a = Uuid::from_u128(1);
        let v1 = s.put(
            "things",
            a,
            vec![json!(a.to_string()), json!("A"), Value::Null].into(),
            None,
        );
        let t = s.table("things").unwrap();
        assert_eq!(t.rows[&a].cells[2], json!(v1));
        assert_eq!(t.find_alt(0, &[json!("a")]), Some(a));

        let mut undo = Vec::new();
        let b = Uuid::from_u128(2);
        s.put(
            "things",
            b,
            vec![json!(b.to_string()), json!("B"), Value::Null].into(),
            Some(&mut undo),
        );
        assert!(s.remove("things", a, Some(&mut undo)));
        assert!(s.table("things").unwrap().tombstones.contains_key(&a));
        s.rollback(undo);
        let t = s.table("things").unwrap();
        assert!(t.rows.contains_key(&a));
        assert!(!t.rows.contains_key(&b));
        assert!(t.tombstones.is_empty());
        assert_eq!(t.find_alt(0, &[json!("B")]), None);
        assert_eq!(t.find_alt(0, &[json!("A")]), Some(a));
        assert_eq!(
            t.alt_conflict(b, &[json!(b.to_string()), json!("a"), Value::Null]),
            Some(0)
        );
    }
}
