package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// RedisTarget is a parsed REDIS_URL.
type RedisTarget struct {
	// Mode is "single", "sentinel" or "cluster".
	Mode string
	// Addrs holds one address for single, the sentinels or the cluster seeds.
	Addrs    []string
	Username string
	Password Secret
	DB       int
	TLS      bool
	// MasterName is the sentinel master (redis-sentinel:// ?master=).
	MasterName string
	// SentinelPassword is ?sentinel_password= for sentinels that need one.
	SentinelPassword Secret
}

// String gives the target without its password, safe for logs.
func (t RedisTarget) String() string {
	scheme := map[string]string{"single": "redis", "sentinel": "redis-sentinel", "cluster": "redis-cluster"}[t.Mode]
	if t.TLS && t.Mode == "single" {
		scheme = "rediss"
	}
	s := scheme + "://" + strings.Join(t.Addrs, ",")
	if t.Mode != "cluster" {
		s += "/" + strconv.Itoa(t.DB)
	}
	if t.MasterName != "" {
		s += "?master=" + t.MasterName
	}
	return s
}

// ParseRedisURL reads the forms REDIS_URL accepts:
//
//	redis://[user[:password]@]host[:port][/db]
//	rediss://[user[:password]@]host[:port][/db]               (TLS)
//	redis-sentinel://[:password@]host:port[,host:port...][/db]?master=NAME[&sentinel_password=P]
//	redis-cluster://[user[:password]@]host:port[,host:port...]
func ParseRedisURL(raw string) (RedisTarget, error) {
	u, hosts, err := splitRedisURL(raw)
	if err != nil {
		return RedisTarget{}, err
	}
	t := RedisTarget{Username: u.User.Username()}
	if p, ok := u.User.Password(); ok {
		t.Password = Secret(p)
	}
	switch u.Scheme {
	case "redis", "rediss":
		t.Mode, t.TLS = "single", u.Scheme == "rediss"
	case "redis-sentinel":
		t.Mode = "sentinel"
	case "redis-cluster":
		t.Mode = "cluster"
	default:
		return RedisTarget{}, fmt.Errorf("scheme %q is not redis, rediss, redis-sentinel or redis-cluster", u.Scheme)
	}
	if hosts == "" {
		return RedisTarget{}, errors.New("no host")
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := hostPort(h)
		if err != nil {
			return RedisTarget{}, err
		}
		t.Addrs = append(t.Addrs, addr)
	}
	if t.Mode == "single" && len(t.Addrs) != 1 {
		return RedisTarget{}, errors.New("redis:// takes one host; use redis-sentinel:// or redis-cluster:// for several")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if t.Mode == "cluster" {
			return RedisTarget{}, errors.New("a Redis Cluster has only database 0; drop the path")
		}
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || n > 15 {
			return RedisTarget{}, fmt.Errorf("database %q is not a number from 0 to 15", db)
		}
		t.DB = n
	}
	q := u.Query()
	for k := range q {
		switch {
		case k == "master" && t.Mode == "sentinel", k == "sentinel_password" && t.Mode == "sentinel":
		default:
			return RedisTarget{}, fmt.Errorf("unknown query parameter %q", k)
		}
	}
	if t.Mode == "sentinel" {
		t.MasterName = q.Get("master")
		t.SentinelPassword = Secret(q.Get("sentinel_password"))
		if t.MasterName == "" {
			return RedisTarget{}, errors.New("redis-sentinel:// needs ?master=NAME")
		}
	}
	return t, nil
}

// splitRedisURL parses raw with its host list set aside: net/url rejects a
// comma-separated list of host:port pairs.
func splitRedisURL(raw string) (*url.URL, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", errors.New("not a URL (want scheme://host:port)")
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "host" + tail)
	if err != nil {
		// url.Error repeats the URL, password included: say less.
		return nil, "", errors.New("not a URL")
	}
	return u, hosts, nil
}

func hostPort(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port given.
		host, port = strings.Trim(h, "[]"), "6379"
	}
	if host == "" {
		return "", fmt.Errorf("host missing in %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return net.JoinHostPort(host, port), nil
}
