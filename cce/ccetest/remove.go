package ccetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/noderemover/noderemover/cce"
)

// removeRequest is the RemoveNode body with pointers, so that absent and
// empty can be told apart.
type removeRequest struct {
	APIVersion *string         `json:"apiVersion"`
	Kind       *string         `json:"kind"`
	Spec       *removeSpec     `json:"spec"`
	Status     *cce.TaskStatus `json:"status"`
}

type removeSpec struct {
	Login *removeLogin   `json:"login"`
	Nodes []cce.NodeItem `json:"nodes"`
}

type removeLogin struct {
	SSHKey       *string `json:"sshKey"`
	UserPassword *struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	} `json:"userPassword"`
}

// removeNodes answers PUT .../nodes/operation/remove: validate the body,
// then the cluster, its lock and the nodes, then start the job.
func (f *Fake) removeNodes(r *http.Request, rt route, body []byte, now time.Time) answer {
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		return cceError(http.StatusBadRequest, "CCE.01400006", "%s", msg)
	}
	req, msg := decodeRemoval(body)
	if msg != "" {
		return cceError(http.StatusBadRequest, "CCE.01400001", "%s", msg)
	}
	c := f.clusterOf(rt.project, rt.cluster, false)
	if c == nil {
		return cceError(http.StatusNotFound, "CCE.01404001", "cluster %s not found", rt.cluster)
	}
	if p := c.phaseOf(); !p.Removable() {
		return cceError(http.StatusForbidden, "CCE.01403003",
			"cluster %s is %s: its status does not allow the operation", rt.cluster, p)
	}
	if c.lockJob != "" {
		return cceError(http.StatusTooManyRequests, "CCE.01429002",
			"cluster %s is locked by job %s, try again later", rt.cluster, c.lockJob)
	}
	uids := make([]string, len(req.Spec.Nodes))
	var missing []string
	for i, item := range req.Spec.Nodes {
		uids[i] = item.UID
		if f.nodeOf(rt.project, rt.cluster, c, item.UID) == nil {
			missing = append(missing, item.UID)
		}
	}
	if len(missing) > 0 {
		return cceError(http.StatusNotFound, "CCE.01404001", "node %s not found in cluster %s",
			strings.Join(missing, ", "), rt.cluster)
	}
	for _, uid := range uids {
		if p := c.nodes[uid].phase; !p.Removable() {
			return cceError(http.StatusBadRequest, "CCE.01400001",
				"node %s is %s and cannot be removed (it must be Active, Abnormal or Error)", uid, p)
		}
	}
	j := f.startJob(rt.project, rt.cluster, c, uids, now)
	return jsonAnswer(http.StatusOK, echoRemoval(req, j.id))
}

// checkContentType wants application/json, with at most a UTF-8 charset.
func checkContentType(ct string) string {
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/json" {
		return fmt.Sprintf("content type %q is not supported, use application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("charset %q is not supported, use utf-8", cs)
	}
	return ""
}

// decodeRemoval decodes and validates a body strictly; msg says what is
// wrong, naming the field.
func decodeRemoval(body []byte) (req removeRequest, msg string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return req, "the request body is empty"
		}
		return req, "invalid request body: " + err.Error()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, "invalid request body: data after the JSON object"
	}
	switch {
	case req.APIVersion != nil && *req.APIVersion != "v3":
		return req, fmt.Sprintf("apiVersion %q is invalid, it must be \"v3\"", *req.APIVersion)
	case req.Kind != nil && *req.Kind != "RemoveNodesTask":
		return req, fmt.Sprintf("kind %q is invalid, it must be \"RemoveNodesTask\"", *req.Kind)
	case req.Spec == nil:
		return req, "spec is required"
	}
	if msg := checkLogin(req.Spec.Login); msg != "" {
		return req, msg
	}
	nodes := req.Spec.Nodes
	if len(nodes) == 0 || len(nodes) > cce.MaxNodesPerRemoval {
		return req, fmt.Sprintf("spec.nodes must list 1 to %d nodes, not %d", cce.MaxNodesPerRemoval, len(nodes))
	}
	seen := map[string]bool{}
	for i, n := range nodes {
		if n.UID == "" {
			return req, fmt.Sprintf("spec.nodes[%d].uid is empty", i)
		}
		if seen[n.UID] {
			return req, fmt.Sprintf("node %s is listed twice in spec.nodes", n.UID)
		}
		seen[n.UID] = true
	}
	return req, ""
}

// checkLogin wants exactly one of sshKey and userPassword, with a hashed
// password.
func checkLogin(l *removeLogin) string {
	if l == nil {
		return "spec.login is required"
	}
	hasKey := l.SSHKey != nil && *l.SSHKey != ""
	switch {
	case hasKey && l.UserPassword != nil:
		return "spec.login must set only one of sshKey and userPassword"
	case !hasKey && l.UserPassword == nil:
		return "spec.login must set one of sshKey and userPassword"
	case hasKey:
		return ""
	case l.UserPassword.Password == nil || *l.UserPassword.Password == "":
		return "spec.login.userPassword.password is required"
	}
	if problem := checkHashedPassword(*l.UserPassword.Password); problem != "" {
		return "spec.login.userPassword.password must be base64 of a SHA-512 crypt string " +
			"($6$salt$hash), salted and hashed, never plain text: " + problem
	}
	return ""
}

var sha512Crypt = regexp.MustCompile(`^\$6\$(?:rounds=([0-9]{1,9})\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$`)

// checkHashedPassword says what is wrong with a password field, never
// repeating it.
func checkHashedPassword(password string) string {
	decoded, err := base64.StdEncoding.Strict().DecodeString(password)
	if err != nil {
		return "it is not base64"
	}
	m := sha512Crypt.FindStringSubmatch(string(decoded))
	if m == nil {
		return "it does not decode to a SHA-512 crypt string"
	}
	if m[1] != "" {
		if rounds, _ := strconv.Atoi(m[1]); rounds < 1000 {
			return "its rounds are below 1000"
		}
	}
	return ""
}

// echoAnswer is the 200 answer: the spec echoed with the password masked,
// as CCE shows it ("userPassword": {} or only the username), and the job id.
type echoAnswer struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Spec       echoSpec       `json:"spec"`
	Status     cce.TaskStatus `json:"status"`
}

type echoSpec struct {
	Login struct {
		SSHKey       string `json:"sshKey,omitempty"`
		UserPassword struct {
			Username string `json:"username,omitempty"`
		} `json:"userPassword"`
	} `json:"login"`
	Nodes []cce.NodeItem `json:"nodes"`
}

func echoRemoval(req removeRequest, jobID string) echoAnswer {
	a := echoAnswer{APIVersion: "v3", Kind: "RemoveNodesTask", Status: cce.TaskStatus{JobID: jobID}}
	if k := req.Spec.Login.SSHKey; k != nil {
		a.Spec.Login.SSHKey = *k
	}
	if up := req.Spec.Login.UserPassword; up != nil && up.Username != nil {
		a.Spec.Login.UserPassword.Username = *up.Username
	}
	a.Spec.Nodes = req.Spec.Nodes
	return a
}
