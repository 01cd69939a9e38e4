/*
Copyright 2026 The region-withdrawal-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package plugin

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestOneLineCutsAtACharacter: a message in Urdu cut to fit a line stays
// valid UTF-8 and within the width.
func TestOneLineCutsAtACharacter(t *testing.T) {
	msg := strings.Repeat("پاکستان میں سروس بند\n", 20)
	for n := 10; n < 120; n++ {
		got := oneLine(msg, n)
		if !utf8.ValidString(got) || len(got) > n || strings.Contains(got, "\n") {
			t.Fatalf("oneLine(_, %d) = %q: want valid UTF-8 on one line within %d bytes", n, got, n)
		}
	}
}
