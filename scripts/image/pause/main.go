// The pod sandbox ("pause") process of the real node: holds a pod's namespaces open and
// does nothing else. Upstream's registry.k8s.io/pause cannot be pulled here, so
// scripts/image/build.sh compiles this one into a tiny image of its own.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go reap()
	<-stop
}

// reap waits for orphans, as PID 1 of a pod that shares its process namespace must.
func reap() {
	children := make(chan os.Signal, 8)
	signal.Notify(children, syscall.SIGCHLD)
	for range children {
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
