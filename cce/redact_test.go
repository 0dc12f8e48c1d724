package cce_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/cce"
)

// TestErrorAnswersNeverCarryThePasswordHash: an error answer that echoes the
// login, in any of the forms a server could write it, comes back with the
// hash hidden, in the message and in a non-JSON excerpt, even where the
// message is cut short.
func TestErrorAnswersNeverCarryThePasswordHash(t *testing.T) {
	crypt := "$6$saltsalt$" + strings.Repeat("a/b.", 21) + "cd"
	hash := base64.StdEncoding.EncodeToString([]byte(crypt))
	escaped := strings.ReplaceAll(crypt, "/", `\/`)
	answers := map[string]string{
		"Base64InMessage":  `{"error_code":"CCE.01400001","error_msg":"bad login {\"password\":\"` + hash + `\"}"}`,
		"CryptInMessage":   `{"errorCode":"CCE.01400001","errorMessage":"bad hash ` + crypt + `"}`,
		"EscapedCrypt":     `{"errorCode":"CCE.01400001","errorMessage":"bad hash ` + escaped + `"}`,
		"NestedError":      `{"error":{"code":"APIG.0101","message":"` + hash + `"}}`,
		"NotJSON":          `<html>bad request ` + hash + `</html>`,
		"CutShort":         `{"error_code":"CCE.01400001","error_msg":"` + strings.Repeat("x", 1000) + hash + `"}`,
		"CryptAtTheCutOff": `{"error_code":"CCE.01400001","error_msg":"` + strings.Repeat("x", 1010) + crypt + `"}`,
	}
	login := cce.Login{UserPassword: &cce.UserPassword{Username: "root", Password: hash}}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			srv, _ := newRecorder(t, 400, answer)
			c := newClient(t, srv.URL, cce.TokenAuth{Token: "t"})
			_, err := c.RemoveNodes(t.Context(), "p", "c", login, []string{"n1"})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, secret := range []string{hash, hash[:16], crypt, crypt[len(crypt)-24:], "saltsalt"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("error holds the hash (%q): %s", secret, msg)
				}
			}
			if !strings.Contains(msg, "[hidden]") || cce.Classify(err) != cce.ClassPermanent {
				t.Errorf("error %q (%v), want the hash shown as [hidden] and a permanent 400", msg, cce.Classify(err))
			}
		})
	}
}
