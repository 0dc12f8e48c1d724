package ccetest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"

	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// IAM is a fake of Huawei Cloud IAM's token service, as strict as the fake
// CCE: POST /v3/auth/tokens with the password method and a project scope
// issues a token in the X-Subject-Token header, with token.expires_at in
// the body, that lasts TokenTTL. A Fake given the IAM (Options.IAM)
// accepts the tokens it issued for the project they are scoped to, until
// they expire, and answers 401 after.
type IAM struct {
	*httptest.Server
	opts     IAMOptions
	mu       sync.Mutex
	tokens   map[string]iamToken
	issued   int
	keys     map[string]temporaryKey // by access key id
	idTokens map[string]time.Time    // identity tokens the IdP issued, by token, until when
	keysOut  int
}

// IAMOptions configure an IAM.
type IAMOptions struct {
	// Domain is the account (domain) name users log in to.
	Domain string
	// Users are the IAM users and their passwords.
	Users map[string]string
	// TokenTTL is how long a token lasts; default 24 hours, as IAM's do.
	TokenTTL time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// IdPID is the identity provider whose identity tokens are exchanged
	// at POST /v3.0/OS-AUTH/id-token/tokens (workload identity); "" turns
	// that off. The tokens are those IssueIDToken made.
	IdPID string
	// KeyTTL caps how long temporary access keys last (securitytokens and
	// the metadata service); 0 leaves the duration asked (default 15 min).
	KeyTTL time.Duration
}

type iamToken struct {
	project string
	expires time.Time
}

// NewIAM starts a fake IAM; Close it when done.
func NewIAM(o IAMOptions) *IAM {
	if o.TokenTTL <= 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	i := &IAM{opts: o, tokens: map[string]iamToken{}, keys: map[string]temporaryKey{}, idTokens: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", i.issue)
	mux.HandleFunc("POST /v3.0/OS-AUTH/id-token/tokens", i.exchangeIDToken)
	mux.HandleFunc("POST /v3.0/OS-CREDENTIAL/securitytokens", i.issueSecurityToken)
	i.Server = httptest.NewServer(mux)
	return i
}

// Issued is how many tokens the IAM issued.
func (i *IAM) Issued() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.issued
}

// valid reports whether token was issued for project and has not expired
// at now.
func (i *IAM) valid(token, project string, now time.Time) (ok bool, expired bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for t, v := range i.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			if !now.Before(v.expires) {
				return false, true
			}
			return v.project == project, false
		}
	}
	return false, false
}

// tokenRequest is the body of POST /v3/auth/tokens, password method.
type tokenRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User struct {
					Name     string `json:"name"`
					Password string `json:"password"`
					Domain   struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"user"`
			} `json:"password"`
		} `json:"identity"`
		Scope *struct {
			Project *struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

func iamError(w http.ResponseWriter, code int, title, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "title": title, "message": message}})
}

func (i *IAM) issue(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		iamError(w, http.StatusBadRequest, "Bad Request", "the body could not be read")
		return
	}
	var req tokenRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		iamError(w, http.StatusBadRequest, "Bad Request", "the request body is not a token request: "+err.Error())
		return
	}
	id := req.Auth.Identity
	switch {
	case len(id.Methods) != 1 || id.Methods[0] != "password" || id.Password == nil:
		iamError(w, http.StatusBadRequest, "Bad Request", `identity.methods must be ["password"] with identity.password`)
		return
	case req.Auth.Scope == nil || req.Auth.Scope.Project == nil || req.Auth.Scope.Project.ID == "" && req.Auth.Scope.Project.Name == "":
		iamError(w, http.StatusBadRequest, "Bad Request", "scope.project (id or name) is required: CCE takes project-scoped tokens")
		return
	}
	u := id.Password.User
	want, known := i.opts.Users[u.Name]
	if !known || u.Domain.Name != i.opts.Domain || subtle.ConstantTimeCompare([]byte(want), []byte(u.Password)) != 1 {
		iamError(w, http.StatusUnauthorized, "Unauthorized", "The username or password is wrong.")
		return
	}
	project := req.Auth.Scope.Project.ID
	if project == "" {
		project = req.Auth.Scope.Project.Name // a region's project, by its name
	}
	i.answerToken(w, "password", project, req.Auth.Scope.Project.Name, map[string]any{"name": u.Name, "domain": map[string]any{"name": u.Domain.Name}})
}

// answerToken issues a token scoped to project and answers with it as
// IAM does: 201, X-Subject-Token, and the token's body.
func (i *IAM) answerToken(w http.ResponseWriter, method, project, projectName string, user map[string]any) {
	token := "MII" + randomHex(32)
	now := i.opts.Now().UTC()
	expires := now.Add(i.opts.TokenTTL)
	i.mu.Lock()
	i.tokens[token] = iamToken{project: project, expires: expires}
	i.issued++
	i.mu.Unlock()
	w.Header().Set("X-Subject-Token", token)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
		"methods":    []string{method},
		"expires_at": expires.Format(iamTime),
		"issued_at":  now.Format(iamTime),
		"project":    map[string]any{"id": project, "name": projectName},
		"user":       user,
	}})
}

// iamTime is how IAM writes times.
const iamTime = "2006-01-02T15:04:05.000000Z"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
