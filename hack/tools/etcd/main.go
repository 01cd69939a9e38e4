// Command etcd is etcd built from the pinned go.etcd.io/etcd/server/v3 module,
// because release binaries cannot be downloaded on the machines that build
// this project.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
