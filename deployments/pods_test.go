package deployments

import (
	"cmp"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/noderemover/noderemover/internal/health"
)

// TestKubernetesPods checks how the pods run: probes and ports, Services,
// security, resources, shutdown and metrics.
func TestKubernetesPods(t *testing.T) {
	for _, k := range kubes(t) {
		t.Run(k.name, func(t *testing.T) { checkPods(t, k) })
	}
}

func checkPods(t *testing.T, k kube) {
	t.Run("ProbesReachServedPorts", func(t *testing.T) {
		for _, p := range k.procs {
			s, ok := servers[p.sub]
			if !ok || p.cfgErr != nil {
				continue
			}
			addr := s.addr(p.cfg)
			host, port := splitAddr(t, addr)
			if !allInterfaces(host) {
				t.Errorf("%s: %s=%s listens on %s only: the kubelet's probes and the Service come to the pod's IP", p.where, s.addrVar, addr, host)
			}
			if !slices.ContainsFunc(p.c.Ports, func(cp corev1.ContainerPort) bool { return int(cp.ContainerPort) == port }) {
				t.Errorf("%s: no containerPort %d, where %s=%s serves", p.where, port, s.addrVar, addr)
			}
			for _, pr := range []struct {
				kind  string
				probe *corev1.Probe
				path  string
			}{{"liveness", p.c.LivenessProbe, health.LivePath}, {"readiness", p.c.ReadinessProbe, health.ReadyPath}} {
				switch {
				case pr.probe == nil:
					t.Errorf("%s: no %s probe", p.where, pr.kind)
				case pr.probe.HTTPGet == nil:
					t.Errorf("%s: %s probe is not an httpGet of %s", p.where, pr.kind, pr.path)
				default:
					g := pr.probe.HTTPGet
					// Liveness on /readyz would restart every pod whenever Redis is away.
					if g.Path != pr.path {
						t.Errorf("%s: %s probe on %q; want %s", p.where, pr.kind, g.Path, pr.path)
					}
					if got, ok := containerPort(p.c, g.Port); !ok || got != port {
						t.Errorf("%s: %s probe on port %s; the process serves on %d (%s=%s)", p.where, pr.kind, g.Port.String(), port, s.addrVar, addr)
					}
					if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
						t.Errorf("%s: %s probe scheme %s; the process serves plain HTTP", p.where, pr.kind, g.Scheme)
					}
				}
			}
		}
	})

	t.Run("ServicesReachServedPorts", func(t *testing.T) {
		for _, svc := range k.base.services {
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			var targets []process
			for _, p := range k.procs {
				if len(svc.Spec.Selector) > 0 && sel.Matches(labels.Set(p.deploy.Spec.Template.Labels)) {
					targets = append(targets, p)
				}
			}
			if len(targets) != 1 {
				t.Errorf("Service/%s selects %d containers' pods; want one Deployment's", svc.Name, len(targets))
				continue
			}
			p := targets[0]
			if p.cfgErr != nil {
				continue
			}
			_, served := splitAddr(t, servers[p.sub].addr(p.cfg))
			for _, sp := range svc.Spec.Ports {
				target := sp.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(sp.Port)
				}
				if got, ok := containerPort(p.c, target); !ok || got != served {
					t.Errorf("Service/%s port %d goes to %s; %s serves on %d", svc.Name, sp.Port, target.String(), p.where, served)
				}
			}
		}
	})

	t.Run("SecurityContext", func(t *testing.T) {
		dockerUser, ok := numericUser(loadDockerfile(t).user)
		if !ok {
			t.Fatalf("the Dockerfile's USER %q is not numeric", loadDockerfile(t).user)
		}
		for _, p := range k.procs {
			spec := p.deploy.Spec.Template.Spec
			psc := spec.SecurityContext
			if psc == nil {
				t.Errorf("%s: no pod securityContext", p.where)
				continue
			}
			if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: pod seccompProfile is not RuntimeDefault", p.where)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("%s: automountServiceAccountToken is not false; noderemover never calls the Kubernetes API", p.where)
			}
			csc := p.c.SecurityContext
			if csc == nil {
				t.Errorf("%s: no container securityContext", p.where)
				continue
			}
			runAsNonRoot := cmp.Or(csc.RunAsNonRoot, psc.RunAsNonRoot)
			runAsUser := cmp.Or(csc.RunAsUser, psc.RunAsUser)
			switch {
			case runAsNonRoot == nil || !*runAsNonRoot:
				t.Errorf("%s: runAsNonRoot is not true", p.where)
			case runAsUser == nil || *runAsUser == 0:
				t.Errorf("%s: runAsUser is not a non-root uid", p.where)
			case int(*runAsUser) != dockerUser:
				t.Errorf("%s: runAsUser %d; the image's USER is %d", p.where, *runAsUser, dockerUser)
			}
			if csc.SeccompProfile != nil && csc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: container overrides seccompProfile with %s", p.where, csc.SeccompProfile.Type)
			}
			if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", p.where)
			}
			if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem is not true", p.where)
			}
			if csc.Privileged != nil && *csc.Privileged {
				t.Errorf("%s: privileged", p.where)
			}
			if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities must drop ALL and add none", p.where)
			}
		}
	})

	t.Run("Resources", func(t *testing.T) {
		for _, p := range k.procs {
			r := p.c.Resources
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := r.Requests[name]
				lim, hasLim := r.Limits[name]
				switch {
				case !hasReq || req.IsZero():
					t.Errorf("%s: no %s request", p.where, name)
				case !hasLim || lim.IsZero():
					t.Errorf("%s: no %s limit", p.where, name)
				case lim.Cmp(req) < 0:
					t.Errorf("%s: %s limit %s below its request %s", p.where, name, lim.String(), req.String())
				}
			}
		}
	})

	t.Run("GracePeriodAboveShutdownTimeout", func(t *testing.T) {
		for _, p := range k.procs {
			if s, ok := servers[p.sub]; !ok || !s.drains || p.cfgErr != nil {
				continue
			}
			grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
			if g := p.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
				grace = time.Duration(*g) * time.Second
			}
			if grace <= p.cfg.ShutdownTimeout {
				t.Errorf("%s: terminationGracePeriodSeconds %v is not above SHUTDOWN_TIMEOUT %v: work in flight is killed", p.where, grace, p.cfg.ShutdownTimeout)
			}
		}
		if k.worker(t).deploy.Spec.Template.Spec.TerminationGracePeriodSeconds == nil {
			t.Error("the worker leaves terminationGracePeriodSeconds to Kubernetes' default; set it, with the reason")
		}
	})

	t.Run("DeploymentSelectorsMatchTemplates", func(t *testing.T) {
		for _, d := range k.base.deployments {
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || sel.Empty() {
				t.Errorf("Deployment/%s: selector %v: %v", d.Name, d.Spec.Selector, err)
				continue
			}
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Deployment/%s: selector %s does not match its pod labels %v", d.Name, sel, d.Spec.Template.Labels)
			}
			for _, o := range k.base.deployments {
				if o != d && sel.Matches(labels.Set(o.Spec.Template.Labels)) {
					t.Errorf("Deployment/%s: selector %s also matches the pods of Deployment/%s", d.Name, sel, o.Name)
				}
			}
		}
	})

	t.Run("PrometheusAnnotations", func(t *testing.T) {
		w := k.worker(t)
		a := w.deploy.Spec.Template.Annotations
		if a["prometheus.io/scrape"] != "true" {
			t.Fatal("the worker's pods are not annotated prometheus.io/scrape: \"true\"")
		}
		if w.cfgErr != nil {
			t.Fatal(w.cfgErr)
		}
		if _, port := splitAddr(t, w.cfg.HTTPAddr); a["prometheus.io/port"] != strconv.Itoa(port) {
			t.Errorf("prometheus.io/port %q; HTTP_ADDR is %s", a["prometheus.io/port"], w.cfg.HTTPAddr)
		}
		if a["prometheus.io/path"] != health.MetricsPath {
			t.Errorf("prometheus.io/path %q; want %s", a["prometheus.io/path"], health.MetricsPath)
		}
	})
}
