{{/* Names. */}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "berth.fullname" -}}
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

{{- define "berth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "berth.secretName" -}}
{{- default (include "berth.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "berth.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* "true" when the data volume holds state (filesystem storage or SQLite). */}}
{{- define "berth.statefulData" -}}
{{- if or (eq .Values.storage.driver "filesystem") (eq .Values.database.type "sqlite") }}true{{ end }}
{{- end }}

{{/*
berth.validate stops rendering with a message naming the values to change
when they cannot work. Several replicas share nothing but S3 storage, the
PostgreSQL database and the Redis cache: a filesystem volume or SQLite file
would be each pod's own, and an in-memory cache would go stale.
*/}}
{{- define "berth.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.storage.driver (list "filesystem" "s3")) }}
{{- fail (printf "berth: storage.driver must be filesystem or s3, not %q" $v.storage.driver) }}
{{- end }}
{{- if not (has $v.database.type (list "sqlite" "postgres")) }}
{{- fail (printf "berth: database.type must be sqlite or postgres, not %q" $v.database.type) }}
{{- end }}
{{- if not (has $v.cache (list "inmemory" "redis" "none")) }}
{{- fail (printf "berth: cache must be inmemory, redis or none, not %q" $v.cache) }}
{{- end }}
{{- if lt (int $v.replicaCount) 0 }}
{{- fail "berth: replicaCount must not be negative" }}
{{- end }}
{{- if gt (int $v.replicaCount) 1 }}
{{- $missing := list }}
{{- if ne $v.storage.driver "s3" }}{{ $missing = append $missing (printf "storage.driver=s3 (now %s)" $v.storage.driver) }}{{ end }}
{{- if ne $v.database.type "postgres" }}{{ $missing = append $missing (printf "database.type=postgres with database.url (now %s)" $v.database.type) }}{{ end }}
{{- if or (ne $v.cache "redis") (not $v.redis.addr) }}{{ $missing = append $missing "cache=redis with redis.addr" }}{{ end }}
{{- if $missing }}
{{- fail (printf "berth: replicaCount=%d needs state the replicas share: set %s. A filesystem volume or SQLite file would belong to one pod, and an in-memory cache would go stale; or set replicaCount=1." (int $v.replicaCount) (join ", " $missing)) }}
{{- end }}
{{- end }}
{{- if and (eq $v.storage.driver "s3") (not $v.storage.s3.bucket) }}
{{- fail "berth: storage.driver=s3 needs storage.s3.bucket" }}
{{- end }}
{{- if and (eq $v.database.type "postgres") (not $v.database.url) (not $v.existingSecret) }}
{{- fail "berth: database.type=postgres needs database.url (postgres://...), or existingSecret with the key database-url" }}
{{- end }}
{{- if and $v.database.url (not (regexMatch "^postgres(ql)?://" $v.database.url)) }}
{{- fail "berth: database.url must be a postgres:// URL (SQLite needs no URL: database.type=sqlite)" }}
{{- end }}
{{- if and $v.database.url (eq $v.database.type "sqlite") }}
{{- fail "berth: database.url is set but database.type is sqlite; set database.type=postgres" }}
{{- end }}
{{- if and (eq $v.cache "redis") (not $v.redis.addr) }}
{{- fail "berth: cache=redis needs redis.addr (host:port)" }}
{{- end }}
{{- if and $v.adminPassword (or (lt (len $v.adminPassword) 8) (gt (len $v.adminPassword) 72) (not (regexMatch "[A-Za-z]" $v.adminPassword)) (not (regexMatch "[0-9]" $v.adminPassword))) }}
{{- fail "berth: adminPassword needs 8-72 characters with letters and digits" }}
{{- end }}
{{- if and $v.publicUrl (not (regexMatch "^https?://[^/]+/?$" $v.publicUrl)) }}
{{- fail (printf "berth: publicUrl %q must be http(s)://host[:port] with no path" $v.publicUrl) }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable) (kindIs "invalid" $v.podDisruptionBudget.minAvailable) }}
{{- fail "berth: podDisruptionBudget needs maxUnavailable or minAvailable" }}
{{- end }}
{{- end }}

{{/*
berth.config is berth's configuration file: the chart's settings over the
user's config.
*/}}
{{- define "berth.config" -}}
{{- $v := .Values }}
{{- $managed := dict "shutdownTimeout" (printf "%ds" (int $v.shutdownTimeoutSeconds)) "cache" $v.cache }}
{{- if $v.publicUrl }}{{ $_ := set $managed "publicUrl" (trimSuffix "/" $v.publicUrl) }}{{ end }}
{{- $storage := dict "driver" $v.storage.driver "redirect" $v.storage.redirect }}
{{- if eq $v.storage.driver "s3" }}
{{- $s3 := dict "bucket" $v.storage.s3.bucket "region" $v.storage.s3.region "pathStyle" $v.storage.s3.pathStyle "createBucket" $v.storage.s3.createBucket }}
{{- if $v.storage.s3.endpoint }}{{ $_ := set $s3 "endpoint" $v.storage.s3.endpoint }}{{ end }}
{{- if $v.storage.s3.rootDirectory }}{{ $_ := set $s3 "rootDirectory" $v.storage.s3.rootDirectory }}{{ end }}
{{- $_ := set $storage "s3" $s3 }}
{{- end }}
{{- $_ := set $managed "storage" $storage }}
{{- if eq $v.cache "redis" }}
{{- $_ := set $managed "redis" (dict "addr" $v.redis.addr "db" (int $v.redis.db)) }}
{{- end }}
{{- toYaml (mergeOverwrite (deepCopy (default dict $v.config)) $managed) }}
{{- end }}
