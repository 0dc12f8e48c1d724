package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterMasters is how many masters a test cluster has: the fewest
// redis-cli --cluster create accepts.
const clusterMasters = 3

// Cluster is a private Redis Cluster of three masters (no replicas) on
// loopback ports, for one test.
type Cluster struct {
	URL   string   // redis-cluster://host:port,host:port,host:port, as REDIS_URL takes it
	Addrs []string // the masters, host:port

	nodes []*daemon
}

// StartCluster starts three redis-server processes in cluster mode, joins
// them with redis-cli --cluster create and waits until every node reports
// cluster_state:ok. They are stopped when the test ends. The test is skipped
// when redis-server or redis-cli is not on PATH.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	needBinaries(tb, "Redis Cluster", "redis-server", "redis-cli")
	root := tb.TempDir()
	c := &Cluster{}
	for i := range clusterMasters {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		addr, port := clusterNodeAddr(tb)
		c.nodes = append(c.nodes, startDaemon(tb, addr, filepath.Join(dir, "redis.log"),
			"--port", port, "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--maxmemory-policy", "noeviction",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf")))
		c.Addrs = append(c.Addrs, addr)
	}
	c.URL = "redis-cluster://" + strings.Join(c.Addrs, ",")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.nodes {
		cl := nodeClient(n.addr)
		err := waitFor(20*time.Second, func(ctx context.Context) error {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return errors.New("cluster_state is not ok")
			}
			return nil
		})
		_ = cl.Close()
		if err != nil {
			tb.Fatalf("redistest: cluster node %s: %v\n%s", n.addr, err, tail(n.log))
		}
	}
	return c
}

// clusterNodeAddr returns a free loopback address for a cluster node whose
// bus port, 10000 above it, is free too. (Redis 7 could be given the bus port
// with --cluster-port; the redis-server of a distribution may be 6.)
func clusterNodeAddr(tb testing.TB) (string, string) {
	tb.Helper()
	for range 100 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: free port: %v", err)
		}
		if port+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), strconv.Itoa(port)
	}
	tb.Fatal("redistest: no free port with a free cluster bus port")
	return "", ""
}

// Client returns a cluster client for assertions, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// MoveSlotOf moves the hash slot of key, which must hold no keys yet, to
// master i (of Addrs), as redis-cli --cluster reshard moves a slot, and waits
// until every node agrees. Tests use it to put keys of different hash tags
// on different masters, so that a command sent to the wrong node fails.
func (c *Cluster) MoveSlotOf(tb testing.TB, key string, i int) {
	tb.Helper()
	ctx := context.Background()
	clients := make([]*redis.Client, len(c.nodes))
	ids := make([]string, len(c.nodes))
	for n, node := range c.nodes {
		clients[n] = nodeClient(node.addr)
		defer clients[n].Close()
		id, err := clients[n].Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			tb.Fatalf("redistest: CLUSTER MYID on %s: %v", node.addr, err)
		}
		ids[n] = id
	}
	slot, err := clients[0].ClusterKeySlot(ctx, key).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	owner := func(ctx context.Context, cl *redis.Client) (string, error) {
		//lint:ignore SA1019 CLUSTER SHARDS needs Redis 7; a distribution's redis-server may be 6.
		slots, err := cl.ClusterSlots(ctx).Result()
		if err != nil {
			return "", err
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				return r.Nodes[0].ID, nil
			}
		}
		return "", fmt.Errorf("slot %d has no owner", slot)
	}
	src, err := owner(ctx, clients[0])
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	dst := ids[i]
	if src == dst {
		return
	}
	from := clients[slices.Index(ids, src)]
	if n, err := from.ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != 0 {
		tb.Fatalf("redistest: slot %d of %s holds %d keys (%v); only an empty slot moves", slot, key, n, err)
	}
	// The order redis-cli uses: the target learns it imports, the source that
	// it migrates; then the target takes the slot (bumping its epoch so the
	// change wins), then everyone else is told.
	type step struct {
		cl   *redis.Client
		args []any
	}
	steps := []step{{clients[i], []any{"IMPORTING", src}}, {from, []any{"MIGRATING", dst}}, {clients[i], []any{"NODE", dst}}}
	for _, cl := range clients {
		if cl != clients[i] {
			steps = append(steps, step{cl, []any{"NODE", dst}})
		}
	}
	for _, st := range steps {
		args := append([]any{"CLUSTER", "SETSLOT", slot}, st.args...)
		if err := st.cl.Do(ctx, args...).Err(); err != nil {
			tb.Fatalf("redistest: %v: %v", args, err)
		}
	}
	for n, cl := range clients {
		err := waitFor(10*time.Second, func(ctx context.Context) error {
			got, err := owner(ctx, cl)
			if err == nil && got != dst {
				err = fmt.Errorf("slot %d is still on %s", slot, got)
			}
			return err
		})
		if err != nil {
			tb.Fatalf("redistest: cluster node %s: %v", c.nodes[n].addr, err)
		}
	}
}
