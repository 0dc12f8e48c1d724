package cce

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultMetadataEndpoint is the ECS metadata service's address.
const DefaultMetadataEndpoint = "http://169.254.169.254"

// ECSMetadata is the KeySource of a server bound to an agency: the ECS
// metadata service's temporary access key (GET
// /openstack/latest/securitykey), after the token step (PUT
// /meta-data/latest/api/token) that servers may require; a service that
// has no token step (404, 405) is asked without. The key is the agency's,
// the same for every project.
type ECSMetadata struct {
	// Endpoint is the service's base URL; "" is DefaultMetadataEndpoint.
	Endpoint string
	// HTTP is the client; nil is one with a 10 s timeout.
	HTTP *http.Client
}

// metadataTokenTTL is the life asked of a metadata session token: one is
// asked for each key, so a short one does.
const metadataTokenTTL = "300"

// Key asks the metadata service for the agency's temporary key.
func (m ECSMetadata) Key(ctx context.Context, _ string) (Credential, error) {
	base := strings.TrimRight(m.Endpoint, "/")
	if base == "" {
		base = DefaultMetadataEndpoint
	}
	hc := m.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	session := ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/meta-data/latest/api/token", nil)
	if err != nil {
		return Credential{}, err
	}
	req.Header.Set("X-Metadata-Token-Ttl-Seconds", metadataTokenTTL)
	a, err := send(hc, req)
	switch {
	case err != nil:
		return Credential{}, fmt.Errorf("ECS metadata at %s: %w", base, err)
	case a.code == http.StatusOK:
		session = strings.TrimSpace(string(a.body))
	case a.code != http.StatusNotFound && a.code != http.StatusMethodNotAllowed:
		return Credential{}, errSourceAnswer("ECS metadata token", a.code, a.body)
	}

	req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/openstack/latest/securitykey", nil)
	if err != nil {
		return Credential{}, err
	}
	if session != "" {
		req.Header.Set("X-Metadata-Token", session)
	}
	a, err = send(hc, req)
	switch {
	case err != nil:
		return Credential{}, fmt.Errorf("ECS metadata at %s: %w", base, err)
	case a.code != http.StatusOK:
		return Credential{}, errSourceAnswer("ECS metadata securitykey (is an agency bound to this server?)", a.code, a.body)
	}
	return parseCredential(a.body)
}

// answer is what a credential service answered: status, headers and at
// most 1 MiB of the body.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

// send does req and reads its answer.
func send(hc *http.Client, req *http.Request) (answer, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return answer{resp.StatusCode, resp.Header, raw}, err
}
