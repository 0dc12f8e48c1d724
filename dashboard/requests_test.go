package dashboard_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/dashboard"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
)

func node(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// requestsFixture is a dashboard over a Redis holding requests in several
// states, one of them failed by its CCE job with a reason per node.
type requestsFixture struct {
	url string
	c   *enqueuer.Client
}

func newRequestsFixture(t *testing.T) *requestsFixture {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	c := enqueuer.New(rdb, enqueuer.Options{})
	t.Cleanup(func() { _ = c.Close() })
	st := store.New(rdb, store.Options{})
	ctx := t.Context()
	enq := func(id, cluster string, nodes ...string) {
		if _, err := c.Enqueue(ctx, enqueuer.Request{ID: id, ProjectID: "p1", ClusterID: cluster, Nodes: nodes,
			SSHKey: "k", Password: ""}); err != nil {
			t.Fatal(err)
		}
	}
	enq("scale-down-a", "cluster-a", node(1), node(2))
	enq("waiting-b", "cluster-b", node(3))
	if _, err := c.Enqueue(ctx, enqueuer.Request{ID: "elsewhere-d", ProjectID: "p1", ClusterID: "cluster-d", Region: "ap-southeast-3",
		Nodes: []string{node(5)}, SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}
	enq("dropped-b", "cluster-b", node(4))
	if _, err := c.Cancel(ctx, "dropped-b"); err != nil {
		t.Fatal(err)
	}
	// scale-down-a: sent, accepted, and its job fails one node.
	now := time.Now().UTC()
	b := storetest.Form(t, st, now.Add(time.Minute), "scale-down-a")
	res, err := st.Step(ctx, b, removal.EventAccepted, removal.Input{Now: now, JobID: "job-8f2e"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EndJob(ctx, res.Batch, removal.Input{Now: now, Rest: removal.Node{State: removal.NodeRemoved},
		Outcomes: map[string]removal.Node{node(2): {State: removal.NodeFailed, Reason: "CCE.01400027: the node is locked by another job"}}}, time.Second); err != nil {
		t.Fatal(err)
	}
	opt, err := asynq.ParseRedisURI(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h := dashboard.New(dashboard.Options{Redis: opt, User: "ops", Password: "s3cret", Ready: func() error { return nil }, Requests: c})
	t.Cleanup(func() { _ = h.Close() })
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &requestsFixture{url: hs.URL, c: c}
}

// TestRequestsPagesServe: without a browser, the pages answer, behind the
// dashboard's basic auth, with their headers, and show no login material.
func TestRequestsPagesServe(t *testing.T) {
	f := newRequestsFixture(t)
	if code, _ := get(t, f.url+"/requests", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no auth: %d", code)
	}
	code, body := get(t, f.url+"/requests", "ops", "s3cret")
	if code != 200 || !strings.Contains(body, "scale-down-a") || !strings.Contains(body, "dropped-b") {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = get(t, f.url+"/requests/scale-down-a", "ops", "s3cret")
	for _, want := range []string{"job-8f2e", "CCE.01400027", node(2), "request.failed", "node.removed", "remove:scale-down-a"} {
		if !strings.Contains(body, want) {
			t.Errorf("request page does not show %q", want)
		}
	}
	if code != 200 || strings.Contains(body, "ssh_key") || strings.Contains(body, `"k"`) || strings.Contains(body, "password") {
		t.Errorf("request page: %d, or shows login material:\n%s", code, body)
	}
	if code, body := get(t, f.url+"/requests/elsewhere-d", "ops", "s3cret"); code != 200 || !strings.Contains(body, `id="region">ap-southeast-3<`) {
		t.Errorf("a request's region is not shown: %d %s", code, body)
	}
	if code, _ := get(t, f.url+"/requests/ghost", "ops", "s3cret"); code != http.StatusNotFound {
		t.Errorf("unknown request: %d", code)
	}
	if code, body := get(t, f.url+"/requests?state=running", "ops", "s3cret"); code != http.StatusBadRequest || !strings.Contains(body, "not a request state") {
		t.Errorf("bad filter: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, f.url+"/requests", nil)
	req.SetBasicAuth("ops", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", resp.Header)
	}
	req, _ = http.NewRequest(http.MethodPost, f.url+"/requests", nil)
	req.SetBasicAuth("ops", "s3cret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /requests: %v %v", resp, err)
	}
}

// browser starts headless Chromium for a test. Without one the test is
// skipped, unless NODEREMOVER_REQUIRE_BROWSER is set (.ci/run sets it and
// installs Debian's chromium).
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("NODEREMOVER_REQUIRE_BROWSER") != "" {
			t.Fatal("no chromium on PATH, and NODEREMOVER_REQUIRE_BROWSER is set: install Debian's chromium package (.ci/run does)")
		}
		t.Skip("no chromium on PATH: the browser test needs Debian's chromium package (.ci/run installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first call starts the browser, for as long as ctx lives: no timeout.
	auth := base64.StdEncoding.EncodeToString([]byte("ops:s3cret"))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Basic " + auth}}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// browse runs browser steps, bounded.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one browser action that returns something, bounded.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// screenshot saves the page as <dir>/<name>.png when NODEREMOVER_SCREENSHOTS
// names a directory (how docs/requests-*.png were made).
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("NODEREMOVER_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := value(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRequestsPagesInABrowser: in headless Chromium, the list loads, its
// filters work, a request's nodes and reasons show, and a change arrives
// live, without a reload.
func TestRequestsPagesInABrowser(t *testing.T) {
	f := newRequestsFixture(t)
	ctx := browser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	browse(t, ctx, "open the list", chromedp.Navigate(f.url+"/requests"), chromedp.WaitVisible(css(`#req-scale-down-a`)))
	list := text(t, ctx, `table.requests tbody`)
	for _, id := range []string{"scale-down-a", "waiting-b", "dropped-b"} {
		if !strings.Contains(list, id) {
			t.Errorf("list does not show %s:\n%s", id, list)
		}
	}
	browse(t, ctx, "wait for the live stream", chromedp.WaitVisible(css(`#live-status.on`)))
	screenshot(t, ctx, "requests-list")

	// Filter: failed requests only.
	browse(t, ctx, "filter by state",
		chromedp.SetValue(css(`#filter-state`), "failed"),
		chromedp.Click(css(`#filter-apply`)),
		chromedp.WaitNotPresent(css(`#req-waiting-b`)),
		chromedp.WaitVisible(css(`#req-scale-down-a`)))
	if got := text(t, ctx, `table.requests tbody`); strings.Contains(got, "waiting-b") || strings.Contains(got, "dropped-b") {
		t.Errorf("state=failed shows others:\n%s", got)
	}
	// Filter: a cluster.
	browse(t, ctx, "filter by cluster",
		chromedp.Navigate(f.url+"/requests"),
		chromedp.WaitVisible(css(`#filter-cluster`)),
		chromedp.SendKeys(css(`#filter-cluster`), "cluster-b"),
		chromedp.Click(css(`#filter-apply`)),
		chromedp.WaitNotPresent(css(`#req-scale-down-a`)),
		chromedp.WaitVisible(css(`#req-waiting-b`)))
	if got := text(t, ctx, `table.requests tbody`); strings.Contains(got, "scale-down-a") || !strings.Contains(got, "dropped-b") {
		t.Errorf("cluster=cluster-b shows:\n%s", got)
	}

	// One request: its nodes and their reasons, its job, its timeline.
	browse(t, ctx, "open a request", chromedp.Navigate(f.url+"/requests/scale-down-a"), chromedp.WaitVisible(css(`#node-`+node(2))))
	page := text(t, ctx, `main`)
	for _, want := range []string{"CCE.01400027: the node is locked by another job", "job-8f2e", "node.failed", "request.failed", "removed"} {
		if !strings.Contains(page, want) {
			t.Errorf("request page does not show %q:\n%s", want, page)
		}
	}
	screenshot(t, ctx, "requests-one")

	// Live: a request open in the browser is cancelled elsewhere; the page
	// shows it without a reload.
	browse(t, ctx, "open a waiting request", chromedp.Navigate(f.url+"/requests/waiting-b"), chromedp.WaitVisible(css(`#live-status.on`)))
	if state := text(t, ctx, `h1 .state`); state != "queued" {
		t.Fatalf("state %q before the cancel", state)
	}
	value(t, ctx, "mark the page", chromedp.Evaluate[bool](`window.notReloaded = true`))
	if _, err := f.c.Cancel(t.Context(), "waiting-b"); err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "wait for the live update", chromedp.WaitVisible(css(`h1 .state-cancelled`)))
	if !value(t, ctx, "check the page", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page reloaded instead of updating in place")
	}
}

// TestRequestsListPages: the list shows a page at a time and every request
// is reachable by its "older" links, once each, with the filters kept.
func TestRequestsListPages(t *testing.T) {
	f := newRequestsFixture(t)
	for i := range 150 {
		if _, err := f.c.Enqueue(t.Context(), enqueuer.Request{ID: fmt.Sprintf("bulk-%03d", i), ProjectID: "p1",
			ClusterID: "cluster-c", Nodes: []string{node(100 + i)}, SSHKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	rows := regexp.MustCompile(`<tr id="req-([^"]+)"`)
	older := regexp.MustCompile(`<a href="([^"]+)" id="page-older"`)
	read := func(path string) (ids []string, next string) {
		t.Helper()
		code, body := get(t, f.url+path, "ops", "s3cret")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		for _, m := range rows.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		if m := older.FindStringSubmatch(body); m != nil {
			next = html.UnescapeString(m[1])
		}
		return ids, next
	}
	for _, c := range []struct {
		first string
		want  int
	}{{"/requests", 154}, {"/requests?cluster=cluster-c&since=1h", 150}} {
		seen := map[string]bool{}
		pages := 0
		for path := c.first; path != ""; pages++ {
			var ids []string
			ids, path = read(path)
			if len(ids) > 100 {
				t.Errorf("a page of %d rows", len(ids))
			}
			for _, id := range ids {
				if seen[id] {
					t.Errorf("%s: %s on two pages", c.first, id)
				}
				seen[id] = true
			}
			if path != "" && !strings.Contains(path, "before=") {
				t.Fatalf("older link %q", path)
			}
			if strings.Contains(c.first, "cluster") && path != "" && !strings.Contains(path, "cluster=cluster-c") {
				t.Errorf("older link %q lost the filter", path)
			}
		}
		if len(seen) != c.want || pages != 2 {
			t.Errorf("%s: %d requests in %d pages, want %d in 2", c.first, len(seen), pages, c.want)
		}
	}
	if code, body := get(t, f.url+"/requests?before=ghost", "ops", "s3cret"); code != http.StatusNotFound ||
		!strings.Contains(body, "not listed") || !strings.Contains(body, `id="page-newest"`) {
		t.Errorf("a page after an unlisted request: %d %s", code, body)
	}
}
