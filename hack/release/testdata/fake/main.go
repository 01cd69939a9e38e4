// Command fake stands in for the operator in hack/release's test: a binary
// small enough to build for two platforms in seconds.
package main

import "fmt"

// Version is set by hack/release with -X main.Version.
var Version string

func main() { fmt.Println("fake", Version) }
