{{/* The objects' name: fullnameOverride, else the release name with the chart's name unless it holds it. */}}
{{- define "webapp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "webapp.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webapp.labels" -}}
{{ include "webapp.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The node agent's switches for a failure on purpose (see values.yaml: failure). */}}
{{- define "webapp.failureAnnotations" -}}
{{- if eq .Values.failure "unready" -}}
probe.gitops-sandbox.io/readiness: fail
{{- else if eq .Values.failure "crash" -}}
probe.gitops-sandbox.io/crash: "true"
{{- end -}}
{{- end -}}
