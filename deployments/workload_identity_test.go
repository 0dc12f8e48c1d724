package deployments

import (
	"path"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/noderemover/noderemover/config"
)

// TestWorkloadIdentityComponent: with the workload-identity component the
// worker runs as its own ServiceAccount with a projected token where
// HUAWEICLOUD_SDK_ID_TOKEN_FILE says, reads no CCE Secret, and its
// configuration is workload identity, complete.
func TestWorkloadIdentityComponent(t *testing.T) {
	checkWorkloadIdentity(t, buildOverlay(t, "", workloadIdentityComponent), templateSecrets(t))
}

// TestChartWorkloadIdentity: the same with the chart's workloadIdentity on.
func TestChartWorkloadIdentity(t *testing.T) {
	helmBin(t)
	m := chartBuild(t, everything)
	checkWorkloadIdentity(t, m, append(templateSecrets(t), m.secrets...))
}

func checkWorkloadIdentity(t *testing.T, m *manifest, secrets []*corev1.Secret) {
	procs := processes(t, m, secrets)
	var w *process
	for i := range procs {
		if procs[i].sub == "worker" {
			w = &procs[i]
		}
	}
	if w == nil {
		t.Fatal("no worker container")
	}
	cfg, err := loadConfig("worker", w.env)
	if err != nil {
		t.Fatalf("the worker's configuration: %v", err)
	}
	if got := cfg.CredentialSource(); got != config.SourceWorkload {
		t.Errorf("credential source %s, want workload identity", got)
	}
	for _, src := range w.c.EnvFrom {
		if src.SecretRef != nil {
			t.Errorf("the worker still reads Secret %s", src.SecretRef.Name)
		}
	}
	spec := w.deploy.Spec.Template.Spec
	if spec.ServiceAccountName == "" || len(m.accounts) != 1 || m.accounts[0].Name != spec.ServiceAccountName {
		t.Errorf("serviceAccountName %q, accounts %v", spec.ServiceAccountName, m.names())
	}
	var mount *corev1.VolumeMount
	for i, vm := range w.c.VolumeMounts {
		if vm.MountPath == path.Dir(cfg.IDTokenFile) {
			mount = &w.c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("no read-only mount at %s: %+v", path.Dir(cfg.IDTokenFile), w.c.VolumeMounts)
	}
	var token *corev1.ServiceAccountTokenProjection
	for _, v := range spec.Volumes {
		if v.Name == mount.Name && v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == path.Base(cfg.IDTokenFile) {
					token = s.ServiceAccountToken
				}
			}
		}
	}
	if token == nil || token.Audience == "" || token.ExpirationSeconds == nil || *token.ExpirationSeconds < 600 {
		t.Errorf("projected token %+v: want one at %s with an audience and at least 10 minutes", token, cfg.IDTokenFile)
	}
}
