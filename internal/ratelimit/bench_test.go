package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
)

// BenchmarkDeliveredRate: ten callers (a worker's handlers) take slots as
// fast as they are handed out, waiting up to a second for each as the
// worker does; the rate delivered is measured from the first slot to the
// last, against the rate set.
func BenchmarkDeliveredRate(b *testing.B) {
	rdb := redistest.Start(b, redistest.Options{}).Client(b)
	for _, rate := range []float64{20, 200, 1000} {
		b.Run(fmt.Sprintf("%g/s", rate), func(b *testing.B) {
			slots := max(int(3*rate), 60)
			var delivered float64
			for b.Loop() {
				if err := rdb.FlushDB(b.Context()).Err(); err != nil {
					b.Fatal(err)
				}
				l := New(rdb, "write", rate, Options{})
				var mu sync.Mutex
				var first, last time.Time
				var taken atomic.Int64
				var wg sync.WaitGroup
				for range 10 {
					wg.Go(func() {
						for taken.Load() < int64(slots) {
							slot, _, err := l.Take(b.Context(), time.Second)
							if err != nil {
								b.Error(err)
								return
							}
							if slot == nil {
								continue
							}
							if taken.Add(1) > int64(slots) {
								slot.Return(b.Context())
								return
							}
							now := time.Now()
							mu.Lock()
							if first.IsZero() || now.Before(first) {
								first = now
							}
							if now.After(last) {
								last = now
							}
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				delivered = float64(slots-1) / last.Sub(first).Seconds()
			}
			b.ReportMetric(delivered, "calls/s")
			b.ReportMetric(delivered/rate, "delivered/set")
		})
	}
}
