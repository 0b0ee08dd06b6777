{{/* Names -------------------------------------------------------------------------- */}}

{{- define "fenxiao.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Truncated to 52 so that "<fullname>-migrate" and friends stay within 63 characters. */}}
{{- define "fenxiao.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "fenxiao.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: call with (dict "ctx" $ "component" "web") ------------------------------- */}}

{{- define "fenxiao.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fenxiao.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "fenxiao.labels" -}}
helm.sh/chart: {{ include "fenxiao.chart" .ctx }}
{{ include "fenxiao.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: fenxiao
{{- end }}

{{/* Image, config and secret names ---------------------------------------------------- */}}

{{- define "fenxiao.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{- define "fenxiao.configMapName" -}}
{{- include "fenxiao.fullname" . }}
{{- end }}

{{- define "fenxiao.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "fenxiao.fullname" . }}
{{- end }}
{{- end }}

{{/* Hook copies, created before the migration Job: the release's own ConfigMap and
     Secret do not exist yet on install, and hold the previous values during an upgrade. */}}
{{- define "fenxiao.hookName" -}}
{{- printf "%s-migrate" (include "fenxiao.fullname" .) }}
{{- end }}

{{/* ConfigMap data: every non-secret environment variable the settings read, plus
     config.extra (which may override any of them). Values are strings. */}}
{{- define "fenxiao.configData" -}}
{{- $c := .Values.config -}}
{{- $data := dict
  "PLATFORM_DOMAIN" (required "platformDomain is required" .Values.platformDomain)
  "PLATFORM_EXTRA_HOSTS" $c.platformExtraHosts
  "PLATFORM_URL_SCHEME" $c.urlScheme
  "PLATFORM_URL_PORT" $c.urlPort
  "ALLOWED_HOSTS" $c.allowedHosts
  "SCHEMA_POOL_SIZE" $c.schemaPoolSize
  "MIGRATE_WORKERS" $c.migrateWorkers
  "NUM_PROXIES" $c.numProxies
  "LOG_LEVEL" $c.logLevel
  "LANGUAGE_CODE" $c.languageCode
  "TIME_ZONE" $c.timeZone
  "DB_CONN_MAX_AGE" (ternary .Values.database.pgbouncer.appConnMaxAge $c.dbConnMaxAge (eq (toString .Values.database.pgbouncer.enabled) "true"))
  "SESSION_COOKIE_SECURE" $c.sessionCookieSecure
  "AWS_STORAGE_BUCKET_NAME" $c.s3.bucket
  "AWS_S3_REGION_NAME" $c.s3.region
  "AWS_S3_ENDPOINT_URL" $c.s3.endpoint
  "SIGNUP_RATE_LIMIT" $c.signupRateLimit
  "LOGIN_RATE_LIMIT" $c.loginRateLimit
  "EMAIL_BACKEND" $c.emailBackend
  "DJANGO_DEBUG" "false"
  "WHITENOISE_USE_FINDERS" "false"
  "CELERY_TASK_ALWAYS_EAGER" "false"
  "HOME" "/tmp"
-}}
{{- /* DJANGO_DEBUG: never in a cluster. WHITENOISE_USE_FINDERS: collectstatic ran in the
       image, serve STATIC_ROOT only. CELERY_TASK_ALWAYS_EAGER: tasks go through Redis,
       never run inside a web request. HOME: the root file system is read-only. */ -}}
{{- with $c.defaultFromEmail }}
{{- $_ := set $data "DEFAULT_FROM_EMAIL" . }}
{{- end }}
{{- $data = mergeOverwrite $data ($c.extra | default dict) }}
{{- range $key, $value := $data }}
{{ $key }}: {{ (kindIs "invalid" $value) | ternary "" $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Secret data (base64). DJANGO_SECRET_KEY, DATABASE_URL and REDIS_URL are required:
     without DATABASE_URL the settings try to start an embedded PostgreSQL, without
     REDIS_URL Celery runs tasks eagerly and beat publishes to nowhere. Optional keys are
     left out when empty (so a workload identity can supply AWS credentials). */}}
{{- define "fenxiao.secretData" -}}
{{- $s := .Values.secret -}}
{{- $data := dict
  "DJANGO_SECRET_KEY" (required "secret.djangoSecretKey is required (or set secret.existingSecret)" $s.djangoSecretKey)
  "DATABASE_URL" (required "secret.databaseUrl is required (or set secret.existingSecret)" $s.databaseUrl)
  "REDIS_URL" (required "secret.redisUrl is required (or set secret.existingSecret)" $s.redisUrl)
-}}
{{- $optional := dict
  "AWS_ACCESS_KEY_ID" $s.awsAccessKeyId
  "AWS_SECRET_ACCESS_KEY" $s.awsSecretAccessKey
  "STRIPE_SECRET_KEY" $s.stripeSecretKey
  "STRIPE_PUBLISHABLE_KEY" $s.stripePublishableKey
  "STRIPE_WEBHOOK_SECRET" $s.stripeWebhookSecret
  "PGBOUNCER_UPSTREAM_URL" $s.pgbouncerUpstreamUrl
-}}
{{- range $key, $value := $optional }}
{{- if $value }}
{{- $_ := set $data $key $value }}
{{- end }}
{{- end }}
{{- $data = mergeOverwrite $data ($s.extra | default dict) }}
{{- range $key, $value := $data }}
{{ $key }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Pod-level pieces shared by every workload. ---------------------------------------- */}}

{{/* envFrom: call with (dict "ctx" $ "hook" true|false) */}}
{{- define "fenxiao.envFrom" -}}
- configMapRef:
    name: {{ if .hook }}{{ include "fenxiao.hookName" .ctx }}{{ else }}{{ include "fenxiao.configMapName" .ctx }}{{ end }}
- secretRef:
    name: {{ if and .hook (not .ctx.Values.secret.existingSecret) }}{{ include "fenxiao.hookName" .ctx }}{{ else }}{{ include "fenxiao.secretName" .ctx }}{{ end }}
{{- end }}

{{/* Rolls pods when the configuration changes (not for an existingSecret's content). */}}
{{- define "fenxiao.checksums" -}}
checksum/config: {{ include "fenxiao.configData" . | sha256sum }}
{{- if not .Values.secret.existingSecret }}
checksum/secret: {{ include "fenxiao.secretData" . | sha256sum }}
{{- end }}
{{- end }}

{{/* Pod spec head: call with (dict "ctx" $ "component" .Values.web) */}}
{{- define "fenxiao.podCommon" -}}
{{- $ctx := .ctx -}}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: {{ $ctx.Values.automountServiceAccountToken }}
enableServiceLinks: false
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with (.component.nodeSelector | default $ctx.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.component.tolerations | default $ctx.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.component.affinity | default $ctx.Values.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod metadata annotations/labels: call with (dict "ctx" $ "component" .Values.web "name" "web" "checksums" true) */}}
{{- define "fenxiao.podMetadata" -}}
{{- $ctx := .ctx -}}
{{- $labels := mergeOverwrite (dict) ($ctx.Values.podLabels | default dict) (.component.podLabels | default dict) (include "fenxiao.selectorLabels" (dict "ctx" $ctx "component" .name) | fromYaml) }}
labels:
  {{- toYaml $labels | nindent 2 }}
{{- $annotations := dict }}
{{- if .checksums }}
{{- $annotations = include "fenxiao.checksums" $ctx | fromYaml }}
{{- end }}
{{- $annotations = mergeOverwrite $annotations ($ctx.Values.podAnnotations | default dict) (.component.podAnnotations | default dict) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container pieces: image, env, securityContext. Call with (dict "ctx" $ "hook" bool) */}}
{{- define "fenxiao.containerCommon" -}}
{{- $ctx := .ctx -}}
image: {{ include "fenxiao.image" $ctx | quote }}
imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
envFrom:
  {{- include "fenxiao.envFrom" . | nindent 2 }}
{{- with $ctx.Values.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $ctx.Values.securityContext | nindent 2 }}
{{- end }}

{{/* Volumes: /tmp always, media when a claim is given. Call with (dict "ctx" $ "media" bool) */}}
{{- define "fenxiao.volumes" -}}
- name: tmp
  emptyDir:
    {{- with .ctx.Values.tmpDir.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- if and .media .ctx.Values.media.existingClaim }}
- name: media
  persistentVolumeClaim:
    claimName: {{ .ctx.Values.media.existingClaim }}
{{- end }}
{{- end }}

{{- define "fenxiao.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .media .ctx.Values.media.existingClaim }}
- name: media
  mountPath: /app/media
{{- end }}
{{- end }}

{{/* PostgreSQL connection budget ------------------------------------------------------
     Every process that talks to the database holds at most one connection per thread
     (Django keeps one per thread, for DB_CONN_MAX_AGE seconds). At their peak:
       web       pods × gunicorn workers × threads; pods = the HPA's maxReplicas when
                 autoscaling, else replicaCount, plus the rolling update's maxSurge
       worker    pods × concurrency (one per prefork child); pods + the rolling surge (25 %)
       beat      1
       migrate   config.migrateWorkers + 1 (the hook Job; old pods keep serving meanwhile)
     Directly on PostgreSQL the sum must fit max_connections − reserved. Through the
     chart's PgBouncer (session mode) the app's connections are its clients (they must fit
     pgbouncer.maxClientConn per replica) and PgBouncer's pools are what PostgreSQL sees.
     tests/test_helm_budget.py computes the same in Python; `make helm-check` renders the
     chart with Helm itself and compares. Returns YAML (fromYaml). */}}
{{- define "fenxiao.surge" -}}
{{- $pods := int .pods -}}
{{- $surge := toString (default "25%" .surge) -}}
{{- if hasSuffix "%" $surge -}}
{{- div (add (mul $pods (trimSuffix "%" $surge | int)) 99) 100 -}}
{{- else -}}
{{- $surge | int -}}
{{- end -}}
{{- end }}

{{- define "fenxiao.dbConnections" -}}
{{- $v := .Values -}}
{{- $web := $v.web -}}
{{- $webPods := ternary (int $web.autoscaling.maxReplicas) (int $web.replicaCount) (eq (toString $web.autoscaling.enabled) "true") -}}
{{- $webSurge := 0 -}}
{{- if eq (toString (dig "type" "RollingUpdate" ($web.strategy | default dict))) "RollingUpdate" -}}
{{- $webSurge = include "fenxiao.surge" (dict "pods" $webPods "surge" (dig "rollingUpdate" "maxSurge" "25%" ($web.strategy | default dict))) | int -}}
{{- end -}}
{{- $webConns := mul (add $webPods $webSurge) (int $web.gunicorn.workers) (int $web.gunicorn.threads) -}}
{{- $workerPods := int $v.worker.replicaCount -}}
{{- $workerSurge := include "fenxiao.surge" (dict "pods" $workerPods "surge" "25%") | int -}}
{{- $workerConns := mul (add $workerPods $workerSurge) (int $v.worker.concurrency) -}}
{{- $beatConns := ternary 1 0 (eq (toString $v.beat.enabled) "true") -}}
{{- $migrateConns := ternary (add (int $v.config.migrateWorkers) 1) 0 (eq (toString $v.migrations.enabled) "true") -}}
{{- $clients := add $webConns $workerConns $beatConns $migrateConns -}}
{{- $db := $v.database -}}
{{- $available := sub (int $db.maxConnections) (int $db.reservedConnections) -}}
{{- $pgb := $db.pgbouncer -}}
{{- $server := $clients -}}
{{- $clientLimit := 0 -}}
{{- if eq (toString $pgb.enabled) "true" -}}
{{- $server = mul (int $pgb.replicaCount) (int $pgb.poolSize) -}}
{{- $clientLimit = mul (int $pgb.replicaCount) (int $pgb.maxClientConn) -}}
{{- end -}}
web: {{ $webConns }}
worker: {{ $workerConns }}
beat: {{ $beatConns }}
migrate: {{ $migrateConns }}
clients: {{ $clients }}
server: {{ $server }}
available: {{ $available }}
pgbouncer: {{ eq (toString $pgb.enabled) "true" }}
clientLimit: {{ $clientLimit }}
{{- end }}

{{/* Fails the rendering (helm install/upgrade/template/lint) when the release could open
     more connections than the server allows. Included by configmap.yaml. */}}
{{- define "fenxiao.checkConnectionBudget" -}}
{{- $b := include "fenxiao.dbConnections" . | fromYaml -}}
{{- if gt (int $b.server) (int $b.available) -}}
{{- fail (printf "PostgreSQL connection budget exceeded: this release can open %d connections (web %d + worker %d + beat %d + migrate %d%s) but database.maxConnections %d − database.reservedConnections %d leaves %d. Lower web replicas/workers/threads, worker concurrency or config.migrateWorkers, raise max_connections, or use database.pgbouncer (session mode). See helm/README.md, Connection budget." (int $b.server) (int $b.web) (int $b.worker) (int $b.beat) (int $b.migrate) (ternary ", through PgBouncer pools" "" $b.pgbouncer) (int .Values.database.maxConnections) (int .Values.database.reservedConnections) (int $b.available)) -}}
{{- end -}}
{{- if and $b.pgbouncer (gt (int $b.clients) (int $b.clientLimit)) -}}
{{- fail (printf "PgBouncer client budget exceeded: the app can open %d connections but database.pgbouncer allows %d (replicaCount × maxClientConn)." (int $b.clients) (int $b.clientLimit)) -}}
{{- end -}}
{{- if and $b.pgbouncer (ne (toString .Values.database.pgbouncer.poolMode) "session") -}}
{{- fail "database.pgbouncer.poolMode must be \"session\": transaction and statement pooling hand a connection whose search_path is another shop's to the next transaction (helm/README.md, PgBouncer)." -}}
{{- end -}}
{{- end }}
