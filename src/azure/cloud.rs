//! Azure clouds: the endpoints, token scopes and DNS names that differ between Azure public,
//! Azure US Government, Azure China and a custom cloud (how the simulator is reached).

use std::path::PathBuf;

use url::Url;

/// Which Azure cloud the operator talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cloud {
    /// A short name for logs and metrics.
    pub name: String,
    /// Azure Resource Manager, e.g. `https://management.azure.com`.
    pub resource_manager: Url,
    /// Microsoft Entra authority host, e.g. `https://login.microsoftonline.com`.
    pub authority_host: Url,
    /// The token audience for ARM (scope without `/.default`).
    pub resource_manager_audience: String,
    /// The token audience for the Key Vault data plane.
    pub key_vault_audience: String,
    /// The DNS suffix of vaults, e.g. `vault.azure.net`.
    pub key_vault_dns_suffix: String,
    /// Where Key Vault data-plane requests go instead of `https://{vault}.{suffix}/`, as a
    /// template in which `{vault}` is replaced by the vault name (a custom cloud served from one
    /// address, such as the simulator). `None` on real clouds.
    pub key_vault_endpoint: Option<String>,
    /// The private DNS zone suffixes for private-link group ids.
    pub private_dns: PrivateDnsZones,
    /// PEM bundle of extra CAs to trust (a custom cloud's, or a TLS-inspecting proxy's).
    pub extra_ca_bundle: Option<PathBuf>,
}

/// Private DNS zone names of the private-link sub-resources the operator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateDnsZones {
    pub blob: String,
    pub dfs: String,
    pub file: String,
    pub queue: String,
    pub table: String,
    pub web: String,
    pub sql_server: String,
    pub cosmos_sql: String,
    /// The suffix of the other Cosmos DB APIs' zones: `cosmos.azure.com` gives
    /// `privatelink.mongo.cosmos.azure.com`, `privatelink.cassandra.cosmos.azure.com`, ...
    pub cosmos_apis: String,
    pub vault: String,
    /// The suffix of the Health Data Services zones: `azurehealthcareapis.com` gives the
    /// workspace, FHIR and DICOM zones (`privatelink.{workspace,fhir,dicom}.azurehealthcareapis.com`).
    pub healthcare_apis: String,
}

impl PrivateDnsZones {
    /// Every zone an endpoint of a private-endpoint group id must be registered in for the
    /// service's names to resolve privately, e.g. `blob` → `privatelink.blob.core.windows.net`,
    /// and a Health Data Services workspace's one group → its workspace, FHIR and DICOM zones
    /// (Microsoft's "Azure Private Endpoint private DNS zone values"). Empty for a group id the
    /// operator does not know.
    pub fn for_group(&self, group_id: &str) -> Vec<String> {
        let one = |zone: &String| vec![zone.clone()];
        let cosmos = |api: &str| vec![format!("privatelink.{api}.{}", self.cosmos_apis)];
        match group_id.trim_end_matches("_secondary") {
            "blob" => one(&self.blob),
            "dfs" => one(&self.dfs),
            "file" => one(&self.file),
            "queue" => one(&self.queue),
            "table" => one(&self.table),
            "web" => one(&self.web),
            "sqlServer" => one(&self.sql_server),
            "Sql" => one(&self.cosmos_sql),
            "SqlDedicated" => cosmos("sqlx"),
            "MongoDB" => cosmos("mongo"),
            "Cassandra" => cosmos("cassandra"),
            "Gremlin" => cosmos("gremlin"),
            "Table" => cosmos("table"),
            "Analytical" => cosmos("analytics"),
            "vault" => one(&self.vault),
            "healthcareworkspace" => ["workspace", "fhir", "dicom"]
                .iter()
                .map(|s| format!("privatelink.{s}.{}", self.healthcare_apis))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn url(s: &str) -> Url {
    // The presets are constants; a typo here is a programming error caught by the unit tests.
    Url::parse(s).unwrap_or_else(|e| panic!("cloud preset URL {s}: {e}"))
}

impl Cloud {
    /// Azure public cloud.
    pub fn azure_public() -> Cloud {
        Cloud {
            name: "AzurePublic".into(),
            resource_manager: url("https://management.azure.com"),
            authority_host: url("https://login.microsoftonline.com"),
            resource_manager_audience: "https://management.azure.com".into(),
            key_vault_audience: "https://vault.azure.net".into(),
            key_vault_dns_suffix: "vault.azure.net".into(),
            key_vault_endpoint: None,
            private_dns: PrivateDnsZones {
                blob: "privatelink.blob.core.windows.net".into(),
                dfs: "privatelink.dfs.core.windows.net".into(),
                file: "privatelink.file.core.windows.net".into(),
                queue: "privatelink.queue.core.windows.net".into(),
                table: "privatelink.table.core.windows.net".into(),
                web: "privatelink.web.core.windows.net".into(),
                sql_server: "privatelink.database.windows.net".into(),
                cosmos_sql: "privatelink.documents.azure.com".into(),
                cosmos_apis: "cosmos.azure.com".into(),
                vault: "privatelink.vaultcore.azure.net".into(),
                healthcare_apis: "azurehealthcareapis.com".into(),
            },
            extra_ca_bundle: None,
        }
    }

    /// The audience Entra accepts on federated tokens in this cloud (workload identity
    /// federation); custom clouds use the public one.
    pub fn token_exchange_audience(&self) -> &'static str {
        match self.name.as_str() {
            "AzureUSGovernment" => "api://AzureADTokenExchangeUSGov",
            "AzureChina" => "api://AzureADTokenExchangeChina",
            _ => "api://AzureADTokenExchange",
        }
    }

    /// Azure US Government.
    pub fn azure_us_government() -> Cloud {
        Cloud {
            name: "AzureUSGovernment".into(),
            resource_manager: url("https://management.usgovcloudapi.net"),
            authority_host: url("https://login.microsoftonline.us"),
            resource_manager_audience: "https://management.usgovcloudapi.net".into(),
            key_vault_audience: "https://vault.usgovcloudapi.net".into(),
            key_vault_dns_suffix: "vault.usgovcloudapi.net".into(),
            key_vault_endpoint: None,
            private_dns: PrivateDnsZones {
                blob: "privatelink.blob.core.usgovcloudapi.net".into(),
                dfs: "privatelink.dfs.core.usgovcloudapi.net".into(),
                file: "privatelink.file.core.usgovcloudapi.net".into(),
                queue: "privatelink.queue.core.usgovcloudapi.net".into(),
                table: "privatelink.table.core.usgovcloudapi.net".into(),
                web: "privatelink.web.core.usgovcloudapi.net".into(),
                sql_server: "privatelink.database.usgovcloudapi.net".into(),
                cosmos_sql: "privatelink.documents.azure.us".into(),
                cosmos_apis: "cosmos.azure.us".into(),
                vault: "privatelink.vaultcore.usgovcloudapi.net".into(),
                healthcare_apis: "azurehealthcareapis.us".into(),
            },
            extra_ca_bundle: None,
        }
    }

    /// Azure operated by 21Vianet (China).
    pub fn azure_china() -> Cloud {
        Cloud {
            name: "AzureChina".into(),
            resource_manager: url("https://management.chinacloudapi.cn"),
            authority_host: url("https://login.chinacloudapi.cn"),
            resource_manager_audience: "https://management.chinacloudapi.cn".into(),
            key_vault_audience: "https://vault.azure.cn".into(),
            key_vault_dns_suffix: "vault.azure.cn".into(),
            key_vault_endpoint: None,
            private_dns: PrivateDnsZones {
                blob: "privatelink.blob.core.chinacloudapi.cn".into(),
                dfs: "privatelink.dfs.core.chinacloudapi.cn".into(),
                file: "privatelink.file.core.chinacloudapi.cn".into(),
                queue: "privatelink.queue.core.chinacloudapi.cn".into(),
                table: "privatelink.table.core.chinacloudapi.cn".into(),
                web: "privatelink.web.core.chinacloudapi.cn".into(),
                sql_server: "privatelink.database.chinacloudapi.cn".into(),
                cosmos_sql: "privatelink.documents.azure.cn".into(),
                cosmos_apis: "cosmos.azure.cn".into(),
                vault: "privatelink.vaultcore.azure.cn".into(),
                healthcare_apis: "azurehealthcareapis.cn".into(),
            },
            extra_ca_bundle: None,
        }
    }

    /// A custom cloud: explicit endpoints (public-cloud DNS names and audiences otherwise), and
    /// optionally a CA bundle to trust. This is how the operator reaches `azure-sim`.
    pub fn custom(
        resource_manager: Url,
        authority_host: Url,
        key_vault_endpoint: Option<String>,
        extra_ca_bundle: Option<PathBuf>,
    ) -> Cloud {
        Cloud {
            name: "Custom".into(),
            resource_manager,
            authority_host,
            key_vault_endpoint,
            extra_ca_bundle,
            ..Cloud::azure_public()
        }
    }

    /// A preset by name: `AzurePublic`, `AzureUSGovernment` or `AzureChina` (case-insensitive).
    pub fn preset(name: &str) -> Option<Cloud> {
        match name.to_ascii_lowercase().as_str() {
            "azurepublic" | "azurecloud" | "public" => Some(Cloud::azure_public()),
            "azureusgovernment" | "azureusgovernmentcloud" | "usgovernment" => {
                Some(Cloud::azure_us_government())
            }
            "azurechina" | "azurechinacloud" | "china" => Some(Cloud::azure_china()),
            _ => None,
        }
    }

    /// The OAuth scope for ARM tokens.
    pub fn resource_manager_scope(&self) -> String {
        format!(
            "{}/.default",
            self.resource_manager_audience.trim_end_matches('/')
        )
    }

    /// The OAuth scope for Key Vault data-plane tokens.
    pub fn key_vault_scope(&self) -> String {
        format!("{}/.default", self.key_vault_audience.trim_end_matches('/'))
    }

    /// The data-plane base URL of a vault (always ending with `/`).
    pub fn vault_url(&self, vault_name: &str) -> Result<Url, url::ParseError> {
        let base = match &self.key_vault_endpoint {
            Some(template) => template.replace("{vault}", vault_name),
            None => format!("https://{vault_name}.{}", self.key_vault_dns_suffix),
        };
        let base = if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        };
        Url::parse(&base)
    }

    /// The versionless key URI a resource should use for automatic rotation.
    pub fn versionless_key_uri(&self, vault_name: &str, key_name: &str) -> String {
        format!(
            "https://{vault_name}.{}/keys/{key_name}",
            self.key_vault_dns_suffix
        )
    }

    /// The vault URI (`https://{vault}.{suffix}/`) as resources record it.
    pub fn vault_uri(&self, vault_name: &str) -> String {
        format!("https://{vault_name}.{}/", self.key_vault_dns_suffix)
    }

    /// azure_core's view of this cloud, for azure_identity credentials.
    pub fn core_configuration(&self) -> azure_core::cloud::CloudConfiguration {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = self
            .authority_host
            .as_str()
            .trim_end_matches('/')
            .to_string();
        custom.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_distinct_endpoints_and_scopes() {
        let clouds = [
            Cloud::azure_public(),
            Cloud::azure_us_government(),
            Cloud::azure_china(),
        ];
        for cloud in &clouds {
            assert_eq!(cloud.resource_manager.scheme(), "https");
            assert!(cloud.resource_manager_scope().ends_with("/.default"));
            assert_eq!(Cloud::preset(&cloud.name).as_ref(), Some(cloud));
            assert!(
                cloud
                    .private_dns
                    .for_group("blob")
                    .iter()
                    .all(|z| z.starts_with("privatelink."))
            );
        }
        assert_eq!(
            Cloud::azure_public().resource_manager_scope(),
            "https://management.azure.com/.default"
        );
        assert_eq!(
            Cloud::azure_us_government()
                .vault_url("kv1")
                .expect("url")
                .as_str(),
            "https://kv1.vault.usgovcloudapi.net/"
        );
        assert!(Cloud::preset("Mars").is_none());
    }

    #[test]
    fn custom_cloud_routes_key_vault_to_one_endpoint_but_keeps_public_names() {
        let sim = url("https://127.0.0.1:8443");
        let cloud = Cloud::custom(
            sim.clone(),
            sim,
            Some("https://127.0.0.1:8443/vaults/{vault}".into()),
            None,
        );
        assert_eq!(
            cloud.vault_url("kv-clinical").expect("url").as_str(),
            "https://127.0.0.1:8443/vaults/kv-clinical/"
        );
        assert_eq!(
            cloud.versionless_key_uri("kv-clinical", "k1"),
            "https://kv-clinical.vault.azure.net/keys/k1"
        );
        assert_eq!(
            cloud.private_dns.for_group("blob_secondary"),
            ["privatelink.blob.core.windows.net"]
        );
        assert!(cloud.private_dns.for_group("unknown").is_empty());
        assert_eq!(
            cloud.private_dns.for_group("MongoDB"),
            ["privatelink.mongo.cosmos.azure.com"]
        );
        assert_eq!(
            Cloud::azure_us_government()
                .private_dns
                .for_group("healthcareworkspace"),
            [
                "privatelink.workspace.azurehealthcareapis.us",
                "privatelink.fhir.azurehealthcareapis.us",
                "privatelink.dicom.azurehealthcareapis.us"
            ]
        );
    }
}
