#!/usr/bin/env bash
# Builds the Kubernetes control plane the tests use (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) and the helm CLI from their Go
# modules, pinned in tools/{etcd,kube,kwok,helm}/go.mod, into a cache directory
# named for those pins, and prints that directory. Cold: about 10 minutes; warm:
# instant. helm alone: about 2 minutes with an empty build cache, 3.5 with an
# empty module cache too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Only the modules built here: tools/crds pins files, not binaries.
modules=(etcd kube kwok helm)
stamp="$(for m in "${modules[@]}"; do cat "$here/$m/go.mod" "$here/$m/go.sum"; done | sha256sum | cut -c1-16)"
dir="${NODEREMOVER_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/noderemover/kube}/$stamp"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok helm)
have() { for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done; }
if have; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if have; then echo "$dir"; exit 0; fi
build() { # module, package, name[, more ldflags]
  echo "kube-tools: building $3" >&2
  (cd "$here/$1" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w ${4:-}" -o "$dir/$3.tmp" "$2") && mv "$dir/$3.tmp" "$dir/$3"
}
[ -x "$dir/etcd" ] || build etcd . etcd
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  [ -x "$dir/$c" ] || build kube "./cmd/$c" "$c"
done
[ -x "$dir/kwok" ] || build kwok sigs.k8s.io/kwok/cmd/kwok kwok
# helm's release builds stamp the version with -X; without it `helm version`
# says only v3.22. The tests check it against tools/helm/go.mod.
helm_version="$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$here/helm/go.mod")"
[ -x "$dir/helm" ] || build helm helm.sh/helm/v3/cmd/helm helm "-X helm.sh/helm/v3/internal/version.version=$helm_version"
echo "$dir"
