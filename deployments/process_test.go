package deployments

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/noderemover/noderemover/config"
)

// process is one container of a Deployment with the environment it gets.
type process struct {
	where  string // Deployment/name container
	deploy *appsv1.Deployment
	c      corev1.Container
	sub    string            // its subcommand, args[0]
	env    map[string]string // resolved: envFrom in order, then env
	keys   []string          // every variable name it is given
	cfg    config.Config
	cfgErr error
}

// processes resolves every container's environment against the ConfigMaps
// of m and the Secrets of the template.
func processes(tb testing.TB, m *manifest, secrets []*corev1.Secret) []process {
	tb.Helper()
	var out []process
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			p := process{where: fmt.Sprintf("Deployment/%s container %s", d.Name, c.Name), deploy: d, c: c, env: map[string]string{}}
			if len(c.Args) > 0 {
				p.sub = c.Args[0]
			}
			for _, src := range c.EnvFrom {
				if src.Prefix != "" {
					tb.Errorf("%s: envFrom prefix %q renames every key; the process reads exact names", p.where, src.Prefix)
				}
				switch {
				case src.ConfigMapRef != nil:
					cm := find(m.configMaps, src.ConfigMapRef.Name)
					if cm == nil {
						tb.Errorf("%s: envFrom ConfigMap %s is not in the build", p.where, src.ConfigMapRef.Name)
						continue
					}
					for k, v := range cm.Data {
						p.env[src.Prefix+k] = v
						p.keys = append(p.keys, src.Prefix+k)
					}
				case src.SecretRef != nil:
					s := find(secrets, src.SecretRef.Name)
					if s == nil {
						tb.Errorf("%s: envFrom Secret %s is not described in %s", p.where, src.SecretRef.Name, secretFile)
						continue
					}
					for k, v := range secretValues(s) {
						p.env[src.Prefix+k] = v
						p.keys = append(p.keys, src.Prefix+k)
					}
				}
			}
			for _, e := range c.Env {
				p.keys = append(p.keys, e.Name)
				switch {
				case e.ValueFrom == nil:
					p.env[e.Name] = e.Value
				case e.ValueFrom.ConfigMapKeyRef != nil:
					if cm := find(m.configMaps, e.ValueFrom.ConfigMapKeyRef.Name); cm != nil {
						p.env[e.Name] = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
					}
				case e.ValueFrom.SecretKeyRef != nil:
					if s := find(secrets, e.ValueFrom.SecretKeyRef.Name); s != nil {
						p.env[e.Name] = secretValues(s)[e.ValueFrom.SecretKeyRef.Key]
					}
				default:
					tb.Errorf("%s: env %s: only values and ConfigMap/Secret keys are understood by the test", p.where, e.Name)
				}
			}
			p.cfg, p.cfgErr = loadConfig(p.sub, p.env)
			out = append(out, p)
		}
	}
	return out
}

func find[T interface{ GetName() string }](objs []T, name string) T {
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	return zero
}

func secretValues(s *corev1.Secret) map[string]string {
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// containerPort resolves a probe's or Service's port (a number or a name)
// to the container's port number.
func containerPort(c corev1.Container, p intstr.IntOrString) (int, bool) {
	if p.Type == intstr.Int {
		return p.IntValue(), true
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), true
		}
	}
	return 0, false
}
