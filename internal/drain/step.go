package drain

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Progress is where a drain stands after one Step.
type Progress struct {
	Done      bool     // no Pod that must go is left, and no VolumeAttachment of the Node is attached
	PodsLeft  int      // Pods that must still go (not counting DaemonSet and mirror Pods)
	BlockedBy []string // "ns/pod: why", sorted, one per Pod held back (and "VolumeAttachment name: why")
	PDBs      []string // "ns/name" of PDBs that held a Pod back this pass, sorted
	Evicted   int      // evictions accepted this pass
	Refused   int      // evictions refused this pass (429 and others)
	Calls     int      // Kubernetes API calls made this pass
}

// criticalPriority is the priority from which a Pod is system-critical
// (scheduling.SystemCriticalPriority).
const criticalPriority = 2000000000

// Step makes one pass over the Node's Pods and reports the Progress. It
// lists them (one List), leaves DaemonSet and mirror Pods alone, evicts
// finished Pods (they do not block), holds back the Pods that may not go
// (no controller unless Force, emptyDir unless DeleteEmptyDirData,
// karpenter.sh/do-not-disrupt, several PodDisruptionBudgets, a budget whose
// current status allows no more disruption), and evicts the rest that are
// not yet terminating: ordinary Pods first, the system-critical ones only
// once no ordinary Pod is left. It never waits:
// a Pod an eviction was accepted for is reported as terminating until it
// is gone, and a 429 is a Pod held back this pass, not an error.
//
// Once no Pod is left, Done also waits for the Node's VolumeAttachments to
// detach (one more List). Step returns an error when it could not look
// (a List failed) or an eviction failed in a way a PodDisruptionBudget does
// not explain (403 from a webhook, 5xx): the Progress is still filled in.
func Step(ctx context.Context, c kubernetes.Interface, node string, o Options) (Progress, error) {
	s := &step{c: c, o: o, now: time.Now()}
	err := s.run(ctx, node)
	return s.progress(), err
}

// step is one pass of Step.
type step struct {
	c       kubernetes.Interface
	o       Options
	now     time.Time
	p       Progress
	blocked map[string]string // "ns/pod" (or "VolumeAttachment x") → why
	pdbs    map[string]bool
}

func (s *step) run(ctx context.Context, node string) error {
	s.blocked = map[string]string{}
	s.pdbs = map[string]bool{}
	s.p.Calls++
	list, err := s.c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return fmt.Errorf("list pods of node %s: %w", node, err)
	}
	var finished, ordinary, critical []*corev1.Pod
	ordinaryLeft := 0 // ordinary Pods that must go, held back or not
	for i := range list.Items {
		pod := &list.Items[i]
		switch {
		case isDaemonSetPod(pod) || isMirrorPod(pod):
			continue
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			if pod.DeletionTimestamp == nil {
				finished = append(finished, pod)
			}
			continue
		}
		s.p.PodsLeft++
		if !isCritical(pod) {
			ordinaryLeft++
		}
		switch why := s.holdBack(pod); {
		case why != "":
			s.blocked[key(pod)] = why
		case isCritical(pod):
			critical = append(critical, pod)
		default:
			ordinary = append(ordinary, pod)
		}
	}
	evict := ordinary
	if ordinaryLeft == 0 {
		evict = critical
	} else {
		for _, pod := range critical {
			s.blocked[key(pod)] = "system-critical, evicted once the other Pods are gone"
		}
	}

	var errs []error
	for _, pod := range finished {
		// A finished Pod does not block; evicting it is tidying up.
		if _, _, err := s.evict(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	under, err := s.budgets(ctx, evict)
	if err != nil {
		return err
	}
	for _, pod := range evict {
		bs := under[key(pod)]
		if len(bs) > 1 {
			var names []string
			for _, b := range bs {
				names = append(names, b.name)
				s.pdbs[b.name] = true
			}
			slices.Sort(names)
			s.blocked[key(pod)] = fmt.Sprintf("under several PodDisruptionBudgets (%s), which the Eviction API refuses", strings.Join(names, ", "))
			continue
		}
		// A healthy Pod under one budget whose status is current is what the
		// Eviction API decides by that status: no disruption left is a 429
		// known without asking.
		var b *budget
		if len(bs) == 1 && bs[0].current && isHealthy(pod) {
			b = bs[0]
		}
		if b != nil && b.left <= 0 {
			s.blocked[key(pod)] = noDisruption(b.name, b.needs, b.has)
			s.pdbs[b.name] = true
			continue
		}
		evicted := s.p.Evicted
		gone, why, err := s.evict(ctx, pod)
		if err != nil {
			errs = append(errs, err)
		}
		if b != nil && s.p.Evicted > evicted {
			b.left-- // as the Eviction API takes one from the status
		}
		if gone {
			s.p.PodsLeft--
		} else {
			s.blocked[key(pod)] = why
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.p.PodsLeft == 0 {
		attached, err := s.attached(ctx, node)
		if err != nil {
			return err
		}
		s.p.Done = !attached
	}
	return errors.Join(errs...)
}

// holdBack says why a Pod that must go may not be evicted now, or "".
func (s *step) holdBack(pod *corev1.Pod) string {
	switch {
	case pod.DeletionTimestamp != nil:
		return terminating(pod.DeletionTimestamp.Time, s.now)
	case pod.Annotations[DoNotDisrupt] == "true":
		return "annotation " + DoNotDisrupt + "=true holds it on the node"
	case metav1.GetControllerOf(pod) == nil && !s.o.Force:
		return "no controller (allow with force)"
	case hasEmptyDir(pod) && !s.o.DeleteEmptyDirData:
		return "emptyDir data would be lost (allow with delete_emptydir_data)"
	}
	return ""
}

// terminating is the reason of a Pod that is going: its deletion
// timestamp is when its grace period ends.
func terminating(end, now time.Time) string {
	if left := end.Sub(now).Round(time.Second); left > 0 {
		return fmt.Sprintf("terminating (evicted, grace period ends in %v)", left)
	}
	return fmt.Sprintf("terminating (evicted, grace period ended %v ago)", now.Sub(end).Round(time.Second))
}

// budget is a PodDisruptionBudget as one pass sees it.
type budget struct {
	name    string // "ns/name"
	current bool   // status.observedGeneration has caught up with the spec: the Eviction API decides by the status
	left    int32  // status.disruptionsAllowed, less the evictions this pass had accepted under it
	needs   int32  // status.desiredHealthy
	has     int32  // status.currentHealthy
}

// budgets lists the PodDisruptionBudgets of the namespaces of pods (one
// List across all namespaces) and returns, for each Pod that one or more
// select, those budgets, shared between the Pods of a budget so a count
// down shows in all. The Eviction API answers a Pod under several with a
// 500 every time, and one under a single budget whose current status
// allows no disruption with a 429: knowing it first saves asking. Pending
// Pods are left out: the Eviction API does not look at budgets for them.
func (s *step) budgets(ctx context.Context, pods []*corev1.Pod) (map[string][]*budget, error) {
	if len(pods) == 0 {
		return nil, nil
	}
	s.p.Calls++
	list, err := s.c.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pod disruption budgets: %w", err)
	}
	all := make([]budget, len(list.Items))
	for i := range list.Items {
		pdb := &list.Items[i]
		all[i] = budget{
			name:    pdb.Namespace + "/" + pdb.Name,
			current: pdb.Status.ObservedGeneration >= pdb.Generation,
			left:    pdb.Status.DisruptionsAllowed,
			needs:   pdb.Status.DesiredHealthy,
			has:     pdb.Status.CurrentHealthy,
		}
	}
	under := map[string][]*budget{}
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodPending {
			continue // the Eviction API does not look at budgets for it
		}
		for i := range list.Items {
			pdb := &list.Items[i]
			if pdb.Namespace != pod.Namespace {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
				continue // as the Eviction API: an invalid selector matches nothing
			}
			under[key(pod)] = append(under[key(pod)], &all[i])
		}
	}
	return under, nil
}

// evict asks the Eviction API to remove pod. It reports whether the Pod
// is gone already (a 404), else why it is still there, and an error only
// for a failure no budget explains.
func (s *step) evict(ctx context.Context, pod *corev1.Pod) (gone bool, why string, err error) {
	ev := &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		// The uid: a Pod of the same name made since the List is not ours to evict.
		DeleteOptions: &metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(pod.UID))},
	}
	grace := pod.Spec.TerminationGracePeriodSeconds
	if s.o.GracePeriod != nil {
		g := int64(s.o.GracePeriod.Seconds())
		ev.DeleteOptions.GracePeriodSeconds, grace = &g, &g
	}
	s.p.Calls++
	err = s.c.CoreV1().Pods(pod.Namespace).EvictV1(ctx, ev)
	switch {
	case err == nil:
		s.p.Evicted++
		if grace == nil {
			return false, "terminating (evicted)", nil
		}
		return false, fmt.Sprintf("terminating (evicted, grace period up to %v)", time.Duration(*grace)*time.Second), nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone, or the uid precondition failed: the Pod listed is gone.
		return true, "", nil
	case apierrors.IsTooManyRequests(err):
		s.p.Refused++
		return false, s.refusal(pod, err), nil
	case strings.Contains(err.Error(), "more than one PodDisruptionBudget"):
		// The budgets changed since they were listed; the next pass lists them again.
		s.p.Refused++
		return false, "under several PodDisruptionBudgets, which the Eviction API refuses", nil
	default:
		s.p.Refused++
		return false, "eviction failed: " + err.Error(), fmt.Errorf("evict pod %s: %w", key(pod), err)
	}
}

// budgetNeeds is the cause the Eviction API gives with a 429 when a budget
// allows no disruption; budgetBusy the one when the budget's status is not
// yet up to date.
var (
	budgetNeeds = regexp.MustCompile(`^The disruption budget (\S+) needs (\d+) healthy pods and has (\d+) currently`)
	budgetBusy  = regexp.MustCompile(`^The disruption budget (\S+) is still being processed`)
)

// refusal says why a 429 held pod back, naming the budget when the answer
// names one.
func (s *step) refusal(pod *corev1.Pod, err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, cause := range status.Status().Details.Causes {
			if cause.Type != policyv1.DisruptionBudgetCause {
				continue
			}
			if m := budgetNeeds.FindStringSubmatch(cause.Message); m != nil {
				name := pod.Namespace + "/" + m[1]
				s.pdbs[name] = true
				return noDisruption(name, m[2], m[3])
			}
			if m := budgetBusy.FindStringSubmatch(cause.Message); m != nil {
				name := pod.Namespace + "/" + m[1]
				s.pdbs[name] = true
				return fmt.Sprintf("PodDisruptionBudget %s is still being updated (try again shortly)", name)
			}
			return "eviction refused: " + cause.Message
		}
	}
	return "eviction refused (429): " + err.Error()
}

// noDisruption is the reason of a Pod its budget holds back, whether the
// Eviction API said so (a 429) or the budget's status did.
func noDisruption(name string, needs, has any) string {
	return fmt.Sprintf("PodDisruptionBudget %s allows no disruption now (needs %v healthy Pods, has %v)", name, needs, has)
}

// attached reports whether a VolumeAttachment of the node is still
// attached, and names each in the Progress.
func (s *step) attached(ctx context.Context, node string) (bool, error) {
	s.p.Calls++
	list, err := s.c.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("list volume attachments: %w", err)
	}
	found := false
	for _, va := range list.Items {
		if va.Spec.NodeName != node || !va.Status.Attached {
			continue
		}
		found = true
		pv := "an inline volume"
		if n := va.Spec.Source.PersistentVolumeName; n != nil {
			pv = "volume " + *n
		}
		s.blocked["VolumeAttachment "+va.Name] = pv + " still attached to the node"
	}
	return found, nil
}

func (s *step) progress() Progress {
	p := s.p
	for k, why := range s.blocked {
		p.BlockedBy = append(p.BlockedBy, k+": "+why)
	}
	slices.Sort(p.BlockedBy)
	for n := range s.pdbs {
		p.PDBs = append(p.PDBs, n)
	}
	slices.Sort(p.PDBs)
	return p
}

func key(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func isDaemonSetPod(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.Kind == "DaemonSet"
}

func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

func isCritical(pod *corev1.Pod) bool {
	switch pod.Spec.PriorityClassName {
	case "system-cluster-critical", "system-node-critical":
		return true
	}
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= criticalPriority
}

// isHealthy says whether the disruption controller counts pod as healthy
// (Running and Ready); the Eviction API may let any other Pod go whatever
// its budget allows.
func isHealthy(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasEmptyDir(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir != nil {
			return true
		}
	}
	return false
}
