package controller_test

import (
	"testing"

	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(kubetest.StopSharedAfter(m)) }
