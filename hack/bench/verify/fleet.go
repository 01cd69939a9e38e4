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

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
)

// fleetClusters are the fleet's: the first the coordinator, which holds
// the deliveries.
var fleetClusters = []string{"pk-core", "pk-edge-1", "pk-edge-2"}

// writeFleet writes fleet.bundle, the withdrawal across three clusters as
// `fleet evidence export` writes it: the coordinator's ledger holds the
// deliveries (sealed by coordinator), and every cluster's ends with its
// routes switched at the cutoff and its seal; and fleet-keys.txt, the
// fleet's keys.
func writeFleet(dir string, coordinator *evidence.Signer, deliveries [][]byte, every int) error {
	fb := &evidence.FleetBundle{Format: evidence.FleetBundleFormat, ID: withdrawal.ID}
	var keys strings.Builder
	for i, cluster := range fleetClusters {
		s, role, w, leaves := coordinator, "Coordinator", withdrawal, deliveries[:len(deliveries):len(deliveries)]
		if i > 0 {
			var err error
			if s, err = evidence.NewSigner("withdrawal.ops.dev", evidence.GenerateSeed()); err != nil {
				return err
			}
			role, leaves = "Member", nil
			w.UID = fmt.Sprintf("%s-%d", withdrawal.UID[:len(withdrawal.UID)-2], i)
		}
		cut, err := s.Seal(w, &evidence.RoutingSwitched{Header: evidence.Header{At: cutoff}, Mode: "Block451", Cutoff: cutoff,
			SwitchedAt: cutoff.Add(time.Duration(10*(i+1)) * time.Millisecond)})
		if err != nil {
			return err
		}
		b, err := bundleOf(s, w, append(leaves, cut), every)
		if err != nil {
			return err
		}
		fb.Clusters = append(fb.Clusters, evidence.FleetCluster{Cluster: cluster, Role: role, Ledgers: []*evidence.Bundle{b}})
		fmt.Fprintf(&keys, "%s %s\n", cluster, s.VerifierKey())
	}
	f, err := os.Create(filepath.Join(dir, "fleet.bundle"))
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := evidence.WriteFleetBundle(bw, fb); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "fleet-keys.txt"), []byte(keys.String()), 0o600)
}

// verifyFleet runs the plugin's `fleet evidence verify` on the bundle
// writeFleet wrote, of n deliveries, and checks it verified all of it.
func verifyFleet(ctx context.Context, plugin, dir string, n int) error {
	file := filepath.Join(dir, "fleet.bundle")
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	m, out, err := measure(ctx, plugin, "fleet", "evidence", "verify", file, "--keys-file", filepath.Join(dir, "fleet-keys.txt"), "--id", withdrawal.ID)
	if err != nil {
		return fmt.Errorf("fleet evidence verify: %w: %s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("across %d clusters", len(fleetClusters)),
		fmt.Sprintf("notice announcement: %d customers told once across the fleet", n),
		"every cluster's ledgers verify; one cluster notified; no customer told twice",
	} {
		if !strings.Contains(out, want) {
			return fmt.Errorf("the plugin's fleet report does not say %q:\n%s", want, out)
		}
	}
	statements := n + 2*len(fleetClusters) // every cluster's cut and seal
	fmt.Printf("\nstreamed fleet verify (`fleet evidence verify`), %d clusters, %d statements, the coordinator's %d deliveries: %.1fs, peak %.1f MiB, %.0f bytes per statement\n",
		len(fleetClusters), statements, n, m.took.Seconds(), m.peakMiB, float64(st.Size())/float64(statements))
	return nil
}
