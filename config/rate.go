package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is a number of calls per unit of time, or no limit at all.
type Rate struct {
	N    float64
	Unit time.Duration // time.Second or time.Minute
	// Off is no limit (`off`): for an endpoint that limits on its own, or
	// to measure the worker's own cost.
	Off bool
}

// PerSecond is the rate in calls per second; 0 when Off, which the worker
// takes as unlimited.
func (r Rate) PerSecond() float64 {
	if r.Off {
		return 0
	}
	return r.N / r.Unit.Seconds()
}

func (r Rate) String() string {
	if r.Off {
		return "off"
	}
	unit := "s"
	if r.Unit == time.Minute {
		unit = "m"
	}
	return strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + unit
}

// maxRate bounds a rate: CCE's API gateway allows at most 200 calls/s.
const maxRate = 1000

// ParseRate reads "N/s" or "N/m" with N a positive number, or "off" (in any
// case, as the other words of the configuration) for no limit.
func ParseRate(v string) (Rate, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "off") {
		return Rate{Off: true}, nil
	}
	n, unit, ok := strings.Cut(v, "/")
	if !ok {
		return Rate{}, errors.New("not a rate like 5/s, 10/m or off")
	}
	var r Rate
	switch unit {
	case "s":
		r.Unit = time.Second
	case "m":
		r.Unit = time.Minute
	default:
		return Rate{}, fmt.Errorf("unit %q is not s or m", unit)
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return Rate{}, fmt.Errorf("%q is not a number", n)
	}
	if f <= 0 {
		return Rate{}, errors.New("must be above 0 (off is no limit)")
	}
	r.N = f
	if r.PerSecond() > maxRate {
		return Rate{}, fmt.Errorf("above %d calls per second", maxRate)
	}
	return r, nil
}
