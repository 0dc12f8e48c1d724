// Package redisconn turns a configured Redis target into the clients the
// subcommands use: one go-redis client shared by our store and asynq, and
// the connection options asynqmon needs for its own pools.
package redisconn

import (
	"crypto/tls"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/config"
)

// Timeouts that keep a call from hanging when Redis is away.
const (
	dialTimeout = 5 * time.Second
	ioTimeout   = 3 * time.Second
)

// ConnOpt returns asynq's connection options for t.
func ConnOpt(t config.RedisTarget) asynq.RedisConnOpt {
	var tlsConfig *tls.Config
	if t.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch t.Mode {
	case "sentinel":
		return asynq.RedisFailoverClientOpt{
			MasterName: t.MasterName, SentinelAddrs: t.Addrs, SentinelPassword: t.SentinelPassword.Reveal(),
			Username: t.Username, Password: t.Password.Reveal(), DB: t.DB,
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, TLSConfig: tlsConfig,
		}
	case "cluster":
		return asynq.RedisClusterClientOpt{
			Addrs: t.Addrs, Username: t.Username, Password: t.Password.Reveal(),
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, TLSConfig: tlsConfig,
		}
	default:
		return asynq.RedisClientOpt{
			Addr: t.Addrs[0], Username: t.Username, Password: t.Password.Reveal(), DB: t.DB,
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, TLSConfig: tlsConfig,
		}
	}
}

// New returns a go-redis client for t. The caller closes it.
func New(t config.RedisTarget) redis.UniversalClient {
	return ConnOpt(t).MakeRedisClient().(redis.UniversalClient)
}
