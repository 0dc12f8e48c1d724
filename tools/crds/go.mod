// The CustomResourceDefinitions of the kinds the Helm chart may render
// (KEDA's ScaledObject; the Prometheus Operator's ServiceMonitor and
// PrometheusRule), pinned as the modules that ship them: nothing is built
// from here, the chart's install test reads the CRD files from these
// modules in the module cache (config/crd/bases, example/prometheus-operator-crd).
// Do not `go mod tidy` it: with no Go file to import them, tidy drops them.
module github.com/noderemover/noderemover/tools/crds

go 1.26.8

require (
	github.com/kedacore/keda/v2 v2.21.0
	github.com/prometheus-operator/prometheus-operator v0.85.0
)
