//! The sections of earlier versions (`[contacts]`, `[relations]`,
//! `[gateway]`, `[auth]`), read at their place in `[services]`.

use config::{Config, Map, Value, ValueKind};

use super::SettingsError;

/// Sections of earlier versions, and where they live now.
const LEGACY_SECTIONS: &[(&str, &str)] = &[
    ("contacts", "services.contacts"),
    ("relations", "services.relations"),
    ("gateway", "services.gateway"),
    ("auth", "services.gateway.auth"),
];

/// The settings as written, each section of an earlier version moved to
/// its place in `[services]`. A key set in both places is refused: which
/// one was meant cannot be told.
pub(super) fn with_legacy_sections_moved(written: Config) -> Result<Value, SettingsError> {
    let mut root = config::Source::collect(&written)
        .map_err(|error| SettingsError::Invalid(error.to_string()))?;
    for (legacy, current) in LEGACY_SECTIONS {
        let Some(section) = root.remove(*legacy) else {
            continue;
        };
        let ValueKind::Table(section) = section.kind else {
            return Err(SettingsError::Invalid(format!(
                "{legacy} must be a section"
            )));
        };
        let mut leaves = Vec::new();
        flatten(String::new(), section, &mut leaves);
        for (key, value) in leaves {
            let place = format!("{current}.{key}");
            if !insert_new(&mut root, &place, value) {
                return Err(SettingsError::Invalid(format!(
                    "{legacy}.{key} and {place} are both set: keep {place} (the other is \
                     the name of an earlier version)"
                )));
            }
        }
    }
    Ok(Value::new(None, ValueKind::Table(root)))
}

/// The leaves of a table, keyed by their dotted path under `prefix`.
fn flatten(prefix: String, table: Map<String, Value>, leaves: &mut Vec<(String, Value)>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value.kind {
            ValueKind::Table(inner) => flatten(path, inner, leaves),
            _ => leaves.push((path, value)),
        }
    }
}

/// Puts `value` at the dotted `path` in `root`, making the tables on the
/// way; `false` when something is there already.
fn insert_new(root: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    let mut table = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if table.contains_key(part) {
                return false;
            }
            table.insert(part.to_owned(), value);
            return true;
        }
        let entry = table
            .entry(part.to_owned())
            .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
        let ValueKind::Table(inner) = &mut entry.kind else {
            return false;
        };
        table = inner;
    }
    false
}
