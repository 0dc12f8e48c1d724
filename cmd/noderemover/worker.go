package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/health"
	"github.com/noderemover/noderemover/internal/kube"
	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/webhook"
	"github.com/noderemover/noderemover/worker"
)

func runWorker(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("worker", io)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	f.env("concurrency", "WORKER_CONCURRENCY", "tasks at once")
	f.env("log-level", "LOG_LEVEL", "trace, debug, info, warn or error")
	f.env("log-format", "LOG_FORMAT", "json or console")
	f.env("http-addr", "HTTP_ADDR", "address of /metrics, /healthz and /readyz")
	if code, ok := f.parse(args); !ok {
		return code
	}
	cfg, err := f.config(env)
	if err == nil {
		err = cfg.CheckCCE()
	}
	if err != nil {
		return fail(io, exitUsage, "worker: %v", err)
	}
	log := newLogger(cfg, io.err)
	routeStdLog(log)
	rdb := redisconn.NewSized(cfg.Redis, worker.PoolSize(cfg.WorkerConcurrency))
	defer rdb.Close()

	reg := metrics.NewRegistry()
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	defer inspector.Close()
	st := store.New(rdb, store.Options{})
	m := metrics.New(reg, metrics.Options{
		OpenRequests: st.OpenCount,
		OldestOpen:   st.OldestOpen,
		Inspector:    inspector,
		Paused:       st.Paused,
		Regions:      configuredRegions(cfg),
	})
	auth, source := credentialSource(cfg)
	if err := checkCredentials(ctx, cfg, auth); err != nil {
		return fail(io, exitUsage, "worker: %v", err)
	}
	clients := newRegionClients(cfg, auth, m) // one Authenticator for every region
	api, err := clients.client(cfg.CCERegion)
	if err != nil {
		return fail(io, exitUsage, "worker: %v", err)
	}
	log.Info().Str("credentials", source).Msg("CCE credentials")
	wcfg := workerConfig(cfg, log)
	wcfg.Metrics = m
	wcfg.Region, wcfg.CCEFor = cfg.CCERegion, clients.forWorker
	if wcfg.Kube, err = newKubeAccess(cfg, api, clients.forKube, m.KubeRequest); err != nil {
		return fail(io, exitUsage, "worker: %v", err)
	}
	w := worker.New(rdb, api, wcfg)

	mux := http.NewServeMux()
	mux.Handle("GET "+health.MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: newStdLogger(log)}))
	health.RegisterLogged(mux, func(check string, err error) { log.Warn().Str("check", check).Err(err).Msg("not ready") },
		health.Check{Name: "worker", Fn: w.Ready})
	hs, err := listenAndServe(cfg.HTTPAddr, mux, httpLimits(cfg), log)
	if err != nil {
		return fail(io, exitFailure, "worker: %v", err)
	}
	if err := w.Start(); err != nil {
		_ = hs.stop()
		return fail(io, exitFailure, "worker: %v", err)
	}
	log.Info().Str("redis", cfg.Redis.String()).Str("cce_endpoint", cfg.CCEEndpoint).Str("cce_region", cfg.CCERegion).
		Interface("cce_endpoints", cfg.CCEEndpoints).Str("http_addr", hs.addr.String()).
		Int("concurrency", cfg.WorkerConcurrency).Str("kube_access", cfg.KubeAccess).Bool("drain", cfg.DrainOn()).
		Msg("worker started")

	<-ctx.Done()
	log.Info().Dur("shutdown_timeout", cfg.ShutdownTimeout).Msg("stopping: no new tasks; running ones may finish")
	w.Shutdown() // readiness fails from here on; /healthz and /metrics keep answering
	if err := hs.stop(); err != nil {
		log.Warn().Err(err).Msg("http server stop")
	}
	log.Info().Msg("worker stopped")
	return exitOK
}

// workerConfig maps the configuration onto the worker's.
func workerConfig(cfg config.Config, log zerolog.Logger) worker.Config {
	return worker.Config{
		Concurrency:       cfg.WorkerConcurrency,
		RetryBackoffMin:   cfg.RetryBackoffMin,
		RetryBackoffMax:   cfg.RetryBackoffMax,
		SubmitMaxAttempts: cfg.SubmitMaxAttempts,
		BatchWindow:       cfg.BatchWindow,
		WriteRate:         cfg.WriteRate.PerSecond(),
		ReadRate:          cfg.ReadRate.PerSecond(),
		PollIntervalMin:   cfg.PollIntervalMin,
		PollIntervalMax:   cfg.PollIntervalMax,
		PollFirstDelay:    cfg.PollFirstDelay,
		PollTimeout:       cfg.PollTimeout,
		CCETimeout:        cfg.CCETimeout,
		RecordTTL:         cfg.RecordTTL,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		DrainInterval:     cfg.DrainInterval,
		Guard:             fleetGuard(cfg),
		WebhookKey:        webhookKey(cfg),
		WebhookHosts:      clientOptions(cfg).WebhookHosts,
		WebhookMaxAge:     cfg.WebhookMaxAge,
		EventsMaxLen:      cfg.EventsMaxLen,
		CredentialsGrace:  cfg.CredentialsGrace,
		Logger:            log,
	}
}

// newKubeAccess is the worker's Kubernetes access (KUBE_ACCESS), with the
// CCE client to ask for kubeconfigs.
func newKubeAccess(cfg config.Config, api *cce.Client, regional func(string) (kube.CertIssuer, bool), observe func(code int)) (*kube.Access, error) {
	a, err := kube.New(kube.Options{
		Mode:     cfg.KubeAccess,
		Endpoint: cfg.KubeEndpoint,
		Dir:      cfg.KubeconfigDir,
		QPS:      float32(cfg.KubeQPS),
		Burst:    2 * cfg.KubeQPS,
		CertTTL:  cfg.KubeCertTTL,
		CCE:      api,
		Region:   cfg.CCERegion,
		CCEFor:   regional,
		Observe:  observe,
	})
	if err != nil {
		return nil, fmt.Errorf("access to Kubernetes: %w", err)
	}
	return a, nil
}

// credentialSource is the configured way to authenticate at CCE (CheckCCE
// made sure there is at most one; with none it is the ECS metadata
// service, as the official SDK's chain ends), and what to log of it:
// never a secret.
func credentialSource(cfg config.Config) (cce.Authenticator, string) {
	switch cfg.CredentialSource() {
	case config.SourceToken:
		return cce.TokenAuth{Token: cfg.CCEAuthToken.Reveal()}, "CCE_AUTH_TOKEN (a static IAM token: it lasts 24 hours)"
	case config.SourceTokenFile:
		return &cce.TokenFile{Path: cfg.CCEAuthTokenFile}, "CCE_AUTH_TOKEN_FILE " + cfg.CCEAuthTokenFile + " (read again when it changes)"
	case config.SourceIAMUser:
		password := func() (string, error) { return cfg.IAMPassword.Reveal(), nil }
		if cfg.IAMPasswordFile != "" {
			password = func() (string, error) {
				raw, err := os.ReadFile(cfg.IAMPasswordFile)
				return strings.TrimRight(string(raw), "\r\n"), err
			}
		}
		return &cce.IAMPassword{Endpoint: cfg.IAMURL(), Domain: cfg.IAMDomain, User: cfg.IAMUsername, Password: password},
			"IAM user " + cfg.IAMUsername + " of " + cfg.IAMDomain + " at " + cfg.IAMURL() + " (tokens obtained and renewed by the worker)"
	case config.SourceKeyFiles:
		return &cce.KeyFiles{AKFile: cfg.AccessKeyFile, SKFile: cfg.SecretKeyFile, SecurityTokenFile: cfg.SecurityTokenFile},
			"HUAWEICLOUD_SDK_AK_FILE " + cfg.AccessKeyFile + " and HUAWEICLOUD_SDK_SK_FILE " + cfg.SecretKeyFile + " (read again when they change)"
	case config.SourceWorkload:
		what := "workload identity: identity provider " + cfg.IdPID + ", token " + cfg.IDTokenFile + ", IAM at " + cfg.IAMURL()
		return &cce.TemporaryKeys{What: "workload identity", Source: &cce.WorkloadIdentity{
			IAMEndpoint: cfg.IAMURL(), IdPID: cfg.IdPID, TokenFile: cfg.IDTokenFile,
		}}, what + " (temporary AK/SK, renewed before they expire)"
	case config.SourceMetadata:
		endpoint := cmp.Or(cfg.MetadataEndpoint, cce.DefaultMetadataEndpoint)
		return &cce.TemporaryKeys{What: "ECS metadata", Source: cce.ECSMetadata{Endpoint: endpoint}},
			"ECS metadata at " + endpoint + " (the agency's temporary AK/SK, renewed before they expire)"
	}
	what := "HUAWEICLOUD_SDK_AK " + cfg.AccessKey + " (AK/SK signing)"
	if cfg.SecurityToken != "" {
		what = "HUAWEICLOUD_SDK_AK " + cfg.AccessKey + " with a security token (temporary AK/SK)"
	}
	return &cce.Signer{AK: cfg.AccessKey, SK: cfg.SecretKey.Reveal(), SecurityToken: cfg.SecurityToken.Reveal()}, what
}

// checkCredentials asks, when no credentials are configured, the ECS
// metadata service for a key once: a worker started where there is none
// (a laptop, a server without an agency) stops at once saying what to
// set, instead of waiting on credentials it will never have.
func checkCredentials(ctx context.Context, cfg config.Config, auth cce.Authenticator) error {
	keys, ok := auth.(*cce.TemporaryKeys)
	if len(cfg.CredentialSources()) > 0 || !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := keys.Key(ctx, ""); err != nil {
		return fmt.Errorf("no CCE credentials are set (CCE_AUTH_TOKEN, CCE_AUTH_TOKEN_FILE, HUAWEICLOUD_SDK_AK/SK, "+
			"HUAWEICLOUD_SDK_AK_FILE/SK_FILE, IAM_USERNAME, HUAWEICLOUD_SDK_IDP_ID), and this is not a server with an agency: %w", err)
	}
	return nil
}

// webhookKey is WEBHOOK_SECRET decoded (its form checked by config); nil
// without one.
func webhookKey(cfg config.Config) webhook.Key {
	if cfg.WebhookSecret == "" {
		return nil
	}
	k, _ := webhook.ParseSecret(cfg.WebhookSecret.Reveal())
	return k
}
