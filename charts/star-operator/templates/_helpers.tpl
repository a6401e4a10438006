{{/* Names ---------------------------------------------------------------------------------- */}}
{{- define "star-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "star-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "star-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name suffixed with a component, kept within 63 characters. */}}
{{- define "star-operator.componentName" -}}
{{- $root := index . 0 -}}{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "star-operator.fullname" $root | trunc (int (sub 62 (len $suffix)))) $suffix | trimSuffix "-" -}}
{{- end -}}

{{- define "star-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "star-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "star-operator.caName" -}}
{{- include "star-operator.componentName" (list . "ca") -}}
{{- end -}}

{{- define "star-operator.caRootSecretName" -}}
{{- default (include "star-operator.componentName" (list . "ca-root")) .Values.ca.rootSecret.name -}}
{{- end -}}

{{- define "star-operator.secretsNamespace" -}}
{{- default .Release.Namespace .Values.operator.secretsNamespace -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------------------- */}}
{{- define "star-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "star-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "star-operator.labels" -}}
helm.sh/chart: {{ include "star-operator.chart" . }}
{{ include "star-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: star-operator
{{- end -}}

{{- define "star-operator.operatorSelectorLabels" -}}
{{ include "star-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "star-operator.caSelectorLabels" -}}
{{ include "star-operator.selectorLabels" . }}
app.kubernetes.io/component: ca
{{- end -}}

{{/* Images ------------------------------------------------------------------------------- */}}
{{- define "star-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "star-operator.caImage" -}}
{{- $repo := default .Values.image.repository .Values.ca.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.ca.image.tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* The CA's in-cluster directory URL (its Service). */}}
{{- define "star-operator.caDirectoryURL" -}}
{{- printf "https://%s.%s.svc:%d/directory" (include "star-operator.caName" .) .Release.Namespace (int .Values.ca.port) -}}
{{- end -}}

{{/* Cross-field checks the JSON schema cannot express. */}}
{{- define "star-operator.validate" -}}
{{- if and .Values.ca.enabled (lt (int .Values.ca.maxDuration) (int .Values.ca.minLifetime)) -}}
{{- fail (printf "ca.maxDuration (%v) must be at least ca.minLifetime (%v)" .Values.ca.maxDuration .Values.ca.minLifetime) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled: true" -}}
{{- end -}}
{{- if and (eq (int .Values.metrics.port) (int .Values.operator.healthPort)) .Values.metrics.enabled -}}
{{- fail (printf "metrics.port and operator.healthPort must differ (both %v)" .Values.metrics.port) -}}
{{- end -}}
{{- end -}}
