package cce_test

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/noderemover/noderemover/cce"
)

func FuzzParseErrorBody(f *testing.F) {
	f.Add(404, "", "req-1", []byte(`{"errorCode":"CCE.01404001","errorMessage":"node x not found"}`))
	f.Add(429, "56.818", "", []byte(`{"error_code":"APIG.0308","error_msg":"throttled"}`))
	f.Add(403, "", "", []byte(`{"error":{"code":"CCE.01403001","message":"forbidden"}}`))
	f.Add(502, "Wed, 21 Oct 2015 07:28:00 GMT", "r", []byte("<html><title>502 Bad Gateway</title></html>"))
	f.Add(500, "x", "", []byte{0xff, '\n', 0})
	f.Fuzz(func(t *testing.T, status int, retryAfter, requestID string, body []byte) {
		h := http.Header{"Retry-After": {retryAfter}, "X-Request-Id": {requestID}}
		e := cce.ParseErrorBody("ShowJob", status, h, body, testNow)
		if e == nil || e.StatusCode != status || e.Op != "ShowJob" {
			t.Fatalf("ParseErrorBody lost the status: %+v", e)
		}
		if e.RetryAfter < 0 || e.RetryAfter > time.Hour {
			t.Errorf("RetryAfter = %v", e.RetryAfter)
		}
		for name, s := range map[string]string{"Code": e.Code, "Message": e.Message, "RequestID": e.RequestID} {
			if strings.ContainsAny(s, "\r\n") || !utf8.ValidString(s) || len(s) > 1024 {
				t.Errorf("%s is not one short valid line: %q", name, s)
			}
		}
		if !json.Valid(body) && len(e.Message) > 200 {
			t.Errorf("excerpt of a non-JSON body is %d bytes", len(e.Message))
		}
		_ = e.Error()
		_ = e.Class()
	})
}

// walkJob visits a job and its sub-jobs, as a poller does.
func walkJob(j *cce.Job) int {
	n := 1
	_ = j.Status.Phase.Final()
	for i := range j.Spec.SubJobs {
		n += walkJob(&j.Spec.SubJobs[i])
	}
	return n
}

func FuzzJobDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"Job","apiVersion":"v3","metadata":{"uid":"j","creationTimestamp":"2020-02-02 08:12:40.672772389 +0000 UTC"},` +
		`"spec":{"type":"RemoveNodes","clusterUID":"c","resourceID":"c","subJobs":[{"metadata":{"uid":"s"},` +
		`"spec":{"type":"DeleteNode","resourceID":"n1"},"status":{"phase":"Failed","reason":"x"}}]},"status":{"phase":"Running"}}`))
	f.Add([]byte(`{"spec":{"subJobs":[{"spec":{"subJobs":[{}]}}]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"status":{"phase":7}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var j cce.Job
		if json.Unmarshal(data, &j) != nil {
			return
		}
		walkJob(&j)
		again, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("a decoded job does not encode: %v", err)
		}
		var j2 cce.Job
		if err := json.Unmarshal(again, &j2); err != nil || walkJob(&j2) != walkJob(&j) {
			t.Fatalf("re-decoding the job changed it: %v", err)
		}
	})
}

func FuzzNodeDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"Node","apiVersion":"v3","metadata":{"uid":"n1","name":"node-1"},` +
		`"status":{"phase":"Deleting","jobID":"j","serverId":"s"}}`))
	f.Add([]byte(`{"status":{"phase":"Active"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n cce.Node
		if json.Unmarshal(data, &n) != nil {
			return
		}
		_ = n.Status.Phase.Removable()
		if _, err := json.Marshal(n); err != nil {
			t.Fatalf("a decoded node does not encode: %v", err)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, seed := range []string{"5", "56.818", "0", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "1e9", "3600.000000001"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := cce.ParseRetryAfter(v, testNow)
		if d < 0 || d > time.Hour || (!ok && d != 0) {
			t.Errorf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

func FuzzSignature(f *testing.F) {
	f.Add("GET", "/path", "limit=1", []byte(nil))
	f.Add("PUT", "/api/v3/projects/p/clusters/c/nodes/operation/remove", "", []byte(`{"spec":{}}`))
	f.Add("POST", "/a b/%2F/ü", "b=2&a=1&a=0&c", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		u := &url.URL{Scheme: "https", Host: "example.huaweicloud.com", Path: path, RawQuery: query}
		r := &http.Request{Method: method, URL: u, Host: u.Host, Header: http.Header{}}
		r.Header.Set("X-Sdk-Date", "20060102T150405Z")
		signed := []string{"host", "x-sdk-date"}
		first, err1 := cce.Signature("SK", r, body, signed)
		second, err2 := cce.Signature("SK", r, body, signed)
		if first != second || (err1 == nil) != (err2 == nil) {
			t.Fatalf("Signature is not deterministic: %q %v, %q %v", first, err1, second, err2)
		}
		if err1 != nil {
			return
		}
		if raw, err := hex.DecodeString(first); err != nil || len(raw) != 32 || strings.ToLower(first) != first {
			t.Fatalf("signature %q is not 64 lower-case hex digits", first)
		}
		s := &cce.Signer{AK: "AK", SK: "SK", Now: func() time.Time { return testNow }}
		if err := s.Authenticate(r, body); err != nil {
			t.Fatal(err)
		}
		ak, names, sig, err := cce.ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil || ak != "AK" {
			t.Fatalf("ParseAuthorization: %q, %v", ak, err)
		}
		if want, err := cce.Signature("SK", r, body, names); err != nil || want != sig {
			t.Fatalf("signed request does not verify: %v", err)
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=abc")
	f.Add("SDK-HMAC-SHA256 Signature=abc,SignedHeaders=x-sdk-date,Access=AK")
	f.Add("SDK-HMAC-SHA256 Access=AK, Access=AK")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		ak, signed, sig, err := cce.ParseAuthorization(h)
		if err != nil {
			return
		}
		if ak == "" || sig == "" || len(signed) == 0 || slices.Contains(signed, "") {
			t.Fatalf("accepted %q with empty parts: %q %q %q", h, ak, signed, sig)
		}
		again := "SDK-HMAC-SHA256 Access=" + ak + ", SignedHeaders=" + strings.Join(signed, ";") + ", Signature=" + sig
		ak2, signed2, sig2, err := cce.ParseAuthorization(again)
		if err != nil || ak2 != ak || sig2 != sig || !slices.Equal(signed, signed2) {
			t.Fatalf("round trip of %q changed it: %q %q %q %v", h, ak2, signed2, sig2, err)
		}
	})
}
