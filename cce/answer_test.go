package cce_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestParseErrorBody(t *testing.T) {
	lbPage := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
		"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	tests := []struct {
		name              string
		status            int
		header            http.Header
		body              string
		wantCode, wantMsg string
		wantRequestID     string
		wantRetryAfter    time.Duration
	}{
		{name: "CCESpelling", status: 404,
			body:     `{"errorCode":"CCE.01404001","errorMessage":"node n1 not found"}`,
			wantCode: "CCE.01404001", wantMsg: "node n1 not found"},
		{name: "GatewaySpelling", status: 429,
			body:     `{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached"}`,
			wantCode: "APIG.0308", wantMsg: "The throttling threshold has been reached"},
		{name: "NestedErrorObject", status: 403,
			body:     `{"error":{"code":"CCE.01403001","message":"forbidden"}}`,
			wantCode: "CCE.01403001", wantMsg: "forbidden"},
		{name: "NumericCode", status: 400, body: `{"error_code":400,"error_msg":"bad"}`,
			wantCode: "400", wantMsg: "bad"},
		{name: "HTMLFromLoadBalancer", status: 502, body: lbPage,
			wantMsg: "502 Bad Gateway 502 Bad Gateway nginx"},
		{name: "PlainText", status: 503, body: "upstream connect error\nor disconnect\n",
			wantMsg: "upstream connect error or disconnect"},
		{name: "EmptyBody", status: 500, body: ""},
		{name: "JSONWithoutKnownFields", status: 500, body: `{"foo":"bar"}`, wantMsg: `{"foo":"bar"}`},
		{name: "RequestIDKept", status: 500, header: http.Header{"X-Request-Id": {"req-1"}},
			body:     `{"errorCode":"CCE.01500001","errorMessage":"x"}`,
			wantCode: "CCE.01500001", wantMsg: "x", wantRequestID: "req-1"},
		{name: "RetryAfterKept", status: 429, header: http.Header{"Retry-After": {"56.818"}},
			body:     `{"errorCode":"CCE.02429001","errorMessage":"slow down"}`,
			wantCode: "CCE.02429001", wantMsg: "slow down", wantRetryAfter: 56818 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := cce.ParseErrorBody("ShowNode", tt.status, h, []byte(tt.body), testNow)
			if e.Op != "ShowNode" || e.StatusCode != tt.status {
				t.Errorf("Op, StatusCode = %s, %d", e.Op, e.StatusCode)
			}
			if e.Code != tt.wantCode || e.Message != tt.wantMsg {
				t.Errorf("Code, Message = %q, %q; want %q, %q", e.Code, e.Message, tt.wantCode, tt.wantMsg)
			}
			if e.RequestID != tt.wantRequestID || e.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RequestID, RetryAfter = %q, %v; want %q, %v", e.RequestID, e.RetryAfter, tt.wantRequestID, tt.wantRetryAfter)
			}
		})
	}
}

func TestParseErrorBodyTruncatesExcerpt(t *testing.T) {
	body := strings.Repeat("é long\tline\n", 100)
	e := cce.ParseErrorBody("ShowJob", 502, http.Header{}, []byte(body), testNow)
	if len(e.Message) > 200 || strings.ContainsAny(e.Message, "\n\t") || !strings.HasSuffix(e.Message, "...") {
		t.Errorf("Message = %q (%d bytes), want one line of at most 200 bytes ending in ...", e.Message, len(e.Message))
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"Seconds", "5", 5 * time.Second, true},
		{"Zero", "0", 0, true},
		{"FractionalSeconds", "56.818", 56818 * time.Millisecond, true},
		{"Spaces", " 3 ", 3 * time.Second, true},
		{"HTTPDate", testNow.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"PastHTTPDate", testNow.Add(-time.Minute).Format(http.TimeFormat), 0, false},
		{"FarHTTPDate", testNow.Add(2 * time.Hour).Format(http.TimeFormat), 0, false},
		{"Absurd", "86400", 0, false},
		{"Negative", "-1", 0, false},
		{"Garbage", "soon", 0, false},
		{"Empty", "", 0, false},
		{"Exponent", "1e3", 0, false},
		{"NaN", "NaN", 0, false},
		{"Plus", "+5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cce.ParseRetryAfter(tt.value, testNow)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
