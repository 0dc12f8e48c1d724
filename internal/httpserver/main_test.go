package httpserver_test

import (
	"testing"

	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }
