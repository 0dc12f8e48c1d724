// Package redisconn turns a configured Redis target into the clients the
// subcommands use: one go-redis client shared by our store and asynq, sized
// for its users, and the connection options asynqmon needs for its own
// pools. It also tells an error of Redis being away from any other.
package redisconn

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
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

// ConnOpt returns asynq's connection options for t, with go-redis's
// default pool (10 connections per CPU).
func ConnOpt(t config.RedisTarget) asynq.RedisConnOpt { return connOpt(t, 0) }

func connOpt(t config.RedisTarget, poolSize int) asynq.RedisConnOpt {
	var tlsConfig *tls.Config
	if t.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch t.Mode {
	case "sentinel":
		return asynq.RedisFailoverClientOpt{
			MasterName: t.MasterName, SentinelAddrs: t.Addrs, SentinelPassword: t.SentinelPassword.Reveal(),
			Username: t.Username, Password: t.Password.Reveal(), DB: t.DB, PoolSize: poolSize,
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, TLSConfig: tlsConfig,
		}
	case "cluster":
		return asynq.RedisClusterClientOpt{
			Addrs: t.Addrs, Username: t.Username, Password: t.Password.Reveal(),
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, TLSConfig: tlsConfig,
		}
	default:
		return asynq.RedisClientOpt{
			Addr: t.Addrs[0], Username: t.Username, Password: t.Password.Reveal(), DB: t.DB, PoolSize: poolSize,
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, TLSConfig: tlsConfig,
		}
	}
}

// New returns a go-redis client for t with go-redis's default pool. The
// caller closes it.
func New(t config.RedisTarget) redis.UniversalClient { return NewSized(t, 0) }

// NewSized returns a go-redis client for t with a pool of poolSize
// connections (per node, on a cluster); 0 is go-redis's default.
func NewSized(t config.RedisTarget, poolSize int) redis.UniversalClient {
	if o, ok := connOpt(t, poolSize).(asynq.RedisClusterClientOpt); ok {
		// asynq's cluster options have no pool size: make the client as it
		// would, with one.
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: o.Addrs, Username: o.Username, Password: o.Password, PoolSize: poolSize,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, TLSConfig: o.TLSConfig,
		})
	}
	return connOpt(t, poolSize).MakeRedisClient().(redis.UniversalClient)
}

// Unavailable reports whether err is Redis not answering, rather than any
// other failure: the network (refused, reset, timed out, closed), the
// client's pool timing out, or Redis saying it cannot serve now (loading,
// a cluster or failover in progress, a read-only replica). asynq gives its
// script errors as text only; their causes are recognised by wording.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed):
		return true
	}
	msg := err.Error()
	for _, s := range unavailableWords {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// unavailableWords are what an error says when Redis is away or cannot
// serve now: go-redis's and the network's wording (in errors asynq turned
// into text), and Redis's own error prefixes for a server not ready.
var unavailableWords = []string{
	"connection refused", "connection reset", "broken pipe", "i/o timeout", "no route to host",
	"network is unreachable", ": EOF", "use of closed network connection", "connection pool timeout",
	"redis: client is closed", "LOADING ", "CLUSTERDOWN ", "MASTERDOWN ", "TRYAGAIN ", "READONLY ", "BUSY ",
}
