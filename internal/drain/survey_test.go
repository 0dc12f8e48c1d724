package drain_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/noderemover/noderemover/internal/drain"
)

// TestSurveySumsBudgetsOverNodes: one replica on each of two Nodes under a
// budget of one disruption: each Node alone would drain, both together
// would not, and the survey says so for both, with the count; it changes
// nothing.
func TestSurveySumsBudgetsOverNodes(t *testing.T) {
	k := newCluster(t)
	a, b := k.node(t, "a", "10.88.20.1"), k.node(t, "b", "10.88.20.2")
	k.deployment(t, "web", 2, nil)
	one := intstr.FromInt32(1)
	if _, err := k.c.PolicyV1().PodDisruptionBudgets(k.ns).Create(ctx(t), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: k.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.waitRunning(t, a.Name, "app=web", 1)
	k.waitRunning(t, b.Name, "app=web", 1)
	k.waitBudget(t, "web", 2)
	before := k.versions(t, a.Name, b.Name)

	for _, n := range []string{a.Name, b.Name} {
		s, err := drain.Survey(ctx(t), k.c, []string{n}, drain.Options{})
		if err != nil || len(s[n].PDBs) != 0 || len(s[n].Blocked) != 0 || len(s[n].Evict) != 1 {
			t.Errorf("%s alone: %+v, %v", n, s[n], err)
		}
	}
	s, err := drain.Survey(ctx(t), k.c, []string{a.Name, b.Name}, drain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{a.Name, b.Name} {
		got := strings.Join(s[n].PDBs, "; ")
		if len(s[n].PDBs) != 1 || !strings.Contains(got, "PodDisruptionBudget "+k.ns+"/web allows 1 disruptions now") ||
			!strings.Contains(got, "would evict 2 of its Pods") || !strings.Contains(got, " on "+a.Name) || !strings.Contains(got, " on "+b.Name) {
			t.Errorf("%s together: %+v", n, s[n])
		}
	}
	if after := k.versions(t, a.Name, b.Name); after != before {
		t.Errorf("the survey changed the cluster:\n before %s\n after  %s", before, after)
	}
}

// TestSurveyNoHeadroom: a budget that allows nothing blocks a single Node;
// Pods no controller keeps or with emptyDir data are named with what would
// allow them, and are not blocked with it; DaemonSet Pods stay; nothing
// changes in the cluster.
func TestSurveyNoHeadroom(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.21.1")
	k.deployment(t, "db", 1, nil)
	k.pdb(t, "db", "db", 1)
	k.deployment(t, "cache", 1, func(tmpl *corev1.PodTemplateSpec) {
		tmpl.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	})
	bare := k.bare(t, "debug", n.Name, nil)
	k.waitRunning(t, n.Name, "app=db", 1)
	k.waitRunning(t, n.Name, "app=cache", 1)
	k.waitBudget(t, "db", 1)
	before := k.versions(t, n.Name)

	s, err := drain.Survey(ctx(t), k.c, []string{n.Name}, drain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := s[n.Name]
	blocked := strings.Join(got.Blocked, "; ")
	if len(got.PDBs) != 1 || !strings.Contains(got.PDBs[0], k.ns+"/db allows 0 disruptions now") ||
		!strings.Contains(blocked, k.ns+"/"+bare.Name+": no controller") || !strings.Contains(blocked, "--force") ||
		!strings.Contains(blocked, "emptyDir data would be lost") || !strings.Contains(blocked, "--delete-emptydir-data") {
		t.Errorf("survey: %+v", got)
	}
	s, err = drain.Survey(ctx(t), k.c, []string{n.Name}, drain.Options{Force: true, DeleteEmptyDirData: true})
	if err != nil || len(s[n.Name].Blocked) != 0 || len(s[n.Name].Evict) != 3 || len(s[n.Name].PDBs) != 1 {
		t.Errorf("with force and delete_emptydir_data: %+v, %v", s[n.Name], err)
	}
	if after := k.versions(t, n.Name); after != before {
		t.Errorf("the survey changed the cluster:\n before %s\n after  %s", before, after)
	}
	if _, err := drain.Survey(ctx(t), k.c, []string{"no-such-node"}, drain.Options{}); !errors.Is(err, drain.ErrNodeNotFound) {
		t.Errorf("unknown node: %v", err)
	}
}

// versions is what a survey must not change: the Nodes and their Pods by
// resourceVersion, and the Events noderemover recorded on them (the node
// controller's own, RegisteredNode, may land at any time).
func (k *cluster) versions(t *testing.T, nodes ...string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range nodes {
		n, err := k.c.CoreV1().Nodes().Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(n.Name + "@" + n.ResourceVersion + " ")
		for _, p := range k.pods(t, name, "") {
			b.WriteString(p.Name + "@" + p.ResourceVersion + " ")
		}
	}
	evs, err := k.c.CoreV1().Events(metav1.NamespaceAll).List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.kind=Node"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		for _, name := range nodes {
			if e.InvolvedObject.Name == name && e.Source.Component == drain.Component {
				b.WriteString("event:" + e.Reason + " ")
			}
		}
	}
	return b.String()
}
