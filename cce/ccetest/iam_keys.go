package ccetest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// temporaryKey is an access key pair IAM handed out for a while, with the
// security token that must come with it.
type temporaryKey struct {
	secret, securityToken string
	expires               time.Time
}

// Temporary access keys last between these, as IAM's securitytokens
// document; the default is the least.
const (
	minKeySeconds     = 900
	maxKeySeconds     = 86400
	defaultKeySeconds = minKeySeconds
)

// IssueIDToken makes an identity token of the IdP, as Kubernetes does for a
// Pod's projected service-account token: the IAM exchanges it until ttl
// has passed. The test writes it where the worker reads it.
func (i *IAM) IssueIDToken(ttl time.Duration) string {
	tok := "eyJ" + randomHex(24)
	i.mu.Lock()
	i.idTokens[tok] = i.opts.Now().Add(ttl)
	i.mu.Unlock()
	return tok
}

// KeysIssued is how many temporary access keys the IAM handed out (through
// securitytokens or the metadata service).
func (i *IAM) KeysIssued() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keysOut
}

// issueKey hands out a temporary access key lasting d (capped by KeyTTL).
func (i *IAM) issueKey(d time.Duration) (ak string, k temporaryKey) {
	if i.opts.KeyTTL > 0 {
		d = min(d, i.opts.KeyTTL)
	}
	ak = "TMP" + strings.ToUpper(randomHex(8))
	k = temporaryKey{secret: randomHex(20), securityToken: "gQ" + randomHex(48), expires: i.opts.Now().UTC().Add(d)}
	i.mu.Lock()
	i.keys[ak] = k
	i.keysOut++
	i.mu.Unlock()
	return ak, k
}

// temporaryKey is the key the IAM handed out as ak, if it did.
func (i *IAM) temporaryKey(ak string) (temporaryKey, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	k, ok := i.keys[ak]
	return k, ok
}

// credentialBody is the credential of a temporary key, as both IAM and the
// metadata service write it.
func credentialBody(ak string, k temporaryKey) map[string]any {
	return map[string]any{"credential": map[string]any{
		"access": ak, "secret": k.secret, "securitytoken": k.securityToken, "expires_at": k.expires.Format(iamTime),
	}}
}

// exchangeIDToken is POST /v3.0/OS-AUTH/id-token/tokens: an identity token
// of the IdP named in X-Idp-Id, for a token scoped to the project asked.
func (i *IAM) exchangeIDToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			IDToken *struct {
				ID string `json:"id"`
			} `json:"id_token"`
			Scope *struct {
				Project *struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	if !decodeStrict(w, r, &req) {
		return
	}
	idp := r.Header.Get("X-Idp-Id")
	switch {
	case i.opts.IdPID == "":
		iamError(w, http.StatusNotFound, "Not Found", "no identity provider is configured")
		return
	case idp == "":
		iamError(w, http.StatusBadRequest, "Bad Request", "the X-Idp-Id header is required")
		return
	case idp != i.opts.IdPID:
		iamError(w, http.StatusNotFound, "Not Found", "the identity provider "+idp+" does not exist")
		return
	case req.Auth.IDToken == nil || req.Auth.IDToken.ID == "":
		iamError(w, http.StatusBadRequest, "Bad Request", "auth.id_token.id is required")
		return
	case req.Auth.Scope == nil || req.Auth.Scope.Project == nil || req.Auth.Scope.Project.ID == "":
		iamError(w, http.StatusBadRequest, "Bad Request", "scope.project.id is required")
		return
	}
	i.mu.Lock()
	until, known := i.idTokens[req.Auth.IDToken.ID]
	i.mu.Unlock()
	switch {
	case !known:
		iamError(w, http.StatusUnauthorized, "Unauthorized", "the id_token was not issued by the identity provider")
		return
	case !i.opts.Now().Before(until):
		iamError(w, http.StatusUnauthorized, "Unauthorized", "the id_token has expired")
		return
	}
	i.answerToken(w, "mapped", req.Auth.Scope.Project.ID, "", map[string]any{"name": "federated", "OS-FEDERATION": map[string]any{"identity_provider": map[string]any{"id": idp}}})
}

// issueSecurityToken is POST /v3.0/OS-CREDENTIAL/securitytokens with the
// token method: a valid X-Auth-Token for a temporary access key.
func (i *IAM) issueSecurityToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Methods []string `json:"methods"`
				Token   *struct {
					ID              string `json:"id,omitempty"`
					DurationSeconds int    `json:"duration_seconds,omitempty"`
				} `json:"token"`
			} `json:"identity"`
		} `json:"auth"`
	}
	if !decodeStrict(w, r, &req) {
		return
	}
	id := req.Auth.Identity
	if len(id.Methods) != 1 || id.Methods[0] != "token" {
		iamError(w, http.StatusBadRequest, "Bad Request", `identity.methods must be ["token"]`)
		return
	}
	seconds := defaultKeySeconds
	if id.Token != nil && id.Token.DurationSeconds != 0 {
		seconds = id.Token.DurationSeconds
	}
	if seconds < minKeySeconds || seconds > maxKeySeconds {
		iamError(w, http.StatusBadRequest, "Bad Request", "token.duration_seconds must be between 900 and 86400")
		return
	}
	token := r.Header.Get("X-Auth-Token")
	if id.Token != nil && id.Token.ID != "" {
		token = id.Token.ID
	}
	if !i.knownToken(token) {
		iamError(w, http.StatusUnauthorized, "Unauthorized", "the token is not valid")
		return
	}
	ak, k := i.issueKey(time.Duration(seconds) * time.Second)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(credentialBody(ak, k))
}

// knownToken reports whether token was issued here and has not expired.
func (i *IAM) knownToken(token string) bool {
	if token == "" {
		return false
	}
	now := i.opts.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	for t, v := range i.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return now.Before(v.expires)
		}
	}
	return false
}

// decodeStrict reads a JSON body into v, refusing unknown fields, and
// answers 400 when it cannot.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		iamError(w, http.StatusBadRequest, "Bad Request", "the body could not be read")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		iamError(w, http.StatusBadRequest, "Bad Request", "the request body is not valid: "+err.Error())
		return false
	}
	return true
}
