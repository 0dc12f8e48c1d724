package cce

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// WorkloadIdentity is the KeySource of a Pod with workload identity: the
// Pod's projected service-account token (TokenFile, read again as the
// kubelet rotates it) is exchanged at IAM for a token of the project (POST
// /v3.0/OS-AUTH/id-token/tokens with X-Idp-Id), and that token for a
// temporary access key (POST /v3.0/OS-CREDENTIAL/securitytokens).
type WorkloadIdentity struct {
	// IAMEndpoint is IAM's base URL.
	IAMEndpoint string
	// IdPID is the identity provider configured in IAM for the cluster
	// (HUAWEICLOUD_SDK_IDP_ID).
	IdPID string
	// TokenFile is the projected token (HUAWEICLOUD_SDK_ID_TOKEN_FILE).
	TokenFile string
	// Duration is the life asked of a key; 0 is 1 hour (IAM allows 15
	// minutes to 24 hours).
	Duration time.Duration
	// HTTP is the client for IAM; nil is one with a 30 s timeout.
	HTTP *http.Client

	once sync.Once
	file *watchedFile
}

// Key exchanges the Pod's identity token for a temporary key.
func (w *WorkloadIdentity) Key(ctx context.Context, project string) (Credential, error) {
	w.once.Do(func() { w.file = &watchedFile{path: w.TokenFile, what: "HUAWEICLOUD_SDK_ID_TOKEN_FILE"} })
	idToken, err := w.file.read(false)
	if err != nil {
		return Credential{}, err
	}
	hc := w.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	base := strings.TrimRight(w.IAMEndpoint, "/")

	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"id_token": map[string]any{"id": idToken},
		"scope":    map[string]any{"project": map[string]any{"id": project}},
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3.0/OS-AUTH/id-token/tokens", bytes.NewReader(body))
	if err != nil {
		return Credential{}, err
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	req.Header.Set("X-Idp-Id", w.IdPID)
	a, err := send(hc, req)
	if err != nil {
		return Credential{}, fmt.Errorf("IAM at %s: %w", base, err)
	}
	if a.code != http.StatusCreated && a.code != http.StatusOK {
		// Perhaps the kubelet has just rotated it: read it again next time.
		_, _ = w.file.read(true)
		return Credential{}, errSourceAnswer("IAM refused the identity token of identity provider "+w.IdPID+" for project "+project, a.code, a.body)
	}
	token := a.header.Get("X-Subject-Token")
	if token == "" {
		return Credential{}, fmt.Errorf("%w: IAM answered no X-Subject-Token", ErrBadAnswer)
	}

	seconds := int(cmp.Or(w.Duration, time.Hour) / time.Second)
	body, _ = json.Marshal(map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"token"}, "token": map[string]any{"duration_seconds": seconds},
	}}})
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3.0/OS-CREDENTIAL/securitytokens", bytes.NewReader(body))
	if err != nil {
		return Credential{}, err
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	req.Header.Set("X-Auth-Token", token)
	a, err = send(hc, req)
	switch {
	case err != nil:
		return Credential{}, fmt.Errorf("IAM at %s: %w", base, err)
	case a.code != http.StatusCreated && a.code != http.StatusOK:
		return Credential{}, errSourceAnswer("IAM refused a temporary access key", a.code, a.body)
	}
	return parseCredential(a.body)
}
