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

package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// ledgerOf seals events as w's, with a checkpoint after the last.
func ledgerOf(t *testing.T, s *Signer, w Withdrawal, events []timed) *Bundle {
	t.Helper()
	var st State
	var leaves [][]byte
	for _, e := range events {
		env, err := e.seal(s, w)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, env)
		if err := st.Append(env); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := s.SignCheckpoint(Origin(w), st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBundle(Origin(w), s.VerifierKey(), nil, leaves, [][]byte{cp})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fleet is a coordinator deleted and created again mid-announcement, and
// two members; each cuts at after(cluster) past the cutoff.
func fleet(t *testing.T, after map[string]time.Duration, mutate ...func(map[string][]timed)) (*FleetBundle, map[string]string) {
	t.Helper()
	const id = "bes/pakistan"
	w := func(uid string) Withdrawal { return Withdrawal{Namespace: "bes", Name: "pakistan", UID: uid, ID: id} }
	delivered := func(recipient string) timed {
		return timed{noticeSent, &NoticeDelivered{Notice: "announcement", Recipient: RecipientHash(testSalt, recipient), Channel: "webhook",
			IdempotencyKey: "key-" + recipient, Webhook: &WebhookReceipt{Status: 200, BodySHA256: strings.Repeat("0", 64)}}}
	}
	cut := func(cluster string) timed {
		// The header keeps seconds; SwitchedAt has the millisecond.
		return timed{cutoff.Add(after[cluster]), &RoutingSwitched{Mode: "Block451", Cutoff: cutoff, SwitchedAt: cutoff.Add(after[cluster] + 123*time.Millisecond)}}
	}
	seal := func(reason string) timed { return timed{cutoff.Add(time.Minute), &LedgerSealed{Reason: reason}} }
	events := map[string][]timed{
		"core-1": {delivered("c1"), delivered("c2"), seal(SealDeleted)},
		"core-2": {delivered("c3"), cut("core"), seal(SealCompleted)},
		"edge-a": {cut("edge-a"), seal(SealCompleted)},
		"edge-b": {cut("edge-b"), seal(SealCompleted)},
	}
	for _, m := range mutate {
		m(events)
	}
	core, a, b := testSigner(t, 1), testSigner(t, 2), testSigner(t, 3)
	fb := &FleetBundle{Format: FleetBundleFormat, ID: id, Clusters: []FleetCluster{
		{Cluster: "core", Role: "Coordinator", Ledgers: []*Bundle{ledgerOf(t, core, w("uid-core-1"), events["core-1"]), ledgerOf(t, core, w("uid-core-2"), events["core-2"])}},
		{Cluster: "edge-a", Role: "Member", Ledgers: []*Bundle{ledgerOf(t, a, w("uid-a"), events["edge-a"])}},
		{Cluster: "edge-b", Role: "Member", Ledgers: []*Bundle{ledgerOf(t, b, w("uid-b"), events["edge-b"])}},
	}}
	return fb, map[string]string{"core": core.VerifierKey(), "edge-a": a.VerifierKey(), "edge-b": b.VerifierKey()}
}

func TestVerifyFleet(t *testing.T) {
	onTime := map[string]time.Duration{"core": 0, "edge-a": 0, "edge-b": 500 * time.Millisecond}
	fb, keys := fleet(t, onTime)
	r, err := VerifyFleet(fb, FleetVerifyOptions{Keys: keys, Tolerance: time.Second, ID: "bes/pakistan"})
	var out bytes.Buffer
	_ = r.WriteText(&out)
	if err != nil {
		t.Fatalf("a sound fleet does not verify: %v\n%s", err, out.String())
	}
	for _, want := range []string{"withdrawal bes/pakistan across 3 clusters", "core (Coordinator): 2 ledgers (2 sealed)", "3 clusters cut; spread 500ms",
		"notice announcement: 3 customers told once across the fleet", "edge-b (Member): 1 ledgers (1 sealed), 2 statements, 0 notice statements, cut at 2026-12-30T00:00:00.623Z (623ms after the cutoff)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	// Written through a file and back; verified as it is read.
	var file bytes.Buffer
	if err := WriteFleetBundle(&file, fb); err != nil {
		t.Fatal(err)
	}
	if r, err := VerifyFleetReader(bytes.NewReader(file.Bytes()), FleetVerifyOptions{Keys: keys, Tolerance: time.Second, ID: "bes/pakistan"}); err != nil || len(r.Clusters) != 3 || r.Told["announcement"] != 3 {
		t.Fatalf("streamed: %v, %+v", err, r)
	}
	if back, err := ReadFleetBundle(&file); err != nil || len(back.Clusters) != 3 || len(back.Clusters[0].Ledgers[1].Statements) != 3 {
		t.Fatalf("read back: %v", err)
	}

	for _, tc := range []struct {
		name string
		fb   func() (*FleetBundle, map[string]string)
		want error
		says string
	}{
		{"a cluster's ledgers dropped", func() (*FleetBundle, map[string]string) {
			fb, keys := fleet(t, onTime)
			fb.Clusters = fb.Clusters[:2]
			return fb, keys
		}, ErrLedgerMissing, "cluster edge-b of the fleet has no ledger in the bundle"},
		{"the deleted object's ledger dropped", func() (*FleetBundle, map[string]string) {
			fb, keys := fleet(t, onTime)
			// What is left verifies by itself; c1 and c2 look never told,
			// which the count shows: it cannot be told from a ledger kept
			// short here, only from the cluster's own listing.
			fb.Clusters[0].Ledgers = fb.Clusters[0].Ledgers[1:]
			return fb, keys
		}, nil, "notice announcement: 1 customers"},
		{"a member cut late", func() (*FleetBundle, map[string]string) {
			return fleet(t, map[string]time.Duration{"edge-a": 3 * time.Second})
		}, ErrCutLate, "cluster edge-a cut its routes at 2026-12-30T00:00:03.123Z, 3.123s after the cutoff"},
		{"a member that notified too", func() (*FleetBundle, map[string]string) {
			return fleet(t, onTime, func(ev map[string][]timed) {
				ev["edge-a"] = append([]timed{{noticeSent, &NoticeDelivered{Notice: "announcement", Recipient: RecipientHash(testSalt, "c1"), Channel: "webhook", IdempotencyKey: "other"}}}, ev["edge-a"]...)
			})
		}, ErrNotifiedTwice, "clusters core, edge-a all notified customers"},
		{"the object created again told a customer again", func() (*FleetBundle, map[string]string) {
			return fleet(t, onTime, func(ev map[string][]timed) {
				ev["core-2"] = append([]timed{{noticeSent, &NoticeDelivered{Notice: "announcement", Recipient: RecipientHash(testSalt, "c2"), Channel: "webhook", IdempotencyKey: "new-key"}}}, ev["core-2"]...)
			})
		}, ErrNotifiedTwice, "was told announcement over webhook again (key new-key"},
		{"another withdrawal's bundle", func() (*FleetBundle, map[string]string) {
			fb, keys := fleet(t, onTime)
			fb.ID = "bes/germany"
			return fb, keys
		}, ErrWrongLedger, `the bundle is of withdrawal "bes/germany"; pin the withdrawal you mean to check ("bes/pakistan")`},
		{"a ledger of an earlier release standing in for a member's", func() (*FleetBundle, map[string]string) {
			fb, keys := fleet(t, onTime)
			// Signed by edge-a's key, about a withdrawal of the same name
			// whose statements name no ID: it could be any withdrawal's.
			old := Withdrawal{Namespace: "bes", Name: "pakistan", UID: "uid-old"}
			fb.Clusters[1].Ledgers = []*Bundle{ledgerOf(t, testSigner(t, 2), old, []timed{
				{cutoff, &RoutingSwitched{Mode: "Block451", Cutoff: cutoff}}, {cutoff, &LedgerSealed{Reason: SealCompleted}}})}
			return fb, keys
		}, ErrWrongLedger, `is about withdrawal "", not bes/pakistan`},
		{"a switch time after the step finished", func() (*FleetBundle, map[string]string) {
			return fleet(t, onTime, func(ev map[string][]timed) {
				ev["edge-a"][0].ev.(*RoutingSwitched).SwitchedAt = cutoff.Add(5 * time.Second)
			})
		}, ErrCutLate, "cluster edge-a says its routes were switched at 2026-12-30T00:00:05Z, after the step finished"},
		{"a member cut for another cutoff", func() (*FleetBundle, map[string]string) {
			return fleet(t, onTime, func(ev map[string][]timed) {
				ev["edge-b"] = []timed{{cutoff.Add(time.Hour), &RoutingSwitched{Mode: "Block451", Cutoff: cutoff.Add(time.Hour)}}, {cutoff.Add(time.Hour), &LedgerSealed{Reason: SealCompleted}}}
			})
		}, ErrCutLate, "the clusters cut for different cutoffs: 2026-12-30T00:00:00Z (core, edge-a); 2026-12-30T01:00:00Z (edge-b)"},
		{"a cluster not in the fleet", func() (*FleetBundle, map[string]string) {
			fb, keys := fleet(t, onTime)
			delete(keys, "edge-b")
			return fb, keys
		}, ErrKeyRequired, "cluster edge-b, which is not in the fleet pinned"},
		{"a member signed by another key", func() (*FleetBundle, map[string]string) {
			fb, keys := fleet(t, onTime)
			keys["edge-a"] = keys["edge-b"]
			return fb, keys
		}, ErrKeyMismatch, "cluster edge-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb, keys := tc.fb()
			opts := FleetVerifyOptions{Keys: keys, Tolerance: time.Second, ID: "bes/pakistan"}
			// Held in memory, and streamed from the file export writes.
			var file bytes.Buffer
			if err := WriteFleetBundle(&file, fb); err != nil {
				t.Fatal(err)
			}
			reports := map[string]string{}
			for how, verify := range map[string]func() (*FleetReport, error){
				"in memory": func() (*FleetReport, error) { return VerifyFleet(fb, opts) },
				"streamed":  func() (*FleetReport, error) { return VerifyFleetReader(bytes.NewReader(file.Bytes()), opts) },
			} {
				r, err := verify()
				var out bytes.Buffer
				_ = r.WriteText(&out)
				reports[how] = out.String()
				switch {
				case tc.want == nil && err != nil:
					t.Fatalf("%s: does not verify: %v", how, err)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Fatalf("%s: got %v, want %v\n%s", how, err, tc.want, out.String())
				case !strings.Contains(out.String(), tc.says):
					t.Fatalf("%s: report lacks %q:\n%s", how, tc.says, out.String())
				}
			}
			// The stream is read in step, whatever the check skips.
			if reports["in memory"] != reports["streamed"] {
				t.Fatalf("the reports differ; in memory:\n%s\nstreamed:\n%s", reports["in memory"], reports["streamed"])
			}
		})
	}
}

// TestAFleetBundleStreamed: the file export writes is a gzip stream of
// JSON lines with no base64 in it; one cut short, counting ledgers it
// does not hold, or with more after its last ledger does not verify; and
// a bundle of the first format, one JSON document, still verifies.
func TestAFleetBundleStreamed(t *testing.T) {
	fb, keys := fleet(t, map[string]time.Duration{})
	opts := FleetVerifyOptions{Keys: keys, Tolerance: time.Second, ID: "bes/pakistan"}
	var file bytes.Buffer
	if err := WriteFleetBundle(&file, fb); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	// A head, then per ledger its head and its statements: 4 ledgers of
	// 3, 3, 2 and 2 statements.
	if len(lines) != 1+4+10 || !strings.HasPrefix(lines[0], `{"format":"withdrawal.ops.dev/evidence-fleet-bundle/v2"`) ||
		!strings.HasPrefix(lines[1], `{"format":"withdrawal.ops.dev/evidence-bundle/v2"`) || !strings.HasPrefix(lines[2], `{"payload":`) {
		t.Fatalf("the stream's lines:\n%s", plain)
	}
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		file []byte
		says string
	}{
		{"cut short inside a ledger", gz(strings.Join(lines[:len(lines)-1], "\n") + "\n"), "the bundle holds 1 statements, its head says 2"},
		{"cut short between ledgers", gz(strings.Join(lines[:len(lines)-3], "\n") + "\n"), "empty bundle"},
		{"more after its last ledger", gz(string(plain) + lines[len(lines)-1] + "\n"), "more than the ledgers its head counts"},
		{"the gzip stream cut", file.Bytes()[:file.Len()/2], "cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := VerifyFleetReader(bytes.NewReader(tc.file), opts)
			if !errors.Is(err, ErrMalformed) && !strings.Contains(fmt.Sprint(err), "unexpected EOF") {
				t.Fatalf("got %v, want a malformed bundle", err)
			}
			var out bytes.Buffer
			_ = r.WriteText(&out)
			if !strings.Contains(out.String(), tc.says) {
				t.Fatalf("report lacks %q:\n%s", tc.says, out.String())
			}
		})
	}

	// The first format: one JSON document, its bundles' statements in
	// base64.
	v1 := *fb
	v1.Format = FleetBundleFormatV1
	doc, err := json.Marshal(&v1)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := VerifyFleetReader(bytes.NewReader(doc), opts); err != nil || r.Told["announcement"] != 3 {
		t.Fatalf("a bundle of the first format: %v", err)
	}
	if back, err := ReadFleetBundle(bytes.NewReader(doc)); err != nil || len(back.Clusters) != 3 {
		t.Fatalf("a bundle of the first format read back: %v", err)
	}
}
