{{/* Chart name, overridable. */}}
{{- define "rwo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name. */}}
{{- define "rwo.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "rwo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rwo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- include "rwo.commonLabels" . }}
{{- end }}

{{/* commonLabels, on every object and pod (never in a selector). */}}
{{- define "rwo.commonLabels" -}}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the operator pods. */}}
{{- define "rwo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rwo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "rwo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rwo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: by digest when image.digest is set. */}}
{{- define "rwo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The disruption budget of a podDisruptionBudget value: maxUnavailable when
it is set, else minAvailable (the schema lets only one be set).
*/}}
{{- define "rwo.budget" -}}
{{- if not (kindIs "invalid" .maxUnavailable) }}
maxUnavailable: {{ .maxUnavailable }}
{{- else }}
minAvailable: {{ .minAvailable }}
{{- end }}
{{- end }}

{{/*
topologySpreadConstraints, each selecting the pods given in "selector"
unless it names its own labelSelector. Call with (dict "constraints" ...
"selector" ...).
*/}}
{{- define "rwo.topologySpread" -}}
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not $c.labelSelector }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $.selector) }}
{{- end }}
- {{ toYaml $c | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/* Prefix of the handoff endpoint's object names. */}}
{{- define "rwo.handoff.fullname" -}}
{{- printf "%s-handoff" (include "rwo.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* Labels on the handoff endpoint's objects. */}}
{{- define "rwo.handoff.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rwo.handoff.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "rwo.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- include "rwo.commonLabels" . }}
{{- end }}

{{/*
Labels that select the handoff endpoint's pods. Its name label differs from
the operator's, so neither the operator's selectors (Deployment, PDB,
metrics Service, NetworkPolicy) select these pods nor these the operator's.
*/}}
{{- define "rwo.handoff.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-handoff" (include "rwo.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: handoff
{{- end }}

{{/* The Secret holding the handoff key; the operator creates it. */}}
{{- define "rwo.handoff.keySecret" -}}
{{- printf "%s-handoff-key" (include "rwo.fullname" .) }}
{{- end }}

{{- define "rwo.evidence.keySecret" -}}
{{- printf "%s-evidence-key" (include "rwo.fullname" .) }}
{{- end }}

{{/* handoff.publicURL, required with handoff.enabled. */}}
{{- define "rwo.handoff.publicURL" -}}
{{- required "handoff.publicURL is required when handoff.enabled is true: the base URL customers reach the handoff endpoint at, e.g. https://export.example.com" .Values.handoff.publicURL }}
{{- end }}

{{/*
Labels of the helm test hook's objects. Its name label differs from the
operator's, so that no selector of the operator's (the Deployment's, which
would adopt the pod, the PDB's, the metrics Service's) picks its pod.
*/}}
{{- define "rwo.test.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ printf "%s-test" (include "rwo.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/part-of: {{ include "rwo.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- include "rwo.commonLabels" . }}
{{- end }}

{{/*
The ServiceAccount names withdrawals may act as: the default one and
tenancy.serviceAccounts, as a comma-separated list (--service-accounts).
*/}}
{{- define "rwo.actAs" -}}
{{- prepend .Values.tenancy.serviceAccounts .Values.tenancy.defaultServiceAccount | uniq | join "," }}
{{- end }}

{{/* The operator may impersonate those ServiceAccounts, and no other. */}}
{{- define "rwo.impersonateRule" -}}
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [impersonate]
  resourceNames: {{ include "rwo.actAs" . | splitList "," | toJson }}
{{- end }}
