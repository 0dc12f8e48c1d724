package deployments

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serviceMonitor mirrors the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1, from
// github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1),
// which is not a dependency: the spec fields the operator defines that the
// chart may use, so decoding strictly still fails on a misspelled field.
// Add a field here, from the operator's types, when the chart needs one.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		TargetLabels      []string             `json:"targetLabels,omitempty"`
		PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
		Endpoints         []monitorEndpoint    `json:"endpoints"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		SampleLimit *uint64 `json:"sampleLimit,omitempty"`
	} `json:"spec"`
}

// monitorEndpoint is a ServiceMonitor's Endpoint.
type monitorEndpoint struct {
	Port            string              `json:"port,omitempty"`
	TargetPort      *intstr.IntOrString `json:"targetPort,omitempty"`
	Path            string              `json:"path,omitempty"`
	Scheme          string              `json:"scheme,omitempty"`
	Params          map[string][]string `json:"params,omitempty"`
	Interval        string              `json:"interval,omitempty"`
	ScrapeTimeout   string              `json:"scrapeTimeout,omitempty"`
	HonorLabels     bool                `json:"honorLabels,omitempty"`
	HonorTimestamps *bool               `json:"honorTimestamps,omitempty"`
}
