package deployments

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestControllerComponent: the controller component adds one replica of
// `noderemover controller`, its ServiceAccount, and a ClusterRole with
// exactly what it needs of a cluster (the controller's tests run it with
// this role and nothing else), bound to that account.
func TestControllerComponent(t *testing.T) {
	m := buildOverlay(t, "", controllerComponent)
	d := find(m.deployments, "noderemover-controller")
	if d == nil {
		t.Fatalf("no Deployment noderemover-controller: %v", m.names())
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	spec := d.Spec.Template.Spec
	if c := spec.Containers; len(c) != 1 || !slices.Equal(c[0].Args, []string{"controller"}) {
		t.Errorf("containers %+v, want one running controller", c)
	}
	if find(m.accounts, spec.ServiceAccountName) == nil {
		t.Errorf("serviceAccountName %q is not a ServiceAccount of the build", spec.ServiceAccountName)
	}
	if len(m.clusterRoles) != 1 || len(m.roleBindings) != 1 {
		t.Fatalf("%d ClusterRoles, %d ClusterRoleBindings; want 1 each", len(m.clusterRoles), len(m.roleBindings))
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if got := m.clusterRoles[0].Rules; !slices.EqualFunc(got, want, func(a, b rbacv1.PolicyRule) bool {
		return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) && slices.Equal(a.Verbs, b.Verbs)
	}) {
		t.Errorf("rules %+v, want %+v", got, want)
	}
	b := m.roleBindings[0]
	if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != m.clusterRoles[0].Name ||
		len(b.Subjects) != 1 || b.Subjects[0].Kind != rbacv1.ServiceAccountKind || b.Subjects[0].Name != spec.ServiceAccountName {
		t.Errorf("binding %+v does not bind the ClusterRole to the controller's ServiceAccount", b)
	}
}

// TestChartController: the chart's optional controller (controller.enabled)
// is the component's: one replica running controller, and the same rules
// bound to its ServiceAccount in the release's namespace. Off by default.
func TestChartController(t *testing.T) {
	helmBin(t)
	if off := chartBuild(t, nil); len(off.clusterRoles) != 0 {
		t.Errorf("the default chart has ClusterRoles %v; the controller is off by default", off.names())
	}
	m := chartBuild(t, map[string]any{"controller": map[string]any{"enabled": true}})
	base := buildOverlay(t, "", controllerComponent)
	d := func() *appsv1.Deployment {
		for _, o := range m.deployments {
			if strings.HasSuffix(o.Name, "-controller") {
				return o
			}
		}
		return nil
	}()
	if d == nil {
		t.Fatalf("no controller Deployment: %v", m.names())
	}
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || len(spec.Containers) != 1 || !slices.Equal(spec.Containers[0].Args, []string{"controller"}) {
		t.Errorf("Deployment %s: replicas %v, containers %+v", d.Name, d.Spec.Replicas, spec.Containers)
	}
	if len(m.clusterRoles) != 1 || len(m.roleBindings) != 1 {
		t.Fatalf("%d ClusterRoles, %d bindings", len(m.clusterRoles), len(m.roleBindings))
	}
	if !reflect.DeepEqual(m.clusterRoles[0].Rules, base.clusterRoles[0].Rules) {
		t.Errorf("rules %+v; the component has %+v", m.clusterRoles[0].Rules, base.clusterRoles[0].Rules)
	}
	b := m.roleBindings[0]
	if b.RoleRef.Name != m.clusterRoles[0].Name || len(b.Subjects) != 1 || b.Subjects[0].Name != spec.ServiceAccountName || b.Subjects[0].Namespace == "" {
		t.Errorf("binding %+v", b)
	}
	if find(m.accounts, spec.ServiceAccountName) == nil {
		t.Errorf("no ServiceAccount %s", spec.ServiceAccountName)
	}
}
