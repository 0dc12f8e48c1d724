package removal

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Callback is where a request's events are POSTed (a webhook).
type Callback struct {
	URL string `json:"url"`
	// Events is CallbackFinal (the final event only, the default) or
	// CallbackAll (every event of the request).
	Events string `json:"events,omitempty"`
}

// What a callback is sent.
const (
	CallbackFinal = "final"
	CallbackAll   = "all"
)

func (c *Callback) hookFor(e *CloudEvent) string {
	if c == nil || c.URL == "" {
		return ""
	}
	if c.Events == CallbackAll || e.Final() {
		return c.URL
	}
	return ""
}

func (c *Callback) key() string {
	if c == nil {
		return ""
	}
	return c.URL + " " + c.Events
}

func (c *Callback) clone() *Callback {
	if c == nil {
		return nil
	}
	d := *c
	return &d
}

// Validate checks the callback's form: an absolute http or https URL with a
// host and no user or password in it, and a known Events. Which hosts may be
// called is the enqueuer's to check (WEBHOOK_ALLOWED_HOSTS).
func (c *Callback) Validate() error {
	if c == nil {
		return nil
	}
	u, err := ParseCallbackURL(c.URL)
	if err != nil {
		return invalid("callback_url", "%v", err)
	}
	c.URL = u
	switch c.Events {
	case "":
		c.Events = CallbackFinal
	case CallbackFinal, CallbackAll:
	default:
		return invalid("callback_events", "%q must be %q or %q", c.Events, CallbackFinal, CallbackAll)
	}
	return nil
}

// ParseCallbackURL checks a callback URL's form and returns it as it will be
// called.
func ParseCallbackURL(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("is empty")
	}
	if len(raw) > 2048 {
		return "", fmt.Errorf("is %d bytes long; at most 2048", len(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", SafeFieldName(raw))
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("%q must be an http or https URL", SafeFieldName(raw))
	case u.Hostname() == "":
		return "", fmt.Errorf("%q names no host", SafeFieldName(raw))
	case u.User != nil:
		return "", fmt.Errorf("must not carry a user or password (the request would store it); the body is signed instead")
	case u.Fragment != "":
		return "", fmt.Errorf("must not have a fragment")
	}
	return u.String(), nil
}

// AllowedHosts is the list of hosts callbacks may go to
// (WEBHOOK_ALLOWED_HOSTS): "host", "host:port" or "*.domain" (any host under
// the domain). Empty allows none: webhooks are off.
type AllowedHosts []string

// ParseAllowedHosts reads a comma-separated list of hosts.
func ParseAllowedHosts(s string) (AllowedHosts, error) {
	var out AllowedHosts
	for _, h := range strings.Split(s, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		name := strings.TrimPrefix(h, "*.")
		if host, port, err := net.SplitHostPort(name); err == nil {
			if port == "" || strings.Trim(port, "0123456789") != "" {
				return nil, fmt.Errorf("%q: the port is not a number", h)
			}
			name = host
		}
		if name == "" || strings.ContainsAny(name, "/*@?# ") {
			return nil, fmt.Errorf("%q is not a host, host:port or *.domain", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// Allow says whether a callback to rawURL may be made, and if not why.
func (a AllowedHosts) Allow(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("callback_url is not a URL")
	}
	if len(a) == 0 {
		return fmt.Errorf("callbacks are off: WEBHOOK_ALLOWED_HOSTS names no host")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, h := range a {
		name, wantPort := h, ""
		if hh, p, err := net.SplitHostPort(h); err == nil {
			name, wantPort = hh, p
		}
		if wantPort != "" && wantPort != port {
			continue
		}
		if d, ok := strings.CutPrefix(name, "*."); ok {
			if strings.HasSuffix(host, "."+d) {
				return nil
			}
			continue
		}
		if host == name {
			return nil
		}
	}
	return fmt.Errorf("host %q is not in WEBHOOK_ALLOWED_HOSTS", SafeFieldName(u.Host))
}
