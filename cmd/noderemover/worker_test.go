package main

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/config"
)

// TestWorkerConfigRates: the rates reach the worker per second, and off as
// 0, which the worker takes as no limit.
func TestWorkerConfigRates(t *testing.T) {
	env := map[string]string{"CCE_WRITE_RATE": "off", "CCE_READ_RATE": "30/m"}
	cfg, err := config.Load(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	w := workerConfig(cfg, zerolog.Nop())
	if w.WriteRate != 0 || w.ReadRate != 0.5 {
		t.Errorf("write %v/s, read %v/s; want 0 (unlimited) and 0.5", w.WriteRate, w.ReadRate)
	}
}
