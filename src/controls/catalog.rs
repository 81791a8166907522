//! The ids of the HIPAA control catalog (`shared/hipaa-controls.md`).
//!
//! Control ids are API: exemptions name them, `status.controls` reports them, and the CRD schema
//! only accepts these values in an exemption. Never reuse an id for another meaning.

/// Every control id, in catalog order, plus `access.unreviewed-assignment` (access that appeared
/// between two access reviews, defined by the access-review capability).
pub const CONTROL_IDS: &[&str] = &[
    "storage.min-tls-1-2",
    "storage.https-only",
    "storage.public-network-disabled",
    "storage.network-default-deny",
    "storage.network-bypass",
    "storage.private-endpoint",
    "storage.blob-anonymous-disabled",
    "storage.shared-key-disabled",
    "storage.entra-default-auth",
    "storage.cross-tenant-replication-disabled",
    "storage.cmk",
    "storage.infrastructure-encryption",
    "storage.account-key-expiry",
    "storage.sas-expiry-policy",
    "storage.blob-soft-delete",
    "storage.container-soft-delete",
    "storage.blob-versioning",
    "storage.file-soft-delete",
    "storage.smb-hardened",
    "storage.geo-redundant",
    "storage.diag-audit-logs",
    "storage.defender",
    "storage.immutable-audit-archive",
    "storage.cmk-rotation-observed",
    "storage.change-feed",
    "sql.min-tls-1-2",
    "sql.public-network-disabled",
    "sql.private-endpoint",
    "sql.no-open-firewall",
    "sql.tde-enabled",
    "sql.tde-cmk",
    "sql.auditing-enabled",
    "sql.audit-to-log-analytics",
    "sql.audit-action-groups",
    "sql.audit-retention-6y",
    "sql.entra-admin",
    "sql.entra-only-auth",
    "sql.defender",
    "sql.vulnerability-assessment",
    "sql.ltr-backup",
    "sql.pitr-retention",
    "sql.backup-redundancy",
    "sql.ledger",
    "cosmos.min-tls-1-2",
    "cosmos.public-network-disabled",
    "cosmos.firewall-restricted",
    "cosmos.private-endpoint",
    "cosmos.local-auth-disabled",
    "cosmos.metadata-write-disabled",
    "cosmos.cmk",
    "cosmos.continuous-backup",
    "cosmos.key-age",
    "cosmos.diag-audit-logs",
    "cosmos.defender",
    "cosmos.automatic-failover",
    "kv.soft-delete",
    "kv.purge-protection",
    "kv.rbac-authorization",
    "kv.public-network-disabled",
    "kv.firewall-default-deny",
    "kv.private-endpoint",
    "kv.diag-audit-event",
    "kv.key-rotation-policy",
    "kv.key-expiry-set",
    "kv.key-strength",
    "kv.key-age-observed",
    "kv.secret-expiry-set",
    "kv.defender",
    "ahds.workspace-public-network-disabled",
    "ahds.workspace-private-endpoint",
    "fhir.public-network-disabled",
    "fhir.cmk",
    "fhir.cors-restricted",
    "fhir.diag-audit-logs",
    "fhir.authn-tenant",
    "fhir.resource-versioning",
    "fhir.data-movement-targets",
    "dicom.public-network-disabled",
    "dicom.cmk",
    "dicom.cors-restricted",
    "dicom.diag-audit-logs",
    "dicom.storage-target",
    "apifhir.cmk",
    "apifhir.private-link",
    "apifhir.cors-restricted",
    "apifhir.diag-audit-logs",
    "law.retention-6y",
    "law.public-network-disabled",
    "law.local-auth-disabled",
    "law.cmk",
    "law.no-immediate-purge",
    "law.query-audit",
    "law.delete-lock",
    "law.immutable-export",
    "law.purge-restricted",
    "common.diag-setting-present",
    "common.activity-log-export",
    "common.activity-alerts",
    "common.rbac-least-privilege",
    "common.access-review-evidence",
    "common.delete-lock",
    "common.phi-classification-tag",
    "common.cmk-vault-linked",
    "access.unreviewed-assignment",
];

/// Whether `id` is a control id of the catalog.
pub fn is_known(id: &str) -> bool {
    CONTROL_IDS.contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let unique: BTreeSet<_> = CONTROL_IDS.iter().collect();
        assert_eq!(
            unique.len(),
            CONTROL_IDS.len(),
            "a control id is listed twice"
        );
        for id in CONTROL_IDS {
            let (family, name) = id.split_once('.').expect("ids are <family>.<control>");
            assert!(!family.is_empty() && !name.is_empty(), "{id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'),
                "{id} is not lower-case and hyphenated"
            );
        }
    }

    /// The list must follow the catalog that auditors read; CI has `../shared` beside the repo.
    #[test]
    fn ids_match_the_shared_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/hipaa-controls.md");
        let catalog = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("the control catalog {path} must sit beside the repo: {e}"));
        let in_catalog: BTreeSet<&str> = catalog
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once("` |").map(|(id, _)| id))
            .filter(|id| id.contains('.'))
            .collect();
        let ours: BTreeSet<&str> = CONTROL_IDS
            .iter()
            .copied()
            .filter(|id| *id != "access.unreviewed-assignment")
            .collect();
        assert_eq!(ours, in_catalog);
        assert!(is_known("storage.min-tls-1-2"));
        assert!(!is_known("storage.min-tls"));
    }
}
