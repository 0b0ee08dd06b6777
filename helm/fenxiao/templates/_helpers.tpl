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

{{/* ConfigMap data: every non-secret environment variable the settings read. ----------- */}}
{{- define "fenxiao.configData" -}}
PLATFORM_DOMAIN: {{ required "platformDomain is required" .Values.platformDomain | quote }}
PLATFORM_EXTRA_HOSTS: {{ .Values.config.platformExtraHosts | toString | quote }}
PLATFORM_URL_SCHEME: {{ .Values.config.urlScheme | quote }}
PLATFORM_URL_PORT: {{ .Values.config.urlPort | toString | quote }}
ALLOWED_HOSTS: {{ .Values.config.allowedHosts | toString | quote }}
SCHEMA_POOL_SIZE: {{ .Values.config.schemaPoolSize | toString | quote }}
MIGRATE_WORKERS: {{ .Values.config.migrateWorkers | toString | quote }}
NUM_PROXIES: {{ .Values.config.numProxies | toString | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LANGUAGE_CODE: {{ .Values.config.languageCode | quote }}
TIME_ZONE: {{ .Values.config.timeZone | quote }}
DB_CONN_MAX_AGE: {{ .Values.config.dbConnMaxAge | toString | quote }}
SESSION_COOKIE_SECURE: {{ .Values.config.sessionCookieSecure | toString | quote }}
AWS_STORAGE_BUCKET_NAME: {{ .Values.config.s3.bucket | toString | quote }}
AWS_S3_REGION_NAME: {{ .Values.config.s3.region | toString | quote }}
AWS_S3_ENDPOINT_URL: {{ .Values.config.s3.endpoint | toString | quote }}
SIGNUP_RATE_LIMIT: {{ .Values.config.signupRateLimit | quote }}
LOGIN_RATE_LIMIT: {{ .Values.config.loginRateLimit | quote }}
EMAIL_BACKEND: {{ .Values.config.emailBackend | quote }}
{{- if .Values.config.defaultFromEmail }}
DEFAULT_FROM_EMAIL: {{ .Values.config.defaultFromEmail | quote }}
{{- end }}
DJANGO_DEBUG: "false"
# collectstatic ran in the image: serve from STATIC_ROOT only.
WHITENOISE_USE_FINDERS: "false"
# Celery needs Redis in a cluster: never run tasks eagerly inside web requests.
CELERY_TASK_ALWAYS_EAGER: "false"
# The root file system is read-only.
HOME: /tmp
{{- range $key, $value := .Values.config.extra }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Secret data (base64). DJANGO_SECRET_KEY, DATABASE_URL and REDIS_URL are required:
     without DATABASE_URL the settings try to start an embedded PostgreSQL, without
     REDIS_URL Celery runs tasks eagerly and beat publishes to nowhere. */}}
{{- define "fenxiao.secretData" -}}
{{- $s := .Values.secret -}}
DJANGO_SECRET_KEY: {{ required "secret.djangoSecretKey is required (or set secret.existingSecret)" $s.djangoSecretKey | b64enc | quote }}
DATABASE_URL: {{ required "secret.databaseUrl is required (or set secret.existingSecret)" $s.databaseUrl | b64enc | quote }}
REDIS_URL: {{ required "secret.redisUrl is required (or set secret.existingSecret)" $s.redisUrl | b64enc | quote }}
{{- with $s.awsAccessKeyId }}
AWS_ACCESS_KEY_ID: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.awsSecretAccessKey }}
AWS_SECRET_ACCESS_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.stripeSecretKey }}
STRIPE_SECRET_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.stripePublishableKey }}
STRIPE_PUBLISHABLE_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.stripeWebhookSecret }}
STRIPE_WEBHOOK_SECRET: {{ . | b64enc | quote }}
{{- end }}
{{- range $key, $value := $s.extra }}
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
