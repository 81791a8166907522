{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "hipaa-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name: fullnameOverride, else the release name (with the chart name
appended unless the release name already contains it). 63 characters at most (label values and
Service names).
*/}}
{{- define "hipaa-operator.fullname" -}}
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

{{/* name-version, for the helm.sh/chart label. */}}
{{- define "hipaa-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the operator's pods; never change them (Deployment selectors are immutable). */}}
{{- define "hipaa-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hipaa-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "hipaa-operator.labels" -}}
helm.sh/chart: {{ include "hipaa-operator.chart" . }}
{{ include "hipaa-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hipaa-operator
{{- end -}}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "hipaa-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hipaa-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The leader-election Lease name. */}}
{{- define "hipaa-operator.leaseName" -}}
{{- default (include "hipaa-operator.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/* repository:tag or repository@digest. */}}
{{- define "hipaa-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces whose listed Secrets the operator may read (client-secret identities), comma-separated. */}}
{{- define "hipaa-operator.secretNamespaces" -}}
{{- $namespaces := list -}}
{{- range .Values.clientSecretIdentities.secrets -}}
{{- $namespaces = append $namespaces .namespace -}}
{{- end -}}
{{- $namespaces | uniq | sortAlpha | join "," -}}
{{- end -}}

{{/* Checks the schema cannot express. */}}
{{- define "hipaa-operator.validate" -}}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) -}}
{{- fail "metrics.port and health.port must differ" -}}
{{- end -}}
{{- end -}}
