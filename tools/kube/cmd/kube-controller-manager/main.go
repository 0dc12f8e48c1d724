// Command kube-controller-manager runs the controllers the tests need (disruption,
// replicaset, deployment, daemonset, ...), built from its Go module.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
