package redistest

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// QuietRedisLog drops go-redis's own log lines in the calling test process.
// While a test stops Redis, its clients' pools print a line per failed dial,
// repeating errors the test looks at anyway. Call it from TestMain.
func QuietRedisLog() { redis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
