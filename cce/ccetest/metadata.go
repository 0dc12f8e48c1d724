package ccetest

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Metadata is a fake of the ECS metadata service of a server bound to an
// agency: PUT /meta-data/latest/api/token (header
// X-Metadata-Token-Ttl-Seconds, 1 to 21600) hands out a session token, and
// GET /openstack/latest/securitykey answers the agency's temporary access
// key, issued by the IAM (so a Fake given that IAM accepts it until it
// expires). Like a server that requires the token step, securitykey
// without a valid X-Metadata-Token is 401.
type Metadata struct {
	*httptest.Server
	iam      *IAM
	keyTTL   time.Duration
	mu       sync.Mutex
	sessions map[string]time.Time
}

// MetadataOptions configure a Metadata.
type MetadataOptions struct {
	// IAM issues the temporary keys; required.
	IAM *IAM
	// KeyTTL is how long a key lasts (default 24 hours; the IAM's KeyTTL
	// caps it).
	KeyTTL time.Duration
}

// NewMetadata starts a fake metadata service; Close it when done.
func NewMetadata(o MetadataOptions) *Metadata {
	if o.KeyTTL <= 0 {
		o.KeyTTL = 24 * time.Hour
	}
	m := &Metadata{iam: o.IAM, keyTTL: o.KeyTTL, sessions: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /meta-data/latest/api/token", m.session)
	mux.HandleFunc("GET /openstack/latest/securitykey", m.securityKey)
	m.Server = httptest.NewServer(mux)
	return m
}

func (m *Metadata) session(w http.ResponseWriter, r *http.Request) {
	ttl, err := strconv.Atoi(r.Header.Get("X-Metadata-Token-Ttl-Seconds"))
	if err != nil || ttl < 1 || ttl > 21600 {
		http.Error(w, "X-Metadata-Token-Ttl-Seconds must be 1 to 21600", http.StatusBadRequest)
		return
	}
	tok := randomHex(24)
	m.mu.Lock()
	m.sessions[tok] = m.iam.opts.Now().Add(time.Duration(ttl) * time.Second)
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(tok))
}

func (m *Metadata) validSession(tok string) bool {
	now := m.iam.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, until := range m.sessions {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			return now.Before(until)
		}
	}
	return false
}

func (m *Metadata) securityKey(w http.ResponseWriter, r *http.Request) {
	if !m.validSession(r.Header.Get("X-Metadata-Token")) {
		http.Error(w, "a valid X-Metadata-Token is required", http.StatusUnauthorized)
		return
	}
	ak, k := m.iam.issueKey(m.keyTTL)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(credentialBody(ak, k))
}
