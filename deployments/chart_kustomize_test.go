package deployments

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestChartMatchesKustomize: rendered with its defaults, the chart runs
// every process as the kustomize base does: the same configuration, ports,
// probes, resources, security, grace periods and disruption budget; with
// its features on, the same autoscaling and workload identity.
func TestChartMatchesKustomize(t *testing.T) {
	helmBin(t)
	base, chart := kustomizeBuild(t, kubeDir), chartBuild(t, nil)

	t.Run("ConfigMap", func(t *testing.T) {
		if len(chart.configMaps) != 1 {
			t.Fatalf("%d ConfigMaps; want 1", len(chart.configMaps))
		}
		got := chart.configMaps[0].Data
		for k, want := range base.configMaps[0].Data {
			if got[k] != want {
				t.Errorf("%s: %q; the base has %q", k, got[k], want)
			}
		}
	})

	t.Run("Deployments", func(t *testing.T) {
		for _, bd := range base.deployments {
			cd := find(chart.deployments, bd.Name)
			if cd == nil {
				t.Errorf("no Deployment %s", bd.Name)
				continue
			}
			bs, cs := bd.Spec.Template.Spec, cd.Spec.Template.Spec
			for _, f := range []struct {
				what      string
				got, want any
			}{
				{"terminationGracePeriodSeconds", cs.TerminationGracePeriodSeconds, bs.TerminationGracePeriodSeconds},
				{"automountServiceAccountToken", cs.AutomountServiceAccountToken, bs.AutomountServiceAccountToken},
				{"enableServiceLinks", cs.EnableServiceLinks, bs.EnableServiceLinks},
				{"securityContext", cs.SecurityContext, bs.SecurityContext},
				{"containers", len(cs.Containers), len(bs.Containers)},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("Deployment/%s: %s\n%s\nthe base has\n%s", bd.Name, f.what, asYAML(f.got), asYAML(f.want))
				}
			}
			if len(bs.TopologySpreadConstraints) > 0 && !slices.EqualFunc(cs.TopologySpreadConstraints, bs.TopologySpreadConstraints, sameSpread) {
				t.Errorf("Deployment/%s: topologySpreadConstraints %+v; the base has %+v", bd.Name, cs.TopologySpreadConstraints, bs.TopologySpreadConstraints)
			}
			if len(cs.Containers) != 1 || len(bs.Containers) != 1 {
				continue
			}
			bc, cc := bs.Containers[0], cs.Containers[0]
			for _, f := range []struct {
				what      string
				got, want any
			}{
				{"name", cc.Name, bc.Name},
				{"args", cc.Args, bc.Args},
				{"ports", cc.Ports, bc.Ports},
				{"resources", cc.Resources, bc.Resources},
				{"livenessProbe", cc.LivenessProbe, bc.LivenessProbe},
				{"readinessProbe", cc.ReadinessProbe, bc.ReadinessProbe},
				{"securityContext", cc.SecurityContext, bc.SecurityContext},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("Deployment/%s: %s\n%s\nthe base has\n%s", bd.Name, f.what, asYAML(f.got), asYAML(f.want))
				}
			}
			if !reflect.DeepEqual(annotations(cd, "prometheus.io/"), annotations(bd, "prometheus.io/")) {
				t.Errorf("Deployment/%s: pod annotations %v; the base has %v", bd.Name, annotations(cd, "prometheus.io/"), annotations(bd, "prometheus.io/"))
			}
		}
	})

	t.Run("Services", func(t *testing.T) {
		for _, bs := range base.services {
			cs := find(chart.services, bs.Name)
			if cs == nil {
				t.Errorf("no Service %s", bs.Name)
				continue
			}
			if !reflect.DeepEqual(cs.Spec.Ports, bs.Spec.Ports) || cs.Spec.Type != bs.Spec.Type {
				t.Errorf("Service/%s: %s %+v; the base has %s %+v", bs.Name, cs.Spec.Type, cs.Spec.Ports, bs.Spec.Type, bs.Spec.Ports)
			}
		}
	})

	t.Run("PodDisruptionBudget", func(t *testing.T) {
		if len(chart.pdbs) != 1 || len(base.pdbs) != 1 {
			t.Fatalf("%d PodDisruptionBudgets, the base %d; want 1", len(chart.pdbs), len(base.pdbs))
		}
		if c, b := chart.pdbs[0], base.pdbs[0]; c.Name != b.Name || !reflect.DeepEqual(c.Spec.MaxUnavailable, b.Spec.MaxUnavailable) ||
			!reflect.DeepEqual(c.Spec.MinAvailable, b.Spec.MinAvailable) {
			t.Errorf("PodDisruptionBudget/%s %+v; the base has %s %+v", c.Name, c.Spec, b.Name, b.Spec)
		}
	})

	t.Run("KEDA", func(t *testing.T) {
		c := chartBuild(t, everything)
		if len(c.scaledObjects) != 1 {
			t.Fatalf("%d ScaledObjects; want 1", len(c.scaledObjects))
		}
		if got, want := c.scaledObjects[0].Spec, base.scaledObjects[0].Spec; !reflect.DeepEqual(got, want) {
			t.Errorf("spec\n%s\nthe base has\n%s", asYAML(got), asYAML(want))
		}
	})

	t.Run("HPA", func(t *testing.T) {
		c, b := chartBuild(t, merge(everything, withHPA)), buildOverlay(t, "", hpaComponent)
		if len(c.hpas) != 1 || len(c.scaledObjects) != 0 {
			t.Fatalf("%d HPAs and %d ScaledObjects; want the HPA alone", len(c.hpas), len(c.scaledObjects))
		}
		if got, want := c.hpas[0].Spec, b.hpas[0].Spec; !reflect.DeepEqual(got, want) {
			t.Errorf("spec\n%s\nthe hpa component has\n%s", asYAML(got), asYAML(want))
		}
	})

	t.Run("WorkloadIdentity", func(t *testing.T) {
		c, b := chartBuild(t, everything), buildOverlay(t, "", workloadIdentityComponent)
		cw, bw := find(c.deployments, "noderemover-worker"), find(b.deployments, "noderemover-worker")
		if cw == nil || bw == nil {
			t.Fatal("no worker Deployment")
		}
		cs, bs := cw.Spec.Template.Spec, bw.Spec.Template.Spec
		if !reflect.DeepEqual(cs.Volumes, bs.Volumes) || cs.ServiceAccountName != bs.ServiceAccountName ||
			!reflect.DeepEqual(cs.Containers[0].VolumeMounts, bs.Containers[0].VolumeMounts) ||
			!reflect.DeepEqual(cs.Containers[0].Env, bs.Containers[0].Env) {
			t.Errorf("the worker's account %q, volumes %+v, mounts %+v, env %+v; the component has %q, %+v, %+v, %+v",
				cs.ServiceAccountName, cs.Volumes, cs.Containers[0].VolumeMounts, cs.Containers[0].Env,
				bs.ServiceAccountName, bs.Volumes, bs.Containers[0].VolumeMounts, bs.Containers[0].Env)
		}
	})
}

// asYAML shows a value in failure messages.
func asYAML(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(out)
}

// sameSpread compares topology spread constraints but for the selector's
// labels, which the chart extends with the release's instance.
func sameSpread(a, b corev1.TopologySpreadConstraint) bool {
	a.LabelSelector, b.LabelSelector = nil, nil
	return reflect.DeepEqual(a, b)
}

func annotations(d *appsv1.Deployment, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range d.Spec.Template.Annotations {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
