package dashboard

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/sse"
	"github.com/noderemover/noderemover/tasks"
)

// The requests pages: every request and node as the product sees them,
// beside asynqmon's view of the tasks. Server-rendered (html/template); one
// small script of our own (web/live.js) follows the event stream and
// re-renders the page's live part when something changed. Read-only.

//go:embed web
var web embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"since":    since,
	"when":     func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"short":    func(s string, n int) string { return shorten(s, n) },
	"kind":     func(t string) string { return strings.TrimPrefix(t, enqueuer.EventTypePrefix) },
	"callback": callbackShown,
	"taskURL":  taskURL,
	"counts":   counts,
}).ParseFS(web, "web/*.html"))

// requestsPath is the list; requestsPath/{id} one request.
const requestsPath = "/requests"

// requestPages serves the requests pages from c.
type requestPages struct {
	c    *enqueuer.Client
	log  zerolog.Logger
	root string // asynqmon's root, for links to tasks
}

func (p *requestPages) register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET "+requestsPath, wrap(http.HandlerFunc(p.list)))
	mux.Handle("GET "+requestsPath+"/{$}", wrap(http.RedirectHandler(requestsPath, http.StatusMovedPermanently)))
	mux.Handle("GET "+requestsPath+"/events", wrap(http.HandlerFunc(p.events)))
	mux.Handle("GET "+requestsPath+"/static/", wrap(http.StripPrefix(requestsPath+"/static/", http.FileServerFS(mustSub(web, "web/static")))))
	mux.Handle("GET "+requestsPath+"/{id}", wrap(http.HandlerFunc(p.one)))
	readOnly := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the requests pages are read-only: "+r.Method+" is not served", http.StatusMethodNotAllowed)
	}
	mux.Handle(requestsPath, wrap(http.HandlerFunc(readOnly)))
	mux.Handle(requestsPath+"/", wrap(http.HandlerFunc(readOnly)))
}

// listFilter is what the list page shows: its query, checked.
type listFilter struct {
	State, Cluster, Since string
	Before                string // the page: requests older than this one
	from                  time.Time
}

// listPageSize is how many requests a page of the list shows; older ones
// are a link away.
const listPageSize = 100

// sinceChoices are the time filter's choices.
var sinceChoices = []struct{ Value, Label string }{
	{"1h", "last hour"}, {"6h", "last 6 hours"}, {"24h", "last day"}, {"168h", "last week"}, {"", "any time"},
}

func readListFilter(q url.Values, now time.Time) (listFilter, error) {
	f := listFilter{State: q.Get("state"), Cluster: strings.TrimSpace(q.Get("cluster")), Since: q.Get("since"), Before: q.Get("before")}
	if f.State != "" && !enqueuer.ValidState(enqueuer.State(f.State)) {
		return f, fmt.Errorf("state %q is not a request state", shorten(f.State, 32))
	}
	if f.Cluster != "" {
		if err := enqueuer.ValidClusterID(f.Cluster); err != nil {
			return f, fmt.Errorf("cluster %q is not a cluster id", shorten(f.Cluster, 64))
		}
	}
	if f.Before != "" {
		if err := enqueuer.ValidRequestID(f.Before); err != nil {
			return f, fmt.Errorf("before %q is not a request id", shorten(f.Before, 64))
		}
	}
	if f.Since != "" {
		d, err := time.ParseDuration(f.Since)
		if err != nil || d <= 0 {
			return f, fmt.Errorf("since %q is not a duration", shorten(f.Since, 32))
		}
		f.from = now.Add(-d)
	}
	return f, nil
}

type listPage struct {
	Filter   listFilter
	States   []string
	Since    []struct{ Value, Label string }
	Requests []enqueuer.Status
	Error    string
	Live     string // the event stream this page follows
	Older    string // the next page's URL, when there are more
	Newest   string // the first page's URL, on a later page
}

// url is the list page with f's filters, from the request after before
// ("" for the newest).
func (f listFilter) url(before string) string {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "cluster": f.Cluster, "since": f.Since, "before": before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return requestsPath
	}
	return requestsPath + "?" + q.Encode()
}

func (p *requestPages) list(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	f, err := readListFilter(r.URL.Query(), now)
	page := listPage{Filter: f, Since: sinceChoices,
		States: []string{"queued", "draining", "submitting", "polling", "succeeded", "failed", "cancelled"}}
	if err != nil {
		page.Error = err.Error()
		p.render(w, http.StatusBadRequest, "list.html", page)
		return
	}
	all, err := p.c.List(r.Context(), enqueuer.ListFilter{State: enqueuer.State(f.State), ClusterID: f.Cluster,
		CreatedAfter: f.from, Before: f.Before, Limit: listPageSize + 1})
	switch {
	case errors.Is(err, enqueuer.ErrInvalid): // the page's first request is no longer listed
		page.Error = err.Error()
		page.Newest = f.url("")
		p.render(w, http.StatusNotFound, "list.html", page)
		return
	case err != nil:
		p.log.Warn().Err(err).Msg("requests page: list")
		page.Error = "could not read the requests: " + err.Error()
		p.render(w, http.StatusServiceUnavailable, "list.html", page)
		return
	}
	if len(all) > listPageSize {
		all = all[:listPageSize]
		page.Older = f.url(all[len(all)-1].RequestID)
	}
	if f.Before != "" {
		page.Newest = f.url("")
	}
	page.Requests = all
	live := url.Values{}
	if f.Cluster != "" {
		live.Set("cluster", f.Cluster)
	}
	page.Live = requestsPath + "/events?" + live.Encode()
	p.render(w, http.StatusOK, "list.html", page)
}

type onePage struct {
	Status   enqueuer.Status
	Timeline []enqueuer.TimelineEvent
	Tasks    []taskLink
	Live     string
	Error    string
}

type taskLink struct{ Kind, ID, URL string }

func (p *requestPages) one(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := p.c.Status(r.Context(), id)
	switch {
	case errors.Is(err, enqueuer.ErrNotFound) || errors.Is(err, enqueuer.ErrInvalid):
		p.render(w, http.StatusNotFound, "one.html", onePage{Error: fmt.Sprintf("request %s not found: never enqueued, or its record expired (RECORD_TTL)", shorten(id, 128))})
		return
	case err != nil:
		p.log.Warn().Err(err).Msg("requests page: status")
		p.render(w, http.StatusServiceUnavailable, "one.html", onePage{Error: "could not read the request: " + err.Error()})
		return
	}
	page := onePage{Status: st, Live: requestsPath + "/events?request=" + url.QueryEscape(st.RequestID)}
	if page.Timeline, err = p.c.Timeline(r.Context(), st); err != nil {
		page.Error = "could not read the request's events: " + err.Error()
	}
	page.Tasks = []taskLink{
		{"node:remove", tasks.RemoveNodesTaskID(st.RequestID), taskURL(p.root, tasks.RemoveNodesTaskID(st.RequestID))},
	}
	if st.Drain != nil {
		page.Tasks = append(page.Tasks, taskLink{"node:uncordon", tasks.UncordonTaskID(st.RequestID), taskURL(p.root, tasks.UncordonTaskID(st.RequestID))})
	}
	for _, e := range page.Timeline {
		if e.Hooked {
			page.Tasks = append(page.Tasks, taskLink{"webhook:deliver", tasks.WebhookTaskID(e.ID), taskURL(p.root, tasks.WebhookTaskID(e.ID))})
		}
	}
	p.render(w, http.StatusOK, "one.html", page)
}

// events is the live pages' stream: ?request= one request's, ?cluster= one
// cluster's, else every event.
func (p *requestPages) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := enqueuer.EventFilter{ClusterID: q.Get("cluster")}
	if id := q.Get("request"); id != "" {
		f.RequestIDs = []string{id}
	}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		f.After = last
	}
	feed, err := p.c.Follow(r.Context(), f)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer feed.Close()
	sse.Serve(w, r, feed, false, func(err error) { p.log.Warn().Err(err).Msg("requests page: event stream ended") })
}

func (p *requestPages) render(w http.ResponseWriter, code int, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		p.log.Error().Err(err).Str("page", name).Msg("requests page: render")
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// requestPageHeaders are the requests pages' headers: nothing but our own
// script, style and images, never framed.
func requestPageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// taskURL is a task's page in asynqmon.
func taskURL(root, id string) string {
	return root + "/queues/" + url.PathEscape(tasks.Queue) + "/tasks/" + url.PathEscape(id)
}

// callbackShown is a callback URL without its query (which may hold the
// receiver's token).
func callbackShown(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// nodeCounts is how a request's nodes stand.
type nodeCounts struct{ Removed, Failed, Open, All int }

func counts(st enqueuer.Status) nodeCounts {
	c := nodeCounts{All: len(st.Nodes)}
	for _, n := range st.Nodes {
		switch n.State {
		case enqueuer.NodeRemoved:
			c.Removed++
		case enqueuer.NodeFailed:
			c.Failed++
		default:
			c.Open++
		}
	}
	return c
}

func since(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func shorten(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func mustSub(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embedded tree is ours
	}
	return sub
}
