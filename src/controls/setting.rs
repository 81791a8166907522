//! Controls decided by one property of a resource and fixed by writing one value to it, each
//! declared once: the declaration (id, where the property is, what complies, what Azure means
//! when it is absent, how it is fixed) drives both the evaluation and the write, for every kind.
//! Pure.

use serde_json::{Map, Value};

use super::finding::Finding;
use super::plan::{at, remediable};

/// A literal property value, usable in a `const` declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lit {
    Bool(bool),
    Str(&'static str),
}

impl Lit {
    pub fn to_value(self) -> Value {
        match self {
            Lit::Bool(b) => Value::Bool(b),
            Lit::Str(s) => Value::String(s.to_string()),
        }
    }

    /// Strings compare as Azure compares enum values: case-insensitively.
    fn matches(self, value: &Value) -> bool {
        match (self, value) {
            (Lit::Bool(want), Value::Bool(got)) => want == *got,
            (Lit::Str(want), Value::String(got)) => want.eq_ignore_ascii_case(got),
            _ => false,
        }
    }

    fn shown(self) -> String {
        match self {
            Lit::Bool(b) => b.to_string(),
            Lit::Str(s) => s.to_string(),
        }
    }
}

/// What an absent property means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absent {
    /// Shown as `(not set)`; never complies.
    NotSet,
    /// Shown as this text; never complies (`(not set: Tls)`, where Azure's default is known
    /// and weak).
    Shown(&'static str),
    /// Azure applies this value: evaluated and shown as if it were set.
    Means(Lit),
}

/// How the operator fixes the drift.
#[derive(Clone, Copy, Debug)]
pub enum Fix {
    /// Write the first compliant value at the property's path.
    Write,
    /// Like `Write`, but only once the given control holds (public access closes only behind
    /// an approved private endpoint): the caller's gate says whether it does.
    After(&'static str),
    /// Write a whole object at another path (a backup policy migrated to `Continuous`).
    Replace(&'static str, fn() -> Value),
    /// Azure does not let the operator write it (read-only in the API version in use): the
    /// finding's next step says who can.
    ReadOnly,
}

/// How the evidence names the property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// The bare value: `Disabled`.
    Bare,
    /// `name=value`, with the path below `properties.` as the name.
    Named,
}

/// One control decided by one property.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub id: &'static str,
    /// Dotted path in the resource body: `properties.minimalTlsVersion`.
    pub path: &'static str,
    /// The values that comply; the first is what a fix writes.
    pub ok: &'static [Lit],
    pub absent: Absent,
    pub fix: Fix,
    pub label: Label,
}

impl Setting {
    /// A control met by one value, written bare, fixed by writing it.
    pub const fn new(id: &'static str, path: &'static str, ok: &'static [Lit]) -> Self {
        Setting {
            id,
            path,
            ok,
            absent: Absent::NotSet,
            fix: Fix::Write,
            label: Label::Bare,
        }
    }

    pub const fn absent(self, absent: Absent) -> Self {
        Setting { absent, ..self }
    }

    pub const fn fix(self, fix: Fix) -> Self {
        Setting { fix, ..self }
    }

    pub const fn named(self) -> Self {
        Setting {
            label: Label::Named,
            ..self
        }
    }

    fn name(&self) -> &'static str {
        self.path.strip_prefix("properties.").unwrap_or(self.path)
    }

    fn label(&self, text: String) -> String {
        match self.label {
            Label::Bare => text,
            Label::Named => format!("{}={text}", self.name()),
        }
    }

    /// The value a fix writes (and what the finding expects).
    pub fn wanted(&self) -> Lit {
        self.ok[0]
    }

    /// Whether `body` (the resource, `{"properties": …}` at least) complies.
    pub fn holds(&self, body: &Value) -> bool {
        match (at(body, self.path), self.absent) {
            (Some(v), _) => self.ok.iter().any(|l| l.matches(v)),
            (None, Absent::Means(l)) => self.ok.contains(&l),
            (None, _) => false,
        }
    }

    /// The finding for `body`.
    pub fn evaluate(&self, body: &Value) -> Finding {
        let observed = match (at(body, self.path), self.absent) {
            (Some(Value::String(s)), _) => s.clone(),
            (Some(v), _) => v.to_string(),
            (None, Absent::NotSet) => "(not set)".to_string(),
            (None, Absent::Shown(text)) => text.to_string(),
            (None, Absent::Means(l)) => l.shown(),
        };
        Finding::check(
            self.id,
            self.holds(body),
            self.label(self.wanted().shown()),
            self.label(observed),
        )
    }
}

/// Evaluates each declared setting of `body`.
pub fn evaluate(settings: &[Setting], body: &Value) -> Vec<Finding> {
    settings.iter().map(|s| s.evaluate(body)).collect()
}

/// The property writes that fix the drifted, automatically remediable settings of `to_fix`,
/// as `(path, value)` in declaration order, with the ids they remediate. `gate` answers for
/// `Fix::After`: whether the named control holds now.
pub fn fixes(
    settings: &[Setting],
    to_fix: &[&Finding],
    gate: impl Fn(&'static str) -> bool,
) -> (Vec<(&'static str, Value)>, Vec<&'static str>) {
    let mut writes = Vec::new();
    let mut ids = Vec::new();
    for s in settings.iter().filter(|s| remediable(to_fix, s.id)) {
        let write = match s.fix {
            Fix::Write => Some((s.path, s.wanted().to_value())),
            Fix::After(control) if gate(control) => Some((s.path, s.wanted().to_value())),
            Fix::After(_) | Fix::ReadOnly => None,
            Fix::Replace(path, value) => Some((path, value())),
        };
        if let Some(write) = write {
            writes.push(write);
            ids.push(s.id);
        }
    }
    (writes, ids)
}

/// Whether control `id` holds as far as `to_fix` tells: compliant there, or not there at all
/// (exempt, or not evaluated for this resource). The gate of most `Fix::After` settings.
pub fn holds_in(to_fix: &[&Finding], id: &str) -> bool {
    !to_fix
        .iter()
        .any(|f| f.id() == id && f.found != super::Found::Compliant)
}

/// Merges property writes into a PATCH body. A write below a top-level property
/// (`properties.features.disableLocalAuth`) starts from that property's current value in
/// `current`, so the PATCH never drops the fields the operator does not own beside it.
pub fn merge_into(
    patch: &mut Map<String, Value>,
    writes: &[(&'static str, Value)],
    current: &Value,
) {
    for (path, value) in writes {
        let keys: Vec<&str> = path.split('.').collect();
        let mut node = &mut *patch;
        for (depth, key) in keys[..keys.len() - 1].iter().enumerate() {
            let seed = if depth >= 1 {
                at(current, &keys[..=depth].join("."))
                    .filter(|v| v.is_object())
                    .cloned()
            } else {
                None
            };
            let entry = node
                .entry(key.to_string())
                .or_insert_with(|| seed.unwrap_or_else(|| Value::Object(Map::new())));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("made an object above");
        }
        node.insert(keys[keys.len() - 1].to_string(), value.clone());
    }
}

/// The `properties` object of a PATCH carrying `writes` (all under `properties.`), to which a
/// planner adds what is not a plain setting.
pub fn properties(writes: &[(&'static str, Value)], current: &Value) -> Map<String, Value> {
    let mut patch = Map::new();
    merge_into(&mut patch, writes, current);
    match patch.remove("properties") {
        Some(Value::Object(props)) => props,
        _ => Map::new(),
    }
}

/// The writes as JSON pointers (`/properties/publicNetworkAccess`), for a read-modify-write.
pub fn pointers(writes: Vec<(&'static str, Value)>) -> Vec<(String, Value)> {
    writes
        .into_iter()
        .map(|(path, v)| (format!("/{}", path.replace('.', "/")), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::Found;
    use serde_json::json;

    const TLS: Setting = Setting::new(
        "cosmos.min-tls-1-2",
        "properties.minimalTlsVersion",
        &[Lit::Str("Tls12"), Lit::Str("Tls13")],
    )
    .absent(Absent::Shown("(not set: Tls)"));
    const PUBLIC: Setting = Setting::new(
        "cosmos.public-network-disabled",
        "properties.publicNetworkAccess",
        &[Lit::Str("Disabled")],
    )
    .absent(Absent::Means(Lit::Str("Enabled")))
    .fix(Fix::After("cosmos.private-endpoint"));
    const LOCAL: Setting = Setting::new(
        "law.local-auth-disabled",
        "properties.features.disableLocalAuth",
        &[Lit::Bool(true)],
    )
    .absent(Absent::Means(Lit::Bool(false)))
    .named();

    #[test]
    fn a_setting_evaluates_what_is_set_what_azure_means_by_absent_and_enum_case() {
        let f = TLS.evaluate(&json!({"properties": {"minimalTlsVersion": "tls13"}}));
        assert_eq!((f.found, f.observed.as_str()), (Found::Compliant, "tls13"));
        let f = TLS.evaluate(&json!({"properties": {}}));
        assert_eq!(
            (f.found, f.expected.as_str(), f.observed.as_str()),
            (Found::Drifted, "Tls12", "(not set: Tls)")
        );
        let f = PUBLIC.evaluate(&json!({"properties": {"publicNetworkAccess": null}}));
        assert_eq!((f.found, f.observed.as_str()), (Found::Drifted, "Enabled"));
        let f = LOCAL.evaluate(&json!({"properties": {"features": {}}}));
        assert_eq!(
            (f.found, f.expected.as_str(), f.observed.as_str()),
            (
                Found::Drifted,
                "features.disableLocalAuth=true",
                "features.disableLocalAuth=false"
            )
        );
        // A value of the wrong type never complies.
        assert_eq!(
            LOCAL
                .evaluate(&json!({"properties": {"features": {"disableLocalAuth": "true"}}}))
                .found,
            Found::Drifted
        );
    }

    /// Every setting declared by every kind.
    fn declared() -> Vec<Setting> {
        [
            crate::controls::storage::SETTINGS,
            crate::controls::cosmos::SETTINGS,
            crate::controls::sql::SETTINGS,
            crate::controls::keyvault::SETTINGS,
            crate::controls::workspace::LOG_ANALYTICS_SETTINGS,
        ]
        .into_iter()
        .flatten()
        .copied()
        .chain(
            [
                crate::controls::healthdata::Service::Workspace,
                crate::controls::healthdata::Service::Fhir,
                crate::controls::healthdata::Service::Dicom,
            ]
            .into_iter()
            .flat_map(|s| s.settings().iter().copied()),
        )
        .collect()
    }

    #[test]
    fn every_declared_setting_is_in_the_catalog_and_its_fix_makes_it_hold() {
        use crate::catalog::{Remediation, control};
        let settings = declared();
        assert!(settings.len() >= 20, "{}", settings.len());
        for s in &settings {
            let c = control(s.id).unwrap_or_else(|| panic!("{} is not in the catalog", s.id));
            match s.fix {
                // Azure refuses the write: the catalog must not promise remediation.
                Fix::ReadOnly => assert_ne!(c.remediation, Remediation::Automatic, "{}", s.id),
                _ => assert_eq!(c.remediation, Remediation::Automatic, "{}", s.id),
            }
            assert!(s.path.starts_with("properties."), "{}", s.id);
            // What Azure means by absent is not what the control wants, or an unset property
            // would count as compliant without a reading: only where Azure documents it.
            let drifted = json!({"properties": {}});
            if !matches!(s.absent, Absent::Means(_)) {
                assert!(!s.holds(&drifted), "{}", s.id);
            }
            let (writes, ids) = fixes(
                &[*s],
                &[&Finding::new(s.id, Found::Drifted, "", "")],
                |_| true,
            );
            if matches!(s.fix, Fix::ReadOnly) {
                assert!(writes.is_empty() && ids.is_empty(), "{}", s.id);
                continue;
            }
            assert_eq!(ids, vec![s.id]);
            let mut fixed = Map::new();
            merge_into(&mut fixed, &writes, &drifted);
            assert!(
                s.holds(&Value::Object(fixed.clone())),
                "{}: the fix {fixed:?} does not satisfy it",
                s.id
            );
        }
    }

    #[test]
    fn fixes_write_only_drifted_remediable_settings_and_wait_for_their_gate() {
        let body = json!({"properties": {"features": {"legacy": 1, "disableLocalAuth": false}}});
        let findings: Vec<Finding> = [TLS, PUBLIC, LOCAL]
            .iter()
            .map(|s| s.evaluate(&body))
            .collect();
        let to_fix: Vec<&Finding> = findings.iter().collect();
        let (writes, ids) = fixes(&[TLS, PUBLIC, LOCAL], &to_fix, |_| false);
        assert_eq!(ids, vec!["cosmos.min-tls-1-2", "law.local-auth-disabled"]);
        let mut patch = Map::new();
        merge_into(&mut patch, &writes, &body);
        assert_eq!(
            Value::Object(patch),
            json!({"properties": {"minimalTlsVersion": "Tls12",
                "features": {"legacy": 1, "disableLocalAuth": true}}}),
            "the features the operator does not own are carried"
        );
        let (writes, ids) = fixes(&[PUBLIC], &to_fix, |c| c == "cosmos.private-endpoint");
        assert_eq!(ids, vec!["cosmos.public-network-disabled"]);
        assert_eq!(
            pointers(writes),
            vec![(
                "/properties/publicNetworkAccess".to_string(),
                json!("Disabled")
            )]
        );
        // Compliant findings plan nothing.
        let ok = json!({"properties": {"minimalTlsVersion": "Tls12", "publicNetworkAccess": "Disabled",
            "features": {"disableLocalAuth": true}}});
        let findings: Vec<Finding> = [TLS, PUBLIC, LOCAL]
            .iter()
            .map(|s| s.evaluate(&ok))
            .collect();
        let to_fix: Vec<&Finding> = findings.iter().collect();
        assert!(fixes(&[TLS, PUBLIC, LOCAL], &to_fix, |_| true).0.is_empty());
    }
}
