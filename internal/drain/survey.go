package drain

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// NodeSurvey is what draining one Node would do now.
type NodeSurvey struct {
	Evict   []string // "ns/pod" the drain would evict, sorted
	Stay    int      // DaemonSet and mirror Pods, left alone
	Blocked []string // "ns/pod: why" for each Pod that could not be evicted, with what would allow it
	PDBs    []string // each PodDisruptionBudget that would refuse the drain, counted over every Node surveyed
}

// Survey looks at the Nodes (by name) as Step would drain them with o, and
// changes nothing: it only lists Pods and PodDisruptionBudgets. Unlike a
// server-side dry-run eviction, which checks each Pod alone, it counts a
// budget over every healthy Pod the drain of all the Nodes would evict
// under it: more of them than the budget's status allows to go blocks each
// Node that has one. A Node that does not exist is an error wrapping
// ErrNodeNotFound.
func Survey(ctx context.Context, c kubernetes.Interface, nodes []string, o Options) (map[string]NodeSurvey, error) {
	s := &step{c: c, o: o, now: time.Now()}
	out := make(map[string]NodeSurvey, len(nodes))
	var evict []*corev1.Pod
	nodeOf := map[string]string{} // "ns/pod" → Node
	for _, node := range nodes {
		if _, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("node %s: %w", node, ErrNodeNotFound)
		} else if err != nil {
			return nil, fmt.Errorf("get node %s: %w", node, err)
		}
		list, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		})
		if err != nil {
			return nil, fmt.Errorf("list pods of node %s: %w", node, err)
		}
		var ns NodeSurvey
		for i := range list.Items {
			pod := &list.Items[i]
			switch {
			case isDaemonSetPod(pod) || isMirrorPod(pod):
				ns.Stay++
				continue
			case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed,
				pod.DeletionTimestamp != nil: // finished, or going already: nothing holds the drain
				continue
			}
			if why := surveyHoldBack(s.holdBack(pod)); why != "" {
				ns.Blocked = append(ns.Blocked, key(pod)+": "+why)
				continue
			}
			ns.Evict = append(ns.Evict, key(pod))
			evict = append(evict, pod)
			nodeOf[key(pod)] = node
		}
		out[node] = ns
	}
	under, err := s.budgets(ctx, evict)
	if err != nil {
		return nil, err
	}
	type tally struct {
		b    *budget
		pods []string // "ns/pod on node"
		on   map[string]bool
	}
	tallies := map[string]*tally{}
	for _, pod := range evict {
		bs := under[key(pod)]
		node := nodeOf[key(pod)]
		if len(bs) > 1 {
			var names []string
			for _, b := range bs {
				names = append(names, b.name)
			}
			slices.Sort(names)
			ns := out[node]
			ns.Blocked = append(ns.Blocked, fmt.Sprintf("%s: under several PodDisruptionBudgets (%s), which the Eviction API refuses", key(pod), strings.Join(names, ", ")))
			out[node] = ns
			continue
		}
		if len(bs) == 0 || !isHealthy(pod) {
			continue // a Pod that is not healthy does not count against its budget
		}
		t := tallies[bs[0].name]
		if t == nil {
			t = &tally{b: bs[0], on: map[string]bool{}}
			tallies[bs[0].name] = t
		}
		t.pods = append(t.pods, key(pod)+" on "+node)
		t.on[node] = true
	}
	for _, name := range slices.Sorted(maps.Keys(tallies)) {
		t := tallies[name]
		var why string
		switch {
		case !t.b.current:
			why = fmt.Sprintf("PodDisruptionBudget %s: its status is not observed yet, so the Eviction API refuses its Pods", name)
		case int32(len(t.pods)) > t.b.left:
			slices.Sort(t.pods)
			why = fmt.Sprintf("PodDisruptionBudget %s allows %d disruptions now (%d of %d healthy needed); the drain would evict %d of its Pods (%s)",
				name, max(t.b.left, 0), t.b.needs, t.b.has, len(t.pods), strings.Join(t.pods, ", "))
		default:
			continue
		}
		for node := range t.on {
			ns := out[node]
			ns.PDBs = append(ns.PDBs, why)
			out[node] = ns
		}
	}
	for node, ns := range out {
		slices.Sort(ns.Evict)
		slices.Sort(ns.Blocked)
		slices.Sort(ns.PDBs)
		out[node] = ns
	}
	return out, nil
}

// surveyHoldBack says, for a dry run, what would allow a Pod Step holds
// back.
func surveyHoldBack(why string) string {
	switch {
	case why == "":
		return ""
	case strings.HasPrefix(why, "no controller"):
		return "no controller: deleted for good, not recreated (allow with force, --force)"
	case strings.HasPrefix(why, "emptyDir"):
		return "emptyDir data would be lost (allow with delete_emptydir_data, --delete-emptydir-data)"
	}
	return why
}
