//! The operator's configuration: flags and environment variables (`hipaa-operator --help`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::azure::budget::BudgetConfig;
use crate::azure::{ClientSettings, Cloud, Identity};
use crate::runtime::LogFormat;

/// Keeps Azure resources holding PHI configured as the HIPAA Security Rule expects, and reports
/// every control in the status of HipaaWorkspace, PhiStore and AccessReview objects.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Args {
    /// A one-off command instead of running the operator.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log filter in RUST_LOG syntax, e.g. `info` or `hipaa_operator=debug,kube=info`.
    #[arg(long, env = "HIPAA_LOG", default_value = "info")]
    pub log: String,
    /// Log format.
    #[arg(long, env = "HIPAA_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Where `/metrics` is served.
    #[arg(
        long,
        env = "HIPAA_METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_bind_address: SocketAddr,
    /// Where `/healthz` and `/readyz` are served.
    #[arg(
        long,
        env = "HIPAA_HEALTH_BIND_ADDRESS",
        default_value = "0.0.0.0:8081"
    )]
    pub health_bind_address: SocketAddr,
    /// Elect one writer through a Lease; `--leader-elect=false` for a single replica.
    #[arg(long, env = "HIPAA_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, env = "HIPAA_LEASE_NAME", default_value = "hipaa-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease and in events.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Namespaces to watch, comma-separated; empty watches all.
    #[arg(
        long,
        env = "HIPAA_WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub watch_namespaces: Vec<String>,
    /// Namespaces whose Secrets may hold workspace client secrets, comma-separated; a workspace
    /// elsewhere that names a clientSecretRef is reported as InvalidSpec. Empty allows none.
    #[arg(
        long,
        env = "HIPAA_SECRET_NAMESPACES_ALLOWED",
        value_delimiter = ',',
        default_value = ""
    )]
    pub secret_namespaces_allowed: Vec<String>,
    /// The ServiceAccount, in each workspace's namespace, whose tokens (TokenRequest) stand for
    /// a workspace's own identity (`spec.identity.clientId`): federate that identity with
    /// subject `system:serviceaccount:<namespace>:<this name>`.
    #[arg(
        long,
        env = "HIPAA_WORKSPACE_SERVICE_ACCOUNT",
        default_value = "hipaa-workspace"
    )]
    pub workspace_service_account: String,
    /// Azure cloud: AzurePublic, AzureUSGovernment, AzureChina or Custom (with the endpoints below).
    #[arg(long, env = "HIPAA_CLOUD", default_value = "AzurePublic")]
    pub cloud: String,
    /// Custom cloud: Azure Resource Manager endpoint.
    #[arg(long, env = "HIPAA_ARM_ENDPOINT")]
    pub arm_endpoint: Option<url::Url>,
    /// Custom cloud: Microsoft Entra authority host.
    #[arg(long, env = "HIPAA_AUTHORITY_HOST")]
    pub authority_host: Option<url::Url>,
    /// Custom cloud: Key Vault data-plane endpoint, `{vault}` standing for the vault name.
    #[arg(long, env = "HIPAA_KEY_VAULT_ENDPOINT")]
    pub key_vault_endpoint: Option<String>,
    /// PEM bundle of extra CAs to trust for Azure endpoints.
    #[arg(long, env = "HIPAA_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// The operator's own Azure identity: auto (workload identity if its token file is set,
    /// else a client secret from AZURE_CLIENT_SECRET, else an error: never a managed identity
    /// by accident), workload-identity, managed-identity, azure-cli, or client-secret-env.
    #[arg(long, env = "HIPAA_AZURE_IDENTITY", default_value = "auto")]
    pub azure_identity: String,
    /// How often each store is read in full (ISO-8601) when nothing changes. Between full
    /// passes, drift is found through Azure Resource Graph once per workspace drift interval;
    /// what Resource Graph does not carry (child resources, diagnostic settings, keys, role
    /// assignments) is read at this interval. A value not above a workspace's drift interval
    /// reads everything every interval.
    #[arg(long, env = "HIPAA_FULL_CHECK_INTERVAL", default_value = "P1D", value_parser = iso_duration)]
    pub full_check_interval: std::time::Duration,
    /// Azure Resource Manager reads per hour the operator may use per subscription.
    #[arg(long, env = "HIPAA_AZURE_READS_PER_HOUR", default_value_t = BudgetConfig::default().reads_per_hour)]
    pub azure_reads_per_hour: u32,
    /// Azure Resource Manager writes per hour the operator may use per subscription.
    #[arg(long, env = "HIPAA_AZURE_WRITES_PER_HOUR", default_value_t = BudgetConfig::default().writes_per_hour)]
    pub azure_writes_per_hour: u32,
    /// Calls per subscription that may go at once before the hourly rates apply.
    #[arg(long, env = "HIPAA_AZURE_BURST", default_value_t = BudgetConfig::default().burst)]
    pub azure_burst: u32,
    /// Reconciles of one kind that may run at once.
    #[arg(long, env = "HIPAA_MAX_CONCURRENT_RECONCILES", default_value_t = 32)]
    pub max_concurrent_reconciles: u16,
    /// How long a reconcile waits for a long-running Azure operation (ISO-8601) before it
    /// records the operation in the object's status and comes back when Azure says to look
    /// again, freeing its slot for other objects. Operations that end sooner are followed to
    /// their end in the same pass.
    #[arg(long, env = "HIPAA_LRO_HAND_OVER_AFTER", default_value = "PT3S", value_parser = iso_duration)]
    pub lro_hand_over_after: std::time::Duration,
    /// How long after Azure records a role assignment the operator counts on it being in
    /// effect (ISO-8601). Azure applies a new assignment within minutes; a vault moving from
    /// access policies to RBAC authorization switches only once every holder's new role is
    /// this old, so no holder is locked out meanwhile.
    #[arg(long, env = "HIPAA_ROLE_ASSIGNMENT_SETTLE", default_value = "PT10M", value_parser = iso_duration)]
    pub role_assignment_settle: std::time::Duration,
}

/// One-off commands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Print the least-privilege custom Azure role the operator needs, generated from the calls
    /// it makes, as `az role definition create --role-definition @role.json` reads it. Assign
    /// it to each workspace identity at the scopes its grants allow.
    AzureRole {
        /// A scope the role may be assigned at (a subscription, a resource group, ...); repeat
        /// for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The role's name.
        #[arg(long, default_value = "hipaa-operator")]
        name: String,
    },
}

fn iso_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::api::duration::parse(text)
        .ok_or_else(|| format!("'{text}' is not an ISO-8601 duration such as PT30S, PT6H or P1D"))
}

impl Args {
    /// The Azure client settings: the request budget from the flags.
    pub fn client_settings(&self) -> ClientSettings {
        let mut settings = ClientSettings::default();
        settings.budget.reads_per_hour = self.azure_reads_per_hour.max(1);
        settings.budget.writes_per_hour = self.azure_writes_per_hour.max(1);
        settings.budget.burst = self.azure_burst.max(1);
        settings.lro.hand_over_after = Some(self.lro_hand_over_after);
        settings
    }

    /// The Azure cloud from `--cloud` and the custom endpoints.
    pub fn cloud(&self) -> anyhow::Result<Cloud> {
        if self.cloud.eq_ignore_ascii_case("custom") {
            let arm = self
                .arm_endpoint
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--cloud Custom needs --arm-endpoint"))?;
            let authority = self
                .authority_host
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--cloud Custom needs --authority-host"))?;
            return Ok(Cloud::custom(
                arm,
                authority,
                self.key_vault_endpoint.clone(),
                self.ca_bundle.clone(),
            ));
        }
        let mut cloud = Cloud::preset(&self.cloud).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown --cloud {}: use AzurePublic, AzureUSGovernment, AzureChina or Custom",
                self.cloud
            )
        })?;
        cloud.extra_ca_bundle = self.ca_bundle.clone();
        Ok(cloud)
    }

    /// The operator's own identity.
    pub fn identity(&self) -> anyhow::Result<Identity> {
        self.identity_from(|k| std::env::var(k).ok())
    }

    /// [`Args::identity`] from the environment `env` gives.
    fn identity_from(&self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Identity> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let client_secret = || -> anyhow::Result<Identity> {
            Ok(Identity::ClientSecret {
                tenant_id: env("AZURE_TENANT_ID")
                    .ok_or_else(|| anyhow::anyhow!("AZURE_TENANT_ID is not set"))?,
                client_id: env("AZURE_CLIENT_ID")
                    .ok_or_else(|| anyhow::anyhow!("AZURE_CLIENT_ID is not set"))?,
                secret: azure_core::credentials::Secret::new(
                    env("AZURE_CLIENT_SECRET")
                        .ok_or_else(|| anyhow::anyhow!("AZURE_CLIENT_SECRET is not set"))?,
                ),
            })
        };
        let workload = || Identity::WorkloadIdentity {
            tenant_id: None,
            client_id: None,
            token_file: None,
        };
        let managed = || Identity::ManagedIdentity {
            client_id: env("AZURE_CLIENT_ID"),
        };
        match self.azure_identity.as_str() {
            "auto" if env("AZURE_FEDERATED_TOKEN_FILE").is_some() => Ok(workload()),
            "auto" if env("AZURE_CLIENT_SECRET").is_some() => client_secret(),
            // Never the node's identity by accident: a pod meant for workload identity whose
            // token the webhook did not project (a missing label, a webhook outage) must not
            // act as the node's managed identity, which may reach far more.
            "auto" => anyhow::bail!(
                "--azure-identity auto found no workload identity token (AZURE_FEDERATED_TOKEN_FILE, projected by the Azure Workload Identity webhook into pods labelled azure.workload.identity/use=true) and no AZURE_CLIENT_SECRET; it does not fall back to a managed identity: check the webhook and the pod's label, or set --azure-identity managed-identity to use one"
            ),
            "managed-identity" => Ok(managed()),
            "workload-identity" => Ok(workload()),
            "client-secret-env" => client_secret(),
            "azure-cli" => Ok(Identity::AzureCli {
                tenant_id: env("AZURE_TENANT_ID"),
            }),
            other => anyhow::bail!(
                "unknown --azure-identity {other}: use auto, workload-identity, managed-identity, azure-cli or client-secret-env"
            ),
        }
    }

    /// Watched namespaces (empty entries dropped).
    pub fn namespaces(&self) -> Vec<String> {
        self.watch_namespaces
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.trim().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_custom_cloud() {
        let args = Args::parse_from(["hipaa-operator"]);
        assert!(args.leader_elect);
        assert_eq!(args.metrics_bind_address.port(), 8080);
        assert!(args.namespaces().is_empty());
        assert_eq!(args.cloud().expect("cloud").name, "AzurePublic");

        let args = Args::parse_from([
            "hipaa-operator",
            "--leader-elect=false",
            "--cloud",
            "Custom",
            "--arm-endpoint",
            "https://127.0.0.1:8443",
            "--authority-host",
            "https://127.0.0.1:8443",
            "--watch-namespaces",
            "clinical,research",
        ]);
        assert!(!args.leader_elect);
        assert_eq!(args.namespaces(), vec!["clinical", "research"]);
        assert_eq!(
            args.cloud().expect("cloud").resource_manager.as_str(),
            "https://127.0.0.1:8443/"
        );
        let err = Args::parse_from(["hipaa-operator", "--cloud", "Custom"])
            .cloud()
            .expect_err("needs endpoints");
        assert!(err.to_string().contains("--arm-endpoint"));
        // auto: workload identity, else a client secret, else an error, never the node's
        // managed identity.
        let auto = Args::parse_from(["hipaa-operator"]);
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(matches!(
            auto.identity_from(vars(&[("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")])),
            Ok(Identity::WorkloadIdentity { .. })
        ));
        assert!(matches!(
            auto.identity_from(vars(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s")
            ])),
            Ok(Identity::ClientSecret { .. })
        ));
        let none = auto
            .identity_from(vars(&[("AZURE_CLIENT_ID", "c")]))
            .expect_err("no silent managed identity");
        assert!(none.to_string().contains("does not fall back"), "{none}");
        assert!(matches!(
            Args::parse_from(["hipaa-operator", "--azure-identity", "managed-identity"])
                .identity_from(vars(&[])),
            Ok(Identity::ManagedIdentity { .. })
        ));
        let err = Args::parse_from(["hipaa-operator", "--azure-identity", "magic"])
            .identity()
            .expect_err("unknown");
        assert!(err.to_string().contains("unknown --azure-identity magic"));
    }
}
