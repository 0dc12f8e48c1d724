package cce

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// hidden stands in for login material in an error answer.
var hidden = []byte("[hidden]")

// loginSecrets is what of a login must never come back in an error: the
// password hash as sent (base64) and the crypt string inside it, each also
// as a JSON encoder that escapes "/" writes it. CCE's messages reach logs,
// records and the dashboard's last error, and an error answer that echoed
// the request's spec would otherwise carry the hash there.
func loginSecrets(login Login) [][]byte {
	if login.UserPassword == nil || login.UserPassword.Password == "" {
		return nil
	}
	forms := []string{login.UserPassword.Password}
	if raw, err := base64.StdEncoding.DecodeString(login.UserPassword.Password); err == nil && len(raw) > 0 {
		forms = append(forms, string(raw))
	}
	var out [][]byte
	for _, f := range forms {
		out = append(out, []byte(f))
		if escaped := bytes.ReplaceAll([]byte(f), []byte("/"), []byte(`\/`)); !bytes.Equal(escaped, []byte(f)) {
			out = append(out, escaped)
		}
	}
	return out
}

// hideSecrets replaces each secret in an error answer's body before it is
// parsed, so that no excerpt or message of it holds one, even cut short.
func hideSecrets(body []byte, secrets [][]byte) []byte {
	for _, s := range secrets {
		body = bytes.ReplaceAll(body, s, hidden)
	}
	return body
}

// keyMarkers betray private key material: a PEM block, a kubeconfig's key
// field, and "-----BEGIN" in base64 (as client-key-data holds it).
var keyMarkers = []string{"PRIVATE KEY", "client-key-data", "LS0tLS1CRUdJTi"}

// hideKeyMaterial drops the message of an error answer that carries key
// material, as an answer echoing a kubeconfig would (ClusterCert's secrets
// are not known before the answer, so they cannot be replaced one by one).
// The status and code, which decide the class, stay.
func hideKeyMaterial(e *Error) *Error {
	for _, m := range keyMarkers {
		if strings.Contains(e.Message, m) || strings.Contains(e.Code, m) {
			e.Message = "[hidden: the answer carried key material]"
			if strings.Contains(e.Code, m) {
				e.Code = ""
			}
			return e
		}
	}
	return e
}
