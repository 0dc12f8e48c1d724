package kube

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ownContext is the context restConfig adds when no context of the
// kubeconfig uses the wanted cluster entry.
const ownContext = "noderemover"

// restConfig parses a kubeconfig (JSON or YAML) and returns the
// configuration for its cluster entry named entry, or for its current
// context when entry is "". Relative file paths in it are taken from
// origin's directory (origin "" for a kubeconfig that is no file). No error
// quotes the kubeconfig.
func restConfig(raw []byte, entry, origin string) (*rest.Config, error) {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", scrubbed(err))
	}
	if origin != "" {
		for _, c := range cfg.Clusters {
			c.LocationOfOrigin = origin
		}
		for _, u := range cfg.AuthInfos {
			u.LocationOfOrigin = origin
		}
		if err := clientcmd.ResolveLocalPaths(cfg); err != nil {
			return nil, fmt.Errorf("resolve paths: %w", scrubbed(err))
		}
	}
	if entry != "" {
		if err := useCluster(cfg, entry); err != nil {
			return nil, err
		}
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", scrubbed(err))
	}
	return rc, nil
}

// useCluster makes current a context of cfg that uses the cluster entry
// named entry (the first by name), or a new one with the kubeconfig's only
// user.
func useCluster(cfg *clientcmdapi.Config, entry string) error {
	if _, ok := cfg.Clusters[entry]; !ok {
		return fmt.Errorf("the kubeconfig has no cluster entry %q, only %s", entry, names(cfg.Clusters))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Contexts)) {
		if cfg.Contexts[name].Cluster == entry {
			cfg.CurrentContext = name
			return nil
		}
	}
	if len(cfg.AuthInfos) != 1 {
		return fmt.Errorf("no context of the kubeconfig uses cluster entry %q, and it has %d users, not one", entry, len(cfg.AuthInfos))
	}
	for user := range cfg.AuthInfos {
		cfg.Contexts[ownContext] = &clientcmdapi.Context{Cluster: entry, AuthInfo: user}
	}
	cfg.CurrentContext = ownContext
	return nil
}

// names lists a map's keys, quoted and sorted, or "none".
func names[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%q", k))
	}
	return strings.Join(out, ", ")
}
