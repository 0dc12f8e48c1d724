{{/* The name of the chart, or nameOverride. */}}
{{- define "noderemover.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, or the release name
when it already holds the chart's name (release "noderemover" gives
noderemover-worker, as the kustomize base names it), or RELEASE-noderemover.
*/}}
{{- define "noderemover.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "noderemover.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "noderemover.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: noderemover
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels of one component: (dict "ctx" $ "component" "worker").
Selectors are immutable, so they hold only what never changes.
*/}}
{{- define "noderemover.selectorLabels" -}}
app.kubernetes.io/name: {{ include "noderemover.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "noderemover.componentLabels" -}}
{{ include "noderemover.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "noderemover.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "noderemover.configMapName" -}}
{{ include "noderemover.fullname" . }}-config
{{- end }}

{{/*
The Secret a component reads: (dict "ctx" $ "component" "worker"). Its
existingSecret, else the chart's own when its values set anything, else "".
*/}}
{{- define "noderemover.secretName" -}}
{{- $s := index .ctx.Values.secrets .component }}
{{- if $s.existingSecret }}
{{- $s.existingSecret }}
{{- else if include "noderemover.secretHasValues" $s }}
{{- include "noderemover.fullname" .ctx }}-{{ .component }}
{{- end }}
{{- end }}

{{/* "true" when a secrets.<component> sets any value. */}}
{{- define "noderemover.secretHasValues" -}}
{{- range $k, $v := .values }}{{ if $v }}true{{ end }}{{ end }}
{{- end }}

{{/*
The pod and container hardening every component shares; not values, so no
install can weaken it (deployments/pods_test.go checks the rendered chart).
*/}}
{{- define "noderemover.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "noderemover.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* The port number of an address such as ":9090" or "0.0.0.0:9090". */}}
{{- define "noderemover.port" -}}
{{- $parts := splitList ":" . }}
{{- last $parts }}
{{- end }}

{{/*
Probes on health's paths (/healthz alive, /readyz ready), on the port named
http: (dict "probes" .Values.worker.probes).
*/}}
{{- define "noderemover.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .liveness.periodSeconds }}
  timeoutSeconds: {{ .liveness.timeoutSeconds }}
  failureThreshold: {{ .liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .readiness.periodSeconds }}
  timeoutSeconds: {{ .readiness.timeoutSeconds }}
  failureThreshold: {{ .readiness.failureThreshold }}
{{- end }}

{{/* Scheduling values of a component: nodeSelector, tolerations, affinity. */}}
{{- define "noderemover.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
