package deployments

import (
	"cmp"
	"reflect"
	"slices"
	"strconv"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/noderemover/noderemover/tasks"
)

// TestKubernetesAutoscaling checks who scales the worker and how: KEDA in the
// base, the HPA component, and the disruption budget.
func TestKubernetesAutoscaling(t *testing.T) {
	for _, k := range kubes(t) {
		if len(k.base.scaledObjects) == 0 {
			continue // the chart's defaults: no autoscaler (TestChartReplicas)
		}
		t.Run(k.name, func(t *testing.T) { checkAutoscaling(t, k) })
	}
}

func checkAutoscaling(t *testing.T, k kube) {
	t.Run("WorkerReplicasLeftToAutoscaler", func(t *testing.T) {
		if r := k.worker(t).deploy.Spec.Replicas; r != nil {
			t.Errorf("the worker sets replicas: %d; every kubectl apply would reset what the autoscaler chose", *r)
		}
	})

	t.Run("WorkerPodDisruptionBudget", func(t *testing.T) {
		w := k.worker(t)
		minReplicas := int32(1)
		if len(k.base.scaledObjects) == 1 && k.base.scaledObjects[0].Spec.MinReplicaCount != nil {
			minReplicas = *k.base.scaledObjects[0].Spec.MinReplicaCount
		}
		var covering []*policyv1.PodDisruptionBudget
		for _, pdb := range k.base.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() {
				t.Errorf("PodDisruptionBudget/%s: selector %v: %v", pdb.Name, pdb.Spec.Selector, err)
				continue
			}
			if sel.Matches(labels.Set(w.deploy.Spec.Template.Labels)) {
				covering = append(covering, pdb)
			}
			for _, d := range k.base.deployments {
				if d != w.deploy && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("PodDisruptionBudget/%s also selects the pods of Deployment/%s", pdb.Name, d.Name)
				}
			}
		}
		if len(covering) != 1 {
			t.Fatalf("%d PodDisruptionBudgets select the worker's pods; want 1", len(covering))
		}
		spec := covering[0].Spec
		switch {
		case spec.MaxUnavailable != nil:
			if spec.MaxUnavailable.Type == intstr.Int && spec.MaxUnavailable.IntValue() < 1 {
				t.Error("maxUnavailable below 1 blocks every node drain")
			}
		case spec.MinAvailable != nil:
			if spec.MinAvailable.Type != intstr.Int || spec.MinAvailable.IntValue() >= int(minReplicas) {
				t.Errorf("minAvailable %s with the autoscaler's minimum %d replica(s) can block node drains", spec.MinAvailable.String(), minReplicas)
			}
		default:
			t.Error("neither maxUnavailable nor minAvailable")
		}
	})

	t.Run("KEDAScaledObject", func(t *testing.T) {
		w := k.worker(t)
		if len(k.base.scaledObjects) != 1 {
			t.Fatalf("%d ScaledObjects; want 1", len(k.base.scaledObjects))
		}
		so := k.base.scaledObjects[0]
		ref := so.Spec.ScaleTargetRef
		if ref.Name != w.deploy.Name || (ref.Kind != "" && ref.Kind != "Deployment") {
			t.Errorf("scaleTargetRef %+v; want the worker Deployment %s", ref, w.deploy.Name)
		}
		checkReplicaBounds(t, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
		if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "redis" {
			t.Fatalf("triggers %+v; want one redis trigger", so.Spec.Triggers)
		}
		tr := so.Spec.Triggers[0]
		md := tr.Metadata
		for k := range md {
			if !slices.Contains(redisTriggerKeys, k) {
				t.Errorf("trigger metadata %s is not a key of KEDA's redis scaler (%v), which ignores it", k, redisTriggerKeys)
			}
		}
		if want := "asynq:{" + tasks.Queue + "}:pending"; md["listName"] != want {
			t.Errorf("listName %q; asynq keeps the pending tasks of queue %q in %q", md["listName"], tasks.Queue, want)
		}
		if w.cfgErr != nil {
			t.Fatal(w.cfgErr)
		}
		if n, err := strconv.Atoi(md["listLength"]); err != nil || n != w.cfg.WorkerConcurrency {
			t.Errorf("listLength %q; want the worker's WORKER_CONCURRENCY, %d (one replica's worth of waiting tasks)", md["listLength"], w.cfg.WorkerConcurrency)
		}
		// KEDA cannot read REDIS_URL, so the trigger must name the same Redis.
		r := w.cfg.Redis
		if r.Mode != "single" {
			t.Fatalf("REDIS_URL is %s; the redis trigger reaches a single Redis (use redis-sentinel or redis-cluster triggers)", r)
		}
		if md["address"] != r.Addrs[0] {
			t.Errorf("trigger address %q; REDIS_URL is %s", md["address"], r)
		}
		if db := cmp.Or(md["databaseIndex"], "0"); db != strconv.Itoa(r.DB) {
			t.Errorf("trigger databaseIndex %q; REDIS_URL uses database %d", db, r.DB)
		}
		if tls := cmp.Or(md["enableTLS"], "false"); tls != strconv.FormatBool(r.TLS) {
			t.Errorf("trigger enableTLS %q; REDIS_URL is %s", tls, r)
		}
		if (r.Password != "" || r.Username != "") && tr.AuthenticationRef == nil {
			t.Error("REDIS_URL has credentials but the trigger no authenticationRef")
		}
	})

	t.Run("HorizontalPodAutoscaler", func(t *testing.T) {
		w := k.worker(t)
		if len(k.hpa.hpas) != 1 || len(k.base.scaledObjects) != 1 {
			t.Fatalf("%d HPAs with the hpa component, %d ScaledObjects in the base; want 1 and 1", len(k.hpa.hpas), len(k.base.scaledObjects))
		}
		h, so := k.hpa.hpas[0], k.base.scaledObjects[0]
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != w.deploy.Name {
			t.Errorf("scaleTargetRef %+v; want apps/v1 Deployment %s", ref, w.deploy.Name)
		}
		checkReplicaBounds(t, h.Spec.MinReplicas, &h.Spec.MaxReplicas)
		if !reflect.DeepEqual(h.Spec.MinReplicas, so.Spec.MinReplicaCount) || h.Spec.MaxReplicas != ptrValue(so.Spec.MaxReplicaCount) {
			t.Errorf("replicas %v..%d; the KEDA alternative has %v..%v", ptrValue(h.Spec.MinReplicas), h.Spec.MaxReplicas,
				ptrValue(so.Spec.MinReplicaCount), ptrValue(so.Spec.MaxReplicaCount))
		}
		if so.Spec.Advanced != nil && so.Spec.Advanced.HorizontalPodAutoscalerConfig != nil &&
			!reflect.DeepEqual(h.Spec.Behavior, so.Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior) {
			t.Error("behavior differs from the KEDA alternative's")
		}
		if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Type != autoscalingv2.ExternalMetricSourceType || h.Spec.Metrics[0].External == nil {
			t.Fatalf("metrics %+v; want one External metric", h.Spec.Metrics)
		}
		ext := h.Spec.Metrics[0].External
		// The worker exports asynq's gauge of pending tasks per queue: the
		// same list KEDA watches.
		want := map[string]string{"queue": tasks.Queue, "state": "pending"}
		if ext.Metric.Name != "asynq_tasks_enqueued_total" || ext.Metric.Selector == nil ||
			!reflect.DeepEqual(ext.Metric.Selector.MatchLabels, want) || len(ext.Metric.Selector.MatchExpressions) > 0 {
			t.Errorf("metric %s %v; want asynq_tasks_enqueued_total%v", ext.Metric.Name, ext.Metric.Selector, want)
		}
		tgt := ext.Target
		listLength, _ := strconv.ParseInt(so.Spec.Triggers[0].Metadata["listLength"], 10, 64)
		if tgt.Type != autoscalingv2.AverageValueMetricType || tgt.AverageValue == nil || tgt.AverageValue.Value() != listLength {
			t.Errorf("target %+v; want AverageValue %d, KEDA's listLength", tgt, listLength)
		}
	})
}

// checkReplicaBounds fails for an autoscaler that may scale the worker to
// zero: polls and retries wait in asynq's scheduled and retry sets, which
// only a running worker moves to the pending list.
func checkReplicaBounds(tb testing.TB, minReplicas, maxReplicas *int32) {
	tb.Helper()
	switch {
	case minReplicas == nil || *minReplicas < 1:
		tb.Errorf("minimum replicas %v; want at least 1: at zero, scheduled polls and retries are never moved to the pending list", ptrValue(minReplicas))
	case maxReplicas == nil || *maxReplicas < *minReplicas:
		tb.Errorf("maximum replicas %v below the minimum %d", ptrValue(maxReplicas), *minReplicas)
	}
}

func ptrValue[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
