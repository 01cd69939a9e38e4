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

// Package text holds the one way the operator shortens text it did not
// write (messages from executors, exporters, receivers) to fit a field.
package text

import "strings"

// ellipsis marks a cut. It is three bytes in UTF-8.
const ellipsis = "…"

// Truncate returns s as valid UTF-8 (invalid bytes become "?") in at most
// max bytes. When it has to cut, it cuts at a character boundary and ends
// with "…", so a cut is visible and never splits a character.
func Truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= max {
		return s
	}
	if max < len(ellipsis) {
		return ""
	}
	cut := max - len(ellipsis)
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
