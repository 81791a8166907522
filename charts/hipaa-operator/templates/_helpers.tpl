{{/*
Names and labels shared by every template.
*/}}

{{/*
Names: Kubernetes limits Service names and label values to 63 characters (a DNS label), so every
name the chart renders is cut to 63, with a trailing "-" or "." trimmed (a name must end with a
letter or digit). The schema refuses nameOverride and fullnameOverride over 63 characters; the
release name is at most 53 (Helm), so only the suffixed names below need cutting in practice.
*/}}

{{/* Cuts a name to at most the given length and trims what may not end a name. */}}
{{- define "hipaa-operator.trimName" -}}
{{- $name := index . 0 -}}
{{- $max := index . 1 -}}
{{- regexReplaceAll "[-.]+$" ($name | trunc (int $max)) "" -}}
{{- end -}}

{{/* The chart name, or nameOverride. */}}
{{- define "hipaa-operator.name" -}}
{{- include "hipaa-operator.trimName" (list (default .Chart.Name .Values.nameOverride) 63) -}}
{{- end -}}

{{/*
The prefix of every resource name: fullnameOverride, else the release name (with the chart name
appended unless the release name already contains it). 63 characters at most (label values and
Service names).
*/}}
{{- define "hipaa-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- include "hipaa-operator.trimName" (list .Values.fullnameOverride 63) -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- include "hipaa-operator.trimName" (list .Release.Name 63) -}}
{{- else -}}
{{- include "hipaa-operator.trimName" (list (printf "%s-%s" .Release.Name $name) 63) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The full name with a suffix ("metrics", "leader-election", ...), 63 characters at most: the full
name is cut so that "-suffix" fits, never the suffix. Call it with (list . "suffix").
*/}}
{{- define "hipaa-operator.suffixedName" -}}
{{- $context := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $base := include "hipaa-operator.trimName" (list (include "hipaa-operator.fullname" $context) (sub 62 (len $suffix))) -}}
{{- printf "%s-%s" $base $suffix -}}
{{- end -}}

{{/*
The metrics Service's name. A Service name is a DNS label (RFC 1035): no dots, so a dot in the
release name or fullnameOverride becomes "-".
*/}}
{{- define "hipaa-operator.metricsServiceName" -}}
{{- include "hipaa-operator.suffixedName" (list . "metrics") | replace "." "-" -}}
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

{{/* repository:tag or repository@digest; the repository is the user's to name. */}}
{{- define "hipaa-operator.image" -}}
{{- $repository := required "image.repository is required: build the operator's image from the Dockerfile, push it to your registry and pass --set image.repository=<registry>/hipaa-operator (README: First install on AKS)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
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
{{- /*
reconcile.fullCheckInterval: the schema checks the form and the one-minute floor; the ceiling
is a sum over units. Above 30 days, keys, diagnostic settings and role assignments (which Azure
Resource Graph does not carry) would in effect never be read again. Years are 365 days and
months 30, as the operator counts them.
*/ -}}
{{- $interval := .Values.reconcile.fullCheckInterval -}}
{{- $date := regexReplaceAll "T.*$" (trimPrefix "P" $interval) "" -}}
{{- $time := "" -}}
{{- if contains "T" $interval -}}
{{- $time = regexReplaceAll "^[^T]*T" $interval "" -}}
{{- end -}}
{{- $seconds := 0 -}}
{{- range $part := list (list $date "Y" 31536000) (list $date "M" 2592000) (list $date "W" 604800) (list $date "D" 86400) (list $time "H" 3600) (list $time "M" 60) (list $time "S" 1) -}}
{{- $unit := index $part 1 -}}
{{- with regexFind (printf "[0-9]+%s" $unit) (index $part 0) -}}
{{- $seconds = add $seconds (mul (atoi (trimSuffix $unit .)) (index $part 2)) -}}
{{- end -}}
{{- end -}}
{{- if gt (int64 $seconds) (int64 2592000) -}}
{{- fail (printf "reconcile.fullCheckInterval %s is more than 30 days (P30D): keys, diagnostic settings and role assignments are only read at this interval" $interval) -}}
{{- end -}}
{{- /*
NetworkPolicy CIDRs: the schema checks the form; the API server also refuses an address with bits
set beyond the prefix length (10.0.0.1/8, fe80::1/64), which a pattern cannot see. Each address
is split into its octets (IPv4) or 16-bit groups (IPv6, "::" expanded), and every bit past the
prefix must be zero.
*/ -}}
{{- range $list := list "apiServer" "azure" -}}
{{- range $i, $cidr := (index $.Values.networkPolicy $list).cidrs -}}
{{- $address := first (splitList "/" $cidr) -}}
{{- $prefix := atoi (last (splitList "/" $cidr)) -}}
{{- $groups := list -}}
{{- $width := 8 -}}
{{- if contains ":" $address -}}
{{- $width = 16 -}}
{{- $halves := splitList "::" $address -}}
{{- $left := list -}}
{{- $right := list -}}
{{- with index $halves 0 -}}{{- $left = splitList ":" . -}}{{- end -}}
{{- if gt (len $halves) 1 -}}{{- with index $halves 1 -}}{{- $right = splitList ":" . -}}{{- end -}}{{- end -}}
{{- range $left -}}{{- $groups = append $groups (int (printf "0x%s" .)) -}}{{- end -}}
{{- range until (int (sub 8 (add (len $left) (len $right)))) -}}{{- $groups = append $groups 0 -}}{{- end -}}
{{- range $right -}}{{- $groups = append $groups (int (printf "0x%s" .)) -}}{{- end -}}
{{- else -}}
{{- range splitList "." $address -}}{{- $groups = append $groups (atoi .) -}}{{- end -}}
{{- end -}}
{{- range $g, $value := $groups -}}
{{- $hostBits := sub $width (max 0 (min $width (sub $prefix (mul $g $width)))) -}}
{{- $block := 1 -}}
{{- range until (int $hostBits) -}}{{- $block = mul $block 2 -}}{{- end -}}
{{- if ne (mod $value $block) 0 -}}
{{- fail (printf "networkPolicy.%s.cidrs[%d] %s has bits set beyond the prefix length, which Kubernetes refuses: write the network address" $list $i $cidr) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
