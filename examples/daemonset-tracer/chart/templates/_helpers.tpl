{{/* The name of every object of a release. */}}
{{- define "tracer.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the tracer's pods. */}}
{{- define "tracer.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "tracer.labels" -}}
{{ include "tracer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The tracer's config file: what the values set, ebpfConfig merged over it. */}}
{{- define "tracer.config" -}}
{{- $cfg := dict "capture_all" true "mode" .Values.ebpfCaptureMode "http2_capture_enabled" .Values.ebpfHttp2CaptureEnabled -}}
{{- with .Values.ebpfReportingEndpoint }}
{{- $_ := set $cfg "exporter" (dict "otlp" (dict "endpoint" .)) -}}
{{- end }}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy .Values.ebpfConfig)) -}}
{{- end -}}
