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

{{/* Where the container sees the node's /proc and cgroup tree, and the agent's CA. */}}
{{- define "tracer.hostProc" -}}/hostproc{{- end -}}
{{- define "tracer.hostCgroup" -}}/hostcgroup{{- end -}}
{{- define "tracer.caDir" -}}/etc/traceable-ebpf/tpa-ca{{- end -}}

{{/*
The OTLP traces URL: ebpfRemoteEndpoint when ebpfOnly, else ebpfReportingEndpoint; the product's
host:port form becomes http(s)://host:port/v1/traces (https when ebpfToTpaTlsEnabled).
*/}}
{{- define "tracer.endpoint" -}}
{{- $v := .Values -}}
{{- $ep := ternary $v.ebpfRemoteEndpoint $v.ebpfReportingEndpoint $v.ebpfOnly -}}
{{- if and $v.ebpfOnly (not $ep) -}}
{{- fail "ebpfOnly: true needs ebpfRemoteEndpoint (host:port or a URL)" -}}
{{- end -}}
{{- if $ep -}}
{{- if regexMatch "^https?://" $ep -}}
{{- if and $v.ebpfToTpaTlsEnabled (hasPrefix "http://" $ep) -}}
{{- fail (printf "ebpfToTpaTlsEnabled: true, but the endpoint %s is http://" $ep) -}}
{{- end -}}
{{- $ep -}}
{{- else -}}
{{- printf "%s://%s/v1/traces" (ternary "https" "http" $v.ebpfToTpaTlsEnabled) $ep -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The file name of the agent's CA in tracer.caDir, or nothing when none is given. */}}
{{- define "tracer.caFile" -}}
{{- $v := .Values -}}
{{- $given := list -}}
{{- if $v.tpaCaBundle }}{{ $given = append $given "tpaCaBundle" }}{{ end -}}
{{- if $v.tpaCaCertSecret.secretName }}{{ $given = append $given "tpaCaCertSecret" }}{{ end -}}
{{- if $v.tpaCaCertFile }}{{ $given = append $given "tpaCaCertFile" }}{{ end -}}
{{- if gt (len $given) 1 -}}
{{- fail (printf "give the agent's CA one way, not %s" (join " and " $given)) -}}
{{- end -}}
{{- if and (eq (len $given) 1) (not $v.ebpfToTpaTlsEnabled) -}}
{{- fail (printf "%s is set but ebpfToTpaTlsEnabled is false: set it true to use TLS" (first $given)) -}}
{{- end -}}
{{- if $v.tpaCaBundle -}}ca.crt
{{- else if $v.tpaCaCertSecret.secretName -}}{{ $v.tpaCaCertSecret.caCertFileName }}
{{- else if $v.tpaCaCertFile -}}{{ base $v.tpaCaCertFile }}
{{- end -}}
{{- end -}}

{{/* daemonSetMirroring.matchSelectors in the config file's spelling. */}}
{{- define "tracer.matchSelectors" -}}
{{- $out := list -}}
{{- range $i, $entry := .Values.daemonSetMirroring.matchSelectors -}}
{{- if or (and (hasKey $entry "fieldSelectors") (hasKey $entry "field_selectors")) (and (hasKey $entry "labelSelectors") (hasKey $entry "label_selectors")) -}}
{{- fail (printf "daemonSetMirroring.matchSelectors[%d]: give each selector list once (fieldSelectors or field_selectors, labelSelectors or label_selectors)" $i) -}}
{{- end -}}
{{- $m := dict -}}
{{- with (coalesce $entry.fieldSelectors $entry.field_selectors) }}{{ $_ := set $m "field_selectors" . }}{{ end -}}
{{- with (coalesce $entry.labelSelectors $entry.label_selectors) }}{{ $_ := set $m "label_selectors" . }}{{ end -}}
{{- $out = append $out $m -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The tracer's config file: what the values set, ebpfConfig merged over it. */}}
{{- define "tracer.config" -}}
{{- $v := .Values -}}
{{- if not $v.runAsDaemonSet -}}
{{- fail "runAsDaemonSet: false is not supported: the tracer runs on every node as a DaemonSet" -}}
{{- end -}}
{{- $cfg := dict
  "k8s_enabled" true
  "proc_fs_path" (include "tracer.hostProc" .)
  "cgroup_fs_path" (include "tracer.hostCgroup" .)
  "mode" $v.ebpfCaptureMode
  "capture_all" (not $v.daemonSetMirroringEnabled)
  "daemon_set_mirror_all_namespaces" $v.daemonSetMirrorAllNamespaces
  "daemon_set_mirroring" (dict "match_selectors" (include "tracer.matchSelectors" . | fromJsonArray))
  "pod_labels" $v.ebpfPodLabels
  "http2_capture_enabled" $v.ebpfHttp2CaptureEnabled
  "health" (dict "enabled" true "port" $v.healthPort)
-}}
{{- with $v.environment }}{{ $_ := set $cfg "environment" . }}{{ end -}}
{{- $endpoint := include "tracer.endpoint" . -}}
{{- $caFile := include "tracer.caFile" . -}}
{{- if $endpoint -}}
{{- $otlp := dict "endpoint" $endpoint -}}
{{- with $caFile }}{{ $_ := set $otlp "ca_file" (printf "%s/%s" (include "tracer.caDir" $) .) }}{{ end -}}
{{- $_ := set $cfg "exporter" (dict "otlp" $otlp) -}}
{{- else if $v.token -}}
{{- fail "token is set but no endpoint is: set ebpfReportingEndpoint (or ebpfOnly and ebpfRemoteEndpoint)" -}}
{{- end -}}
{{- range $key := list "k8s_enabled" "proc_fs_path" "cgroup_fs_path" "health" -}}
{{- if hasKey $v.ebpfConfig $key -}}
{{- fail (printf "ebpfConfig.%s: the chart sets it (its mounts and probes follow); use the chart's own value" $key) -}}
{{- end -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy $v.ebpfConfig)) -}}
{{- end -}}
