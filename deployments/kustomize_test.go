package deployments

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

func TestKustomize(t *testing.T) {
	t.Run("Base", func(t *testing.T) {
		m := kustomizeBuild(t, kubeDir)
		if len(m.scaledObjects) != 1 || len(m.hpas) != 0 {
			t.Errorf("base has %d ScaledObject(s) and %d HPA(s); want KEDA's alone", len(m.scaledObjects), len(m.hpas))
		}
		if len(m.secrets) != 0 {
			t.Errorf("base applies Secret(s) %v: every `kubectl apply -k` would overwrite the real ones with placeholders", m.names())
		}
	})

	t.Run("HPAComponent", func(t *testing.T) {
		base, m := kustomizeBuild(t, kubeDir), buildOverlay(t, "", hpaComponent)
		if len(m.scaledObjects) != 0 || len(m.hpas) != 1 {
			t.Errorf("with the hpa component: %d ScaledObject(s), %d HPA(s); want the HPA alone", len(m.scaledObjects), len(m.hpas))
		}
		want := slices.DeleteFunc(base.names(), func(s string) bool { return strings.HasPrefix(s, "ScaledObject/") })
		got := slices.DeleteFunc(m.names(), func(s string) bool { return strings.HasPrefix(s, "HorizontalPodAutoscaler/") })
		if !slices.Equal(got, want) {
			t.Errorf("with the hpa component the rest is %v; want the base's %v", got, want)
		}
	})

	// An overlay's namePrefix must rename the references to the worker too:
	// kustomize knows the HPA's, kustomizeconfig.yaml teaches it KEDA's.
	for _, tc := range []struct {
		name       string
		components []string
	}{{"NamePrefixKEDA", nil}, {"NamePrefixHPA", []string{hpaComponent}}} {
		t.Run(tc.name, func(t *testing.T) {
			m := buildOverlay(t, "x-", tc.components...)
			deployments := map[string]bool{}
			for _, d := range m.deployments {
				deployments[d.Name] = true
				for _, c := range d.Spec.Template.Spec.Containers {
					for _, src := range c.EnvFrom {
						if src.ConfigMapRef != nil && find(m.configMaps, src.ConfigMapRef.Name) == nil {
							t.Errorf("Deployment/%s refers to ConfigMap %s, not in the build", d.Name, src.ConfigMapRef.Name)
						}
					}
				}
			}
			for _, so := range m.scaledObjects {
				if !deployments[so.Spec.ScaleTargetRef.Name] {
					t.Errorf("ScaledObject/%s targets %q, not a Deployment of the build", so.Name, so.Spec.ScaleTargetRef.Name)
				}
			}
			for _, h := range m.hpas {
				if !deployments[h.Spec.ScaleTargetRef.Name] {
					t.Errorf("HorizontalPodAutoscaler/%s targets %q, not a Deployment of the build", h.Name, h.Spec.ScaleTargetRef.Name)
				}
			}
		})
	}
}

// TestManifestFiles decodes every YAML file under kubernetes/ strictly, and
// checks that every object in them is applied by the base or the HPA variant.
func TestManifestFiles(t *testing.T) {
	applied := map[string]bool{}
	for _, n := range slices.Concat(kustomizeBuild(t, kubeDir).names(), buildOverlay(t, "", hpaComponent).names(),
		buildOverlay(t, "", workloadIdentityComponent).names(), buildOverlay(t, "", controllerComponent).names()) {
		applied[n] = true
	}
	err := filepath.WalkDir(kubeDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(kubeDir, path)
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: only .yaml files belong in %s", path, kubeDir)
			return nil
		}
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch filepath.Base(path) {
			case "kustomization.yaml":
				var k types.Kustomization
				if err := decodeStrict(data, &k); err != nil {
					t.Fatal(err)
				}
				if k.Namespace != "" {
					t.Errorf("namespace %q: the base is namespace-agnostic", k.Namespace)
				}
				var raw map[string]any
				if err := yaml.Unmarshal(data, &raw); err != nil {
					t.Fatal(err)
				}
				if _, ok := raw["commonLabels"]; ok {
					t.Error("commonLabels is deprecated and changes selectors; use labels")
				}
				return
			case "kustomizeconfig.yaml":
				var c kustomizeConfig
				if err := decodeStrict(data, &c); err != nil {
					t.Fatal(err)
				}
				return
			}
			m := &manifest{}
			for i, doc := range splitDocs(t, data) {
				m.add(t, fmt.Sprintf("document %d", i+1), doc)
			}
			if rel == secretFile {
				return // the template; TestKubernetes checks it
			}
			for _, n := range m.names() {
				if !applied[n] {
					t.Errorf("%s is applied neither by the base nor with a component", n)
				}
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
