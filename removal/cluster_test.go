package removal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseBudget(t *testing.T) {
	for in, want := range map[string]Budget{"3": {N: 3}, "0": {}, "10%": {N: 10, Percent: true}, "100%": {N: 100, Percent: true}, "0%": {Percent: true}} {
		got, err := ParseBudget(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseBudget(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "101%", "ten", "1.5", "+3", "%", "3 %", "10%%"} {
		var inv *InvalidError
		if _, err := ParseBudget(in); !errors.As(err, &inv) || inv.Field != "max_disrupting" {
			t.Errorf("ParseBudget(%q) = %v; want an error naming max_disrupting", in, err)
		}
	}
	for _, tc := range []struct {
		b           Budget
		total, want int
	}{{Budget{N: 10, Percent: true}, 30, 3}, {Budget{N: 10, Percent: true}, 31, 4}, {Budget{N: 10, Percent: true}, 3, 1},
		{Budget{N: 10, Percent: true}, 0, 1}, {Budget{Percent: true}, 50, 0}, {Budget{N: 5}, 3, 5}} {
		if got := tc.b.Of(tc.total); got != tc.want {
			t.Errorf("%s of %d = %d, want %d", tc.b, tc.total, got, tc.want)
		}
	}
}

func TestWindowOpen(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(loc *time.Location, y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	cases := []struct {
		window   string
		now      time.Time
		open     bool
		boundary time.Time // when it closes (open) or next opens
	}{
		{"0 2 * * * 3h Europe/Berlin", at(berlin, 2026, 12, 1, 2, 0), true, at(berlin, 2026, 12, 1, 5, 0)},
		{"0 2 * * * 3h Europe/Berlin", at(berlin, 2026, 12, 1, 4, 59), true, at(berlin, 2026, 12, 1, 5, 0)},
		{"0 2 * * * 3h Europe/Berlin", at(berlin, 2026, 12, 1, 5, 0), false, at(berlin, 2026, 12, 2, 2, 0)},
		{"0 2 * * * 3h Europe/Berlin", at(berlin, 2026, 12, 1, 1, 59), false, at(berlin, 2026, 12, 1, 2, 0)},
		// Crossing midnight.
		{"0 22 * * * 4h UTC", at(time.UTC, 2026, 12, 2, 1, 0), true, at(time.UTC, 2026, 12, 2, 2, 0)},
		// On weekdays only: Saturday waits for Monday.
		{"0 9 * * 1-5 8h UTC", at(time.UTC, 2026, 12, 5, 10, 0), false, at(time.UTC, 2026, 12, 7, 9, 0)},
		{"@daily 1h", at(time.UTC, 2026, 12, 1, 0, 30), true, at(time.UTC, 2026, 12, 1, 1, 0)},
		// The clocks go forward on 29 March 2026 at 02:00 in Berlin: 02:30
		// does not exist that night, and the window opens at 03:00 local.
		{"30 2 * * * 1h Europe/Berlin", at(time.UTC, 2026, 3, 28, 23, 0), false, at(berlin, 2026, 3, 30, 2, 30)},
		// Back on 25 October at 03:00: a 01:00 window lasts its 2h of real time.
		{"0 1 * * * 2h Europe/Berlin", at(time.UTC, 2026, 10, 25, 0, 30), true, at(time.UTC, 2026, 10, 25, 1, 0)},
	}
	for _, tc := range cases {
		w, err := ParseWindow(tc.window)
		if err != nil {
			t.Fatalf("%s: %v", tc.window, err)
		}
		open, b := w.Open(tc.now)
		if open != tc.open || !b.Equal(tc.boundary) {
			t.Errorf("%s at %s: open %v until/next %s; want %v, %s", tc.window, tc.now.UTC(), open, b.UTC(), tc.open, tc.boundary.UTC())
		}
	}
	a, _ := ParseWindow("0 2 * * * 1h UTC")
	b, _ := ParseWindow("0 20 * * * 1h UTC")
	if open, next := WindowsOpen([]Window{a, b}, at(time.UTC, 2026, 12, 1, 12, 0)); open || !next.Equal(at(time.UTC, 2026, 12, 1, 20, 0)) {
		t.Errorf("two windows: %v %s", open, next)
	}
	if open, _ := WindowsOpen(nil, time.Now()); !open {
		t.Error("no window is always open")
	}
}

func TestParseWindowErrors(t *testing.T) {
	for in, want := range map[string]string{
		"0 2 * * *":                 `is not "CRON DURATION TZ"`,
		"0 2 * * * soon UTC":        "not a duration",
		"0 2 * * * 0s UTC":          "at most 168h",
		"0 2 * * * 200h UTC":        "at most 168h",
		"0 2 * * * 1h Mars/Olympus": "not a time zone",
		"0 25 * * * 1h UTC":         "not a cron expression",
		"@sometimes 1h":             "not a cron expression",
		"0 2 * * * 1h UTC extra":    `is not "CRON DURATION TZ"`,
	} {
		if _, err := ParseWindow(in); err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWindow(%q) = %v; want %q", in, err, want)
		}
	}
	w, _ := ParseWindow("0 2 * * 1-5 4h Europe/Berlin")
	if w.String() != "0 2 * * 1-5 4h0m0s Europe/Berlin" {
		t.Errorf("String %q", w.String())
	}
}

func TestDecodeClusterSettings(t *testing.T) {
	s, err := DecodeClusterSettings([]byte(`{"max_disrupting":"2","min_nodes":3,"windows":[{"cron":"0 2 * * *","duration":"4h","time_zone":"UTC"}]}`))
	if err != nil || s.MaxDisrupting.N != 2 || *s.MinNodes != 3 || len(s.Windows) != 1 {
		t.Fatalf("%+v, %v", s, err)
	}
	g := s.Resolve(Guard{MaxDisrupting: Budget{N: 10, Percent: true}, MinNodes: 1})
	if g.MaxDisrupting.N != 2 || g.MinNodes != 3 || len(g.Windows) != 1 {
		t.Errorf("resolve %+v", g)
	}
	if g := (ClusterSettings{}).Resolve(Guard{MinNodes: 1}); g.MinNodes != 1 || g.Windows == nil {
		t.Errorf("nothing set: %+v", g)
	}
	for in, field := range map[string]string{
		`{"max_disrupting":"x"}`: "max_disrupting", `{"min_nodes":-2}`: "min_nodes", `{"min_nodes":"2"}`: "min_nodes",
		`{"windows":[{"cron":"x","duration":"1h","time_zone":"UTC"}]}`:      "windows[0].cron",
		`{"windows":[{"cron":"0 2 * * *","duration":"1h","time_zone":""}]}`: "windows[0].time_zone",
		`{"other":1}`: "other", `[]`: "", `{} 1`: "",
	} {
		var inv *InvalidError
		if _, err := DecodeClusterSettings([]byte(in)); !errors.As(err, &inv) || inv.Field != field {
			t.Errorf("%s: %v; want an error naming %q", in, err, field)
		}
	}
}

func FuzzDecodeClusterSettings(f *testing.F) {
	f.Add([]byte(`{"max_disrupting":"10%","min_nodes":1,"windows":[{"cron":"@daily","duration":"1h","time_zone":"Asia/Shanghai"}]}`))
	f.Add([]byte(`{"windows":[{"cron":"*/5 * * * *","duration":"1m","time_zone":"UTC"}]}`))
	f.Add([]byte(`{"max_disrupting":"0"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := DecodeClusterSettings(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("an error that is not ErrInvalid: %v", err)
			}
			return
		}
		for _, w := range s.Windows {
			w.Open(time.Now()) // must not panic or spin
		}
	})
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"0 2 * * 1-5 4h Europe/Berlin", "@hourly 10m", "* * * * * 1s UTC", "0 0 31 2 * 1h UTC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if _, err := ParseWindow(w.String()); err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", s, w.String(), err)
		}
		w.Open(time.Now())
	})
}
