package main

import (
	"errors"
	"flag"
	"time"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
)

// drainFlags are enqueue's flags for a request's drain; each one left out
// takes the fleet's default (DRAIN, DRAIN_TIMEOUT, ...).
type drainFlags struct {
	on, off              *bool
	timeout, gracePeriod *time.Duration
	onTimeout            *string
	emptyDir, force      *bool
}

func addDrainFlags(fs *flag.FlagSet) *drainFlags {
	return &drainFlags{
		on:          fs.Bool("drain", false, "cordon and drain the nodes through Kubernetes before CCE removes them (default: DRAIN)"),
		off:         fs.Bool("no-drain", false, "do not drain the nodes"),
		timeout:     fs.Duration("drain-timeout", 0, "how long a node's drain may take (default: DRAIN_TIMEOUT, 10m)"),
		onTimeout:   fs.String("drain-on-timeout", "", "fail (uncordon and fail the node) or remove (CCE removes it with its Pods) (default: DRAIN_ON_TIMEOUT, fail)"),
		gracePeriod: fs.Duration("drain-grace-period", 0, "grace period of each evicted Pod (default: DRAIN_GRACE_PERIOD, each Pod's own)"),
		emptyDir:    fs.Bool("delete-emptydir-data", false, "evict Pods with emptyDir volumes (their data is lost)"),
		force:       fs.Bool("force", false, "evict Pods that no controller manages"),
	}
}

// options are the drain members the flags given set; nil when none was.
func (d *drainFlags) options(fs *flag.FlagSet) (*enqueuer.DrainOptions, error) {
	var o enqueuer.DrainOptions
	given := false
	var err error
	fs.Visit(func(fl *flag.Flag) {
		given = given || fl.Name != "drain" && fl.Name != "no-drain" && isDrainFlag(fl.Name)
		switch fl.Name {
		case "drain":
			o.Enabled = d.on
		case "no-drain":
			off := !*d.off
			o.Enabled = &off
		case "drain-timeout":
			v := enqueuer.Duration(*d.timeout)
			o.Timeout = &v
		case "drain-grace-period":
			v := enqueuer.Duration(*d.gracePeriod)
			o.GracePeriod = &v
		case "drain-on-timeout":
			if *d.onTimeout == "" {
				err = &enqueuer.InvalidError{Field: "drain.on_timeout", Problem: "is empty; give fail or remove, or leave --drain-on-timeout out"}
			}
			o.OnTimeout = d.onTimeout
		case "delete-emptydir-data":
			o.DeleteEmptyDirData = d.emptyDir
		case "force":
			o.Force = d.force
		}
	})
	if err != nil {
		return nil, err
	}
	set := func(name string) bool {
		found := false
		fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
		return found
	}
	if set("drain") && set("no-drain") {
		return nil, errors.New("give --drain or --no-drain, not both")
	}
	if o.Enabled != nil && !*o.Enabled && given {
		return nil, errors.New("--no-drain goes with no other drain flag")
	}
	if o.Enabled == nil && !given {
		return nil, nil
	}
	return &o, nil
}

func isDrainFlag(name string) bool {
	switch name {
	case "drain", "no-drain", "drain-timeout", "drain-on-timeout", "drain-grace-period", "delete-emptydir-data", "force":
		return true
	}
	return false
}

// drainDefaults are the fleet's drain settings from the configuration.
func drainDefaults(c config.Config) enqueuer.DrainDefaults {
	return enqueuer.DrainDefaults{
		Access:             c.KubeAccess,
		Enabled:            c.DrainOn(),
		Timeout:            c.DrainTimeout,
		OnTimeout:          c.DrainOnTimeout,
		GracePeriod:        c.DrainGracePeriod,
		DeleteEmptyDirData: c.DrainDeleteEmptyDirData,
		Force:              c.DrainForce,
	}
}
