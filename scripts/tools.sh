#!/usr/bin/env bash
# Builds the real control-plane tools (kube-apiserver, kube-controller-manager, kubectl, etcd,
# helm) from the Go module proxy at the versions pinned in scripts/versions.env, and caches them
# by version outside the repository. Prints the directory that holds the binaries.
#
#   scripts/tools.sh            build what is missing, print the bin directory
#   scripts/tools.sh --check    exit 0 only when every binary of the pinned versions is cached
#
# Cache root: $HIPAA_TOOLS_CACHE (default ~/.cache/hipaa-operator/tools).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${HIPAA_TOOLS_CACHE:-$HOME/.cache/hipaa-operator/tools}
kube_dir="$cache/kubernetes-v$KUBE_VERSION"
etcd_dir="$cache/etcd-v$ETCD_VERSION"
helm_dir="$cache/helm-v$HELM_VERSION"
bin="$cache/bin-k$KUBE_VERSION-e$ETCD_VERSION-h$HELM_VERSION"

log() { echo "tools.sh: $*" >&2; }

need_go() {
  command -v go >/dev/null 2>&1 || { log "Go is required (go 1.26+) to build the pinned tools"; exit 1; }
}

# Builds are bounded to the machine's two cores and keep their module cache outside the repo.
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

build_kube() {
  local out="$kube_dir/bin"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kubectl" ]]; then
    return
  fi
  need_go
  local work
  work=$(mktemp -d)
  log "building Kubernetes v$KUBE_VERSION (kube-apiserver, kube-controller-manager, kubectl) in $work"
  (
    cd "$work"
    go mod init hipaa-operator.local/kube-tools >/dev/null 2>&1
    go mod edit -go=1.26.0
    go mod edit -require="k8s.io/kubernetes@v$KUBE_VERSION"
    # k8s.io/kubernetes replaces its staging modules with local paths; point each at the
    # published v0.X.Y module of the same release instead.
    go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" >/dev/null
    local modfile
    modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$KUBE_VERSION.mod"
    local staging_version="v0.${KUBE_VERSION#1.}"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
    local ldflags
    local minor=${KUBE_VERSION#1.}; minor=${minor%%.*}
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    mkdir -p "$out.tmp"
    for cmd in kube-apiserver kube-controller-manager kubectl; do
      log "go build $cmd"
      go build -p 2 -trimpath -ldflags "$ldflags" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$work"
}

build_etcd() {
  local out="$etcd_dir/bin"
  [[ -x "$out/etcd" ]] && return
  need_go
  local work
  work=$(mktemp -d)
  log "building etcd v$ETCD_VERSION in $work"
  (
    cd "$work"
    go mod init hipaa-operator.local/etcd-tools >/dev/null 2>&1
    go mod edit -go=1.26.0
    go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    mkdir -p "$out.tmp"
    go build -p 2 -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$work"
}

build_helm() {
  local out="$helm_dir/bin"
  [[ -x "$out/helm" ]] && return
  need_go
  local major=${HELM_VERSION%%.*}
  log "building helm v$HELM_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v$major/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v$major/cmd/helm@v$HELM_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

link_bin() {
  mkdir -p "$bin"
  ln -sf "$kube_dir/bin/kube-apiserver" "$bin/kube-apiserver"
  ln -sf "$kube_dir/bin/kube-controller-manager" "$bin/kube-controller-manager"
  ln -sf "$kube_dir/bin/kubectl" "$bin/kubectl"
  ln -sf "$etcd_dir/bin/etcd" "$bin/etcd"
  ln -sf "$helm_dir/bin/helm" "$bin/helm"
}

if [[ "${1:-}" == "--check" ]]; then
  for f in "$kube_dir/bin/kube-apiserver" "$kube_dir/bin/kube-controller-manager" \
           "$kube_dir/bin/kubectl" "$etcd_dir/bin/etcd" "$helm_dir/bin/helm"; do
    [[ -x "$f" ]] || exit 1
  done
  exit 0
fi

mkdir -p "$cache"
build_etcd
build_helm
build_kube
link_bin
echo "$bin"
