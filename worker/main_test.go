package worker_test

import (
	"os"
	"testing"

	"github.com/noderemover/noderemover/internal/redistest"
)

func TestMain(m *testing.M) {
	redistest.QuietRedisLog() // tests stop Redis on purpose
	os.Exit(m.Run())
}
