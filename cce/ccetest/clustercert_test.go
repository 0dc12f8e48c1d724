package ccetest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// certPath is the clustercert path of a cluster of the test project.
func certPath(clusterID string) string {
	return "/api/v3/projects/" + project + "/clusters/" + clusterID + "/clustercert"
}

// newCertServer starts a fake on clock with an issuer for the test
// cluster that answers a kubeconfig naming the end it was given.
func newCertServer(t *testing.T, clock *testkit.Clock) *ccetest.Server {
	t.Helper()
	srv := newServer(t, ccetest.Options{Now: clock.Now})
	srv.SetClusterCert(project, cluster, func(notAfter time.Time) ([]byte, error) {
		return []byte(`{"kind":"Config","notAfter":"` + notAfter.UTC().Format(time.RFC3339) + `"}`), nil
	})
	return srv
}

func TestClusterCertValidation(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	srv := newCertServer(t, clock)
	at := func(d time.Duration) string { return clock.Now().Add(d).UTC().Format(time.RFC3339) }
	const json = "application/json"
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
		wants                   []string
	}{
		{"BadContentType", "text/plain", `{"duration":1}`, 400, "CCE.01400006", []string{"text/plain"}},
		{"EmptyBody", json, "", 400, "CCE.01400001", []string{"empty"}},
		{"NotJSON", json, "{", 400, "CCE.01400001", nil},
		{"TrailingData", json, `{"duration":1}{}`, 400, "CCE.01400001", []string{"after"}},
		{"UnknownField", json, `{"duration":1,"days":1}`, 400, "CCE.01400001", []string{"days"}},
		{"Neither", json, `{}`, 400, "CCE.01400001", []string{"one of"}},
		{"Both", json, `{"duration":1,"expire_at":"` + at(time.Hour) + `"}`, 400, "CCE.01400001", []string{"only one"}},
		{"DurationZero", json, `{"duration":0}`, 400, "CCE.01400001", []string{"duration 0"}},
		{"DurationMinusTwo", json, `{"duration":-2}`, 400, "CCE.01400001", []string{"duration -2"}},
		{"DurationTooLong", json, `{"duration":1828}`, 400, "CCE.01400001", []string{"1827"}},
		{"DurationFraction", json, `{"duration":1.5}`, 400, "CCE.01400001", nil},
		{"DurationString", json, `{"duration":"1"}`, 400, "CCE.01400001", nil},
		{"ExpireAtNotRFC3339", json, `{"expire_at":"tomorrow"}`, 400, "CCE.01400001", []string{"RFC 3339"}},
		{"ExpireAtTooSoon", json, `{"expire_at":"` + at(10*time.Minute) + `"}`, 400, "CCE.01400001", []string{"15 minutes"}},
		{"ExpireAtPast", json, `{"expire_at":"` + at(-time.Hour) + `"}`, 400, "CCE.01400001", []string{"15 minutes"}},
		{"ExpireAtTooFar", json, `{"expire_at":"` + at(6*365*24*time.Hour) + `"}`, 400, "CCE.01400001", []string{"5 years"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, srv, http.MethodPost, certPath(cluster), tc.contentType, tc.body)
			expectAnswer(t, r, tc.status, tc.code, tc.wants...)
		})
	}
	if r := send(t, srv, http.MethodGet, certPath(cluster), "", ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	if n := srv.Calls(ccetest.OpClusterCert); n != len(tests) { // a wrong method is no route, counted under OpAny only
		t.Errorf("Calls(OpClusterCert) = %d, want %d", n, len(tests))
	}
}

// TestClusterCertNotAfter: the issuer is given the end the body asks for,
// and its bytes are the answer.
func TestClusterCertNotAfter(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	srv := newCertServer(t, clock)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name, body string
		ends       time.Duration
	}{
		{"OneDay", `{"duration":1}`, day},
		{"Longest", `{"duration":1827}`, 1827 * day},
		{"MinusOne", `{"duration":-1}`, 1827 * day},
		{"ExpireAt", `{"expire_at":"` + clock.Now().Add(time.Hour).Format(time.RFC3339) + `"}`, time.Hour},
		{"ExpireAtFifteenMinutes", `{"expire_at":"` + clock.Now().Add(15*time.Minute).Format(time.RFC3339) + `"}`, 15 * time.Minute},
		{"ExpireAtOtherZone", `{"expire_at":"` + clock.Now().Add(2*time.Hour).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339) + `"}`, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, srv, http.MethodPost, certPath(cluster), "application/json", tc.body)
			want := `{"kind":"Config","notAfter":"` + clock.Now().Add(tc.ends).UTC().Format(time.RFC3339) + `"}`
			if r.status != 200 || r.body != want {
				t.Errorf("answer %d %s, want 200 %s", r.status, r.body, want)
			}
		})
	}
}

func TestClusterCertErrors(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	srv := newCertServer(t, clock)
	srv.AddNodes(project, "no-issuer", "n1")
	srv.SetClusterCert(project, "broken", func(time.Time) ([]byte, error) { return nil, errors.New("out of serials") })
	body := `{"duration":1}`
	expectAnswer(t, send(t, srv, http.MethodPost, certPath("unknown"), "application/json", body), 404, "CCE.01404001", "unknown")
	expectAnswer(t, send(t, srv, http.MethodPost, certPath("no-issuer"), "application/json", body), 403, "CCE.01403001", "no-issuer")
	expectAnswer(t, send(t, srv, http.MethodPost, certPath("broken"), "application/json", body), 500, "CCE.01500001", "out of serials")

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+certPath(cluster), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	expectAnswer(t, do(t, req), 401, "CCE.01401001")

	srv.Inject(ccetest.OpClusterCert, 1, ccetest.Fault{Status: 503})
	expectAnswer(t, send(t, srv, http.MethodPost, certPath(cluster), "application/json", body), 503, "CCE.01500001")
	if r := send(t, srv, http.MethodPost, certPath(cluster), "application/json", body); r.status != 200 {
		t.Errorf("after the fault: %d %s", r.status, r.body)
	}
	if n, a := srv.Calls(ccetest.OpClusterCert), srv.Answers(ccetest.OpClusterCert, 200); n != 6 || a != 1 {
		t.Errorf("Calls %d, Answers(200) %d; want 6 and 1", n, a)
	}
}

// TestClusterCertIsARead: ReadRate covers clustercert.
func TestClusterCertIsARead(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{Now: clock.Now, ReadRate: 1})
	srv.SetClusterCert(project, cluster, func(time.Time) ([]byte, error) { return []byte(`{}`), nil })
	body := `{"duration":1}`
	if r := send(t, srv, http.MethodPost, certPath(cluster), "application/json", body); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	expectAnswer(t, send(t, srv, http.MethodPost, certPath(cluster), "application/json", body), 429, "APIG.0308")
}

func TestSetNodeAddress(t *testing.T) {
	srv := newServer(t, ccetest.Options{})
	srv.AddNodes(project, cluster, "n1")
	srv.SetNodeAddress(project, cluster, "n2", "192.168.0.12", "192.168.0.12")
	c := newClient(t, srv, 5*time.Second)
	n1, err := c.ShowNode(t.Context(), project, cluster, "n1")
	if err != nil || n1.Metadata.Name != "node-n1" || n1.Status.PrivateIP != "" {
		t.Errorf("n1 = %+v, %v; want the default name and no address", n1, err)
	}
	n2, err := c.ShowNode(t.Context(), project, cluster, "n2")
	if err != nil || n2.Metadata.Name != "192.168.0.12" || n2.Status.PrivateIP != "192.168.0.12" || n2.Status.Phase != cce.NodeActive {
		t.Errorf("n2 = %+v, %v; want Active, named and addressed", n2, err)
	}
}
