// Package deployments holds noderemover's deployment files: the container
// image (docker/Dockerfile), a compose file for local trials (compose.yaml)
// and the Kubernetes manifests as a kustomize base (kubernetes/). It has no
// code; its tests build and decode those files strictly and check them
// against the configuration, the probe paths and the subcommands the binary
// really has, so a typo or a drifted default fails `go test`.
package deployments
