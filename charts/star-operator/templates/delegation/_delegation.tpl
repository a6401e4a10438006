{{/* The delegation front end's names and its namespace checks. */}}
{{- define "star-operator.delegationName" -}}
{{- include "star-operator.componentName" (list . "delegation") -}}
{{- end -}}

{{- define "star-operator.delegationSelectorLabels" -}}
{{ include "star-operator.selectorLabels" . }}
app.kubernetes.io/component: delegation
{{- end -}}

{{/* Where Delegations, their EAB Secrets and their StarOrders live: never the namespace of the
     DNO's own Secrets (TSIG key, ACME account key), which the front end must not be able to read. */}}
{{- define "star-operator.delegationNamespace" -}}
{{- $ns := required "delegation.namespace is required when delegation.enabled (a namespace for Delegations only: the front end reads its Secrets)" .Values.delegation.namespace -}}
{{- if eq $ns (include "star-operator.secretsNamespace" .) -}}
{{- fail (printf "delegation.namespace (%s) must differ from the operator's secrets namespace: the front end may read every Secret of its namespace" $ns) -}}
{{- end -}}
{{- $ns -}}
{{- end -}}
