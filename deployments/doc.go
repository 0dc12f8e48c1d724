// Package deployments holds noderemover's deployment files: the container
// image (docker/Dockerfile), a compose file for local trials (compose.yaml),
// the Kubernetes manifests as a kustomize base (kubernetes/), the alerting
// rules (prometheus/: a rules file, the same as a PrometheusRule, their
// promtool tests) and a Grafana dashboard (grafana/). It has no code; its
// tests build and decode those files strictly and check them against the
// configuration, the probe paths and the subcommands the binary really has,
// and run the rules and the dashboard's queries against a real Prometheus
// scraping a worker, so a typo, a drifted default or a renamed metric fails
// `go test`.
package deployments
