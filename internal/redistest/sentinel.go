package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name a Sentinel monitors.
const SentinelMaster = "noderemover-test"

// Sentinel is a private Redis master watched by one Sentinel, for one test.
type Sentinel struct {
	URL        string // redis-sentinel://host:port?master=NAME, as REDIS_URL takes it
	Addr       string // the sentinel, host:port
	MasterName string
	MasterAddr string // the master redis-server, host:port
}

// StartSentinel starts a redis-server master and a redis-server in sentinel
// mode that monitors it, and waits until the sentinel answers SENTINEL
// get-master-addr-by-name with the master. Both are stopped when the test
// ends. The test is skipped when redis-server is not on PATH.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	needBinaries(tb, "Redis Sentinel", "redis-server")
	root := tb.TempDir()
	s := &Sentinel{MasterName: SentinelMaster}

	masterDir, sentDir := filepath.Join(root, "master"), filepath.Join(root, "sentinel")
	for _, d := range []string{masterDir, sentDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	var masterPort string
	s.MasterAddr, masterPort = loopbackAddr(tb)
	startDaemon(tb, s.MasterAddr, filepath.Join(masterDir, "redis.log"),
		"--port", masterPort, "--bind", "127.0.0.1", "--dir", masterDir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--maxmemory-policy", "noeviction")

	// A sentinel rewrites its config file, so it gets one of its own.
	var sentPort string
	s.Addr, sentPort = loopbackAddr(tb)
	conf := filepath.Join(sentDir, "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %s 1\n",
		sentPort, sentDir, s.MasterName, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	sent := startDaemon(tb, s.Addr, filepath.Join(sentDir, "sentinel.log"), conf, "--sentinel")
	s.URL = "redis-sentinel://" + s.Addr + "?master=" + s.MasterName

	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer sc.Close()
	err := waitFor(10*time.Second, func(ctx context.Context) error {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err != nil {
			return err
		}
		if len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != s.MasterAddr {
			return fmt.Errorf("sentinel names master %v, want %s", addr, s.MasterAddr)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("redistest: sentinel on %s: %v\n%s", s.Addr, err, tail(sent.log))
	}
	return s
}

// Client returns a client that finds the master through the sentinel, for
// assertions; it is closed when the test ends.
func (s *Sentinel) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: []string{s.Addr}})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
