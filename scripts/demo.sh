#!/usr/bin/env bash
# The demo on the embedded default: a real local Kubernetes control plane, azure-sim seeded with
# a non-compliant estate (examples/azure-estate.yaml), and the operator. It applies the examples in
# Audit mode and prints what is wrong, switches to Enforce and prints it converging, and ends
# with every store, what still needs a person (and what), and what the operator is still doing. `--keep-running` leaves everything up until Ctrl-C; `--ci` makes
# every expectation fatal (CI runs it as a smoke test): among them, that every store ends Ready or
# drifted only on what a person must do, with what to do said, and none in Conflict.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
mode=${1:-}

bin=$(bash scripts/tools.sh)
export PATH="$bin:$PATH"
cargo build --quiet --bin hipaa-operator -p hipaa-operator
cargo build --quiet -p azure-sim --bin azure-sim
cargo build --quiet -p hipaa-control-plane --bin local-control-plane

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo: $*" >&2; if [[ -f "$work/operator.log" ]]; then tail -40 "$work/operator.log" >&2; fi; exit 1; }
wait_for_line() { # file pattern seconds
  for _ in $(seq 1 $(($3 * 5))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done
  fail "timed out waiting for '$2' in $1"
}

./target/debug/local-control-plane --kubeconfig-out "$work/kubeconfig" >"$work/control-plane.log" 2>&1 &
pids+=($!)
tenant=3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7
./target/debug/azure-sim --listen 127.0.0.1:0 --seed examples/azure-estate.yaml --tenant-id "$tenant" \
  --cert-dir "$work/sim" >"$work/sim.log" 2>&1 &
pids+=($!)
wait_for_line "$work/control-plane.log" '^export KUBECONFIG' 120
wait_for_line "$work/sim.log" '^CA certificate:' 60
export KUBECONFIG="$work/kubeconfig"
arm=$(sed -n 's/^ARM endpoint: *//p' "$work/sim.log")
ca=$(sed -n 's/^CA certificate: *//p' "$work/sim.log")
port=${arm##*:}

say "Kubernetes $(kubectl version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) on loopback; azure-sim at $arm"
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for condition=established --timeout=60s crd --all >/dev/null

AZURE_TENANT_ID=$tenant AZURE_CLIENT_ID=8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d \
AZURE_CLIENT_SECRET=simulator-only-operator-secret \
./target/debug/hipaa-operator --log-format text --log info --leader-elect=false \
  --health-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 \
  --cloud Custom --arm-endpoint "$arm" --authority-host "$arm" \
  --key-vault-endpoint "https://{vault}.vault.localhost:$port" --ca-bundle "$ca" \
  --azure-identity client-secret-env >"$work/operator.log" 2>&1 &
pids+=($!)
wait_for_line "$work/operator.log" 'starting controllers' 60

say "Apply the examples in Audit mode (the workspace uses the operator's own identity here)"
kubectl create namespace clinical >/dev/null
# The cluster admin's grant: namespace clinical may govern rg-clinical-phi (no grant, no Azure request).
kubectl apply -f examples/admin/azurescopegrant.yaml >/dev/null
# On AKS the workspace names a workload identity; against the simulator the operator's own is used.
sed -e '/^  identity:/,+2d' -e 's/driftCheckInterval: PT30M/driftCheckInterval: PT20S/' examples/workspace.yaml \
  | kubectl apply -n clinical -f -
kubectl apply -n clinical -f examples/phistore-storage.yaml -f examples/phistore-sql.yaml \
  -f examples/phistore-cosmos.yaml -f examples/phistore-keyvault.yaml \
  -f examples/phistore-healthdata-workspace.yaml -f examples/phistore-fhir.yaml -f examples/phistore-dicom.yaml

ready_reason() { kubectl get phistore referral-letters -n clinical -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}' 2>/dev/null; }
for _ in $(seq 1 150); do [[ "$(ready_reason)" == Drifted ]] && break; sleep 0.4; done
[[ "$(ready_reason)" == Drifted ]] || fail "the storage account was not evaluated in Audit mode"

controls() {
  kubectl get phistore referral-letters -n clinical \
    -o jsonpath='{range .status.controls[*]}{.id}{"\t"}{.state}{"\t"}{.expected}{"\t"}{.observed}{"\n"}{end}' \
    | awk -F'\t' '{ printf "  %-45s %-13s expected: %-28.28s observed: %.40s\n", $1, $2, $3, $4 }'
}
say "kubectl get hipaa -n clinical"
kubectl get hipaa -n clinical
say "What is wrong with the storage account (Audit mode wrote nothing to Azure)"
controls | grep -v -E 'Compliant|Exempt' || true
writes=$(curl -s --cacert "$ca" "$arm/_sim/requests" | python3 -c '
import json, sys
log = json.load(sys.stdin)["value"]
# Token requests, Azure Policy summaries and Resource Graph queries are POSTs that only read.
# examples/phistore-cosmos.yaml asks for Enforce itself (a store may be stricter than its
# workspace), so its account is the one resource written while the workspace audits.
reads_only = ("/oauth2/", "/providers/microsoft.policyinsights/policystates/", "/providers/microsoft.resourcegraph/")
print(sum(1 for r in log if r["method"] not in ("GET", "HEAD")
          and not any(p in r["path"].lower() for p in reads_only)
          and "cosmos-patient-app" not in r["path"].lower()))')
echo "  Azure writes so far, outside the store that asks for Enforce: $writes (token requests and read-only queries are not writes)"
[[ "$writes" == 0 ]] || fail "Audit mode wrote to Azure"

ws_controls() {
  kubectl get hipaaworkspace clinical -n clinical \
    -o jsonpath='{range .status.controls[*]}{.id}{"\t"}{.state}{"\t"}{.expected}{"\t"}{.observed}{"\n"}{end}' \
    | awk -F'\t' '{ printf "  %-45s %-13s expected: %-28.28s observed: %.40s\n", $1, $2, $3, $4 }'
}
for _ in $(seq 1 150); do [[ -n "$(ws_controls)" ]] && break; sleep 0.4; done
say "What is wrong with the workspace's shared safeguards (vault, Log Analytics, audit archive)"
ws_controls | grep -v -E 'Compliant|Exempt' || true
kubectl get hipaaworkspace clinical -n clinical \
  -o jsonpath='  {.status.conditions[?(@.type=="PolicyAssigned")].message}{"\n"}'

say "Switch the workspace to Enforce"
kubectl patch hipaaworkspace clinical -n clinical --type merge -p '{"spec":{"mode":"Enforce"}}'
for _ in $(seq 1 750); do
  [[ "$(kubectl get phistore referral-letters -n clinical -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]] && break
  sleep 0.4
done
# The workspace settles too: everything it remediates on its own (what only a person can do,
# such as purge rights and the archive lock, is reported as awaiting a person).
ws_unsettled() {
  kubectl get hipaaworkspace clinical -n clinical \
    -o jsonpath='{range .status.controls[?(@.state=="Drifted")]}{.id}{"\t"}{.awaiting}{"\n"}{end}' \
    | awk -F'\t' '$2 != "Person"' | grep -q .
}
for _ in $(seq 1 150); do ws_unsettled || break; sleep 0.4; done
# Every store (and the workspace) settles: Ready, or drifted only on what a person must do (the
# catalog's report-only controls and what waits on them; status.controls[].awaiting says which).
# `estate` prints one line per object that has not settled, and the summary when asked.
estate() {
  kubectl get hipaaworkspaces,phistores -n clinical -o json >"$work/estate.json"
  python3 - "$work/estate.json" "${1:-check}" <<'PY'
import json, sys, textwrap
objects = json.load(open(sys.argv[1]))["items"]
summary = sys.argv[2] == "summary"
person, operator, unsettled = [], [], []
for s in objects:
    name = s["metadata"]["name"]
    if s["kind"] == "HipaaWorkspace":
        name = f"workspace {name}"
    st = s.get("status") or {}
    ready = next((c for c in st.get("conditions", []) if c["type"] == "Ready"), None)
    status, reason = (ready["status"], ready["reason"]) if ready else ("Unknown", "NotEvaluated")
    drifted = [c for c in st.get("controls", [])
               if c["state"] not in ("Compliant", "Remediated", "Exempt", "NotApplicable")]
    for c in st.get("controls", []):
        if c.get("recentRemediations", 0) >= 2:
            unsettled.append(f"{name}: {c['id']} was remediated {c['recentRemediations']} times in a row (the change does not hold)")
    for c in drifted:
        awaiting = c.get("awaiting", "nobody")
        (person if awaiting == "Person" else operator).append(
            (name, c["id"], c.get("message") or "(no next step given)"))
        if awaiting != "Person":
            unsettled.append(f"{name}: {c['id']} is {c['state']}, awaiting {awaiting}")
        elif not c.get("message"):
            unsettled.append(f"{name}: {c['id']} awaits a person but says nothing about what to do")
    if status != "True" and not (reason == "Drifted" and drifted):
        unsettled.append(f"{name}: Ready={status} ({reason})")
if summary:
    for title, rows in (("Needs a person (each says what to do; the operator does not act on these until then)", person),
                        ("The operator is working on it", operator)):
        print(f"\n\033[1m== {title}\033[0m")
        for store, control, message in rows or [("-", "nothing", "")]:
            print(f"  {store:<20} {control}")
            if message:
                print(textwrap.fill(message, 100, initial_indent=" " * 6, subsequent_indent=" " * 6,
                                    break_long_words=False, break_on_hyphens=False))
else:
    print("\n".join(unsettled))
PY
}
for _ in $(seq 1 120); do [[ -z "$(estate)" ]] && break; sleep 2; done
sleep 2 # the store count follows store changes after a one-second debounce
say "kubectl get hipaa -n clinical"
kubectl get hipaa -n clinical
say "Every control of the storage account"
controls
say "The workspace's shared safeguards after Enforce (the archive is locked only with spec.auditArchive.lock: true)"
ws_controls
kubectl get hipaaworkspace clinical -n clinical \
  -o jsonpath='  stores: {.status.stores.summary} ready; policy initiative: {.status.conditions[?(@.type=="PolicyAssigned")].reason}{"\n"}'

if [[ "$(kubectl get phistore referral-letters -n clinical -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" != True ]]; then
  fail "the storage account did not converge in Enforce mode"
fi
estate summary
settled() { # when
  local unsettled
  unsettled=$(estate)
  [[ -z "$unsettled" ]] && return 0
  echo "  Not settled $1: no store may be in Conflict, no remediation may have to be repeated, and no control the operator remediates may stay drifted:" >&2
  echo "$unsettled" | sed 's/^/    /' >&2
  if [[ "$mode" == "--ci" ]]; then fail "the estate did not settle in Enforce mode"; fi
}
settled "in Enforce mode"
if [[ "$mode" == "--ci" ]]; then
  # A remediation that Azure does not keep shows only at the next check: wait for one.
  sleep 30
  settled "one drift-check interval later"
  echo "  Still settled one drift-check interval later."
fi
say "Events"
kubectl get events -n clinical --field-selector involvedObject.name=referral-letters \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message --sort-by=.metadata.creationTimestamp | tail -15

if [[ "$mode" == "--keep-running" ]]; then
  say "Still running. KUBECONFIG=$KUBECONFIG  azure-sim admin: $arm/_sim (CA $ca). Ctrl-C stops everything."
  wait "${pids[0]}"
fi
say "Done: everything stops now"
