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

package recipients_test

import (
	"strings"
	"testing"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// parse reads data in format and returns the ids read and the problems.
func parse(t *testing.T, format v1.RecipientFormat, data string) ([]string, []recipients.Problem) {
	t.Helper()
	var ids []string
	problems, err := recipients.Parse(strings.NewReader(data), format, "test", func(r recipients.Recipient) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return ids, problems
}

// TestOverLongFieldsAreReportedAndSkipped: a 1 MiB id used to be written
// into a checkpoint, overflow the ConfigMap and fail every commit after.
func TestOverLongFieldsAreReportedAndSkipped(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name, row, want string
	}{
		{name: "a 1 MiB id", row: long(1<<20) + ",a@example.com,,", want: "id is 1048576 bytes, over the limit of 256"},
		{name: "a long email", row: "c1," + long(320) + "@example.com,,", want: "email is"},
		{name: "a long webhook", row: "c1,,https://example.com/" + long(2048) + ",", want: "webhook is"},
		{name: "a long extra field", row: "c1,a@example.com,," + long(5000), want: `field "plan"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, problems := parse(t, v1.RecipientFormatCSV, "id,email,webhook,plan\n"+tc.row+"\nc2,b@example.com,,\n")
			if len(ids) != 1 || ids[0] != "c2" {
				t.Fatalf("read %d recipients, want only c2 after the bad row", len(ids))
			}
			if len(problems) != 1 || !strings.Contains(problems[0].Reason, tc.want) || len(problems[0].Reason) > 512 {
				t.Fatalf("problems %v, want one short one saying %q", problems, tc.want)
			}
		})
	}
}

func TestJSONLinesEdgeCases(t *testing.T) {
	t.Run("a byte order mark", func(t *testing.T) {
		ids, problems := parse(t, v1.RecipientFormatJSONLines, "\ufeff{\"id\":\"c1\"}\n{\"id\":\"c2\"}\n")
		if len(ids) != 2 || len(problems) != 0 {
			t.Fatalf("ids %v, problems %v", ids, problems)
		}
	})
	t.Run("a null id", func(t *testing.T) {
		ids, problems := parse(t, v1.RecipientFormatJSONLines, `{"id":null,"email":"a@example.com"}`+"\n"+`{"id":"c2"}`+"\n")
		if len(ids) != 1 || ids[0] != "c2" || len(problems) != 1 || problems[0].Reason != "missing id" {
			t.Fatalf("ids %v, problems %v; want the null id reported as missing", ids, problems)
		}
	})
	t.Run("a line over 1 MiB does not end the list", func(t *testing.T) {
		data := `{"id":"c1"}` + "\n" + `{"id":"` + strings.Repeat("x", 2<<20) + `"}` + "\n" + `{"id":"c3"}` + "\n"
		ids, problems := parse(t, v1.RecipientFormatJSONLines, data)
		if len(ids) != 2 || ids[1] != "c3" {
			t.Fatalf("ids %v: the records after the long line were dropped", ids)
		}
		if len(problems) != 1 || problems[0].Line != 2 || !strings.Contains(problems[0].Reason, "over") {
			t.Fatalf("problems %v, want line 2 reported", problems)
		}
	})
	t.Run("a list where a value belongs", func(t *testing.T) {
		_, problems := parse(t, v1.RecipientFormatJSONLines, `{"id":["c1","c2"]}`+"\n")
		if len(problems) != 1 || !strings.Contains(problems[0].Reason, "a list") {
			t.Fatalf("problems %v", problems)
		}
	})
}
