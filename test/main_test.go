package test

import (
	"testing"

	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) {
	redistest.QuietRedisLog() // tests stop Redis on purpose
	testkit.Main(kubetest.StopSharedAfter(m))
}
