#!/usr/bin/env bash
# The foundation demo: a real local control plane, the CRDs, the examples, and what the API
# server says about an invalid object. (The operator and azure-sim join this demo as they land.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

bin=$(bash scripts/tools.sh)
export PATH="$bin:$PATH"
cargo build --quiet -p hipaa-control-plane --bin local-control-plane

work=$(mktemp -d)
log="$work/control-plane.log"
./target/debug/local-control-plane --kubeconfig-out "$work/kubeconfig" >"$log" 2>&1 &
plane=$!
cleanup() { kill "$plane" 2>/dev/null || true; wait "$plane" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 600); do
  grep -q '^export KUBECONFIG' "$log" 2>/dev/null && break
  kill -0 "$plane" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
export KUBECONFIG="$work/kubeconfig"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Kubernetes $(kubectl version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) on $(grep 'API server' "$log" | cut -d' ' -f3)"
say "Install the CRDs"
kubectl apply --server-side -f crds/
kubectl wait --for condition=established --timeout=60s crd/hipaaworkspaces.hipaa-operator.io crd/phistores.hipaa-operator.io crd/accessreviews.hipaa-operator.io

say "Apply the examples (kubectl apply -k examples/)"
kubectl create namespace clinical
kubectl apply -n clinical -k examples/
kubectl apply -n clinical -f examples/accessreview-decisions.yaml

say "kubectl get hipaa"
kubectl get hipaa -n clinical

say "kubectl explain phistore.spec.resource"
kubectl explain phistore.spec.resource

say "An invalid PhiStore: a SQL server kind with a storage account id, and an exemption without approver"
cat <<YAML | kubectl apply -n clinical -f - || true
apiVersion: hipaa-operator.io/v1alpha1
kind: PhiStore
metadata:
  name: wrong-kind
spec:
  workspaceRef: {name: clinical}
  resource:
    kind: SqlServer
    id: /subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi/providers/Microsoft.Storage/storageAccounts/streferralletters
  exemptions:
    - control: storage.geo-redundant
      reason: pending review
      approver: " "
      expires: "2027-01-01T00:00:00Z"
YAML

if [[ "${1:-}" == "--keep-running" ]]; then
  say "The control plane keeps running; KUBECONFIG=$KUBECONFIG. Ctrl-C to stop."
  wait "$plane"
fi
