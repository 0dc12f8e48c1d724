package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is a number of calls per unit of time.
type Rate struct {
	N    float64
	Unit time.Duration // time.Second or time.Minute
}

// PerSecond is the rate in calls per second.
func (r Rate) PerSecond() float64 { return r.N / r.Unit.Seconds() }

func (r Rate) String() string {
	unit := "s"
	if r.Unit == time.Minute {
		unit = "m"
	}
	return strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + unit
}

// maxRate bounds a rate: CCE's API gateway allows at most 200 calls/s.
const maxRate = 1000

// ParseRate reads "N/s" or "N/m" with N a positive number.
func ParseRate(v string) (Rate, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return Rate{}, errors.New("not a rate like 5/s or 10/m")
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
		return Rate{}, errors.New("must be above 0")
	}
	r.N = f
	if r.PerSecond() > maxRate {
		return Rate{}, fmt.Errorf("above %d calls per second", maxRate)
	}
	return r, nil
}
