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
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
)

// fleetLedgerTimeout bounds each read of one cluster's ledgers, which may
// be large: the first, keeping their hashes, and the second, writing them.
const fleetLedgerTimeout = 2 * time.Minute

func newFleetEvidenceCommand(o *Options, contexts *[]string) *cobra.Command {
	cmd := &cobra.Command{Use: "evidence", Short: "One evidence bundle of every cluster's ledgers, and its verification as a whole"}
	var file, keysOut, operatorNS string
	export := &cobra.Command{
		Use:   "export NAME",
		Short: "Gather the ledgers of withdrawal NAME from every cluster into one bundle",
		Long: `Reads, in each kubeconfig context (--contexts, or every context), the withdrawal
NAME and every evidence ledger kept under its ID (a withdrawal deleted and
created again leaves two), checks the current one against the withdrawal's
status.evidence, and writes them as one fleet bundle: a gzip stream of JSON
lines, read a statement at a time by verify. --keys-out writes each
cluster's verifier key as its status gives it, one "context key" line each:
compare the fingerprints with each operator's before you verify with it.
A cluster that cannot be read fails the export: a bundle without it would not
verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.exportFleetEvidence(cmd.Context(), args[0], *contexts, operatorNS, file, keysOut)
		},
	}
	export.Flags().StringVarP(&file, "file", "f", "", "Where to write the fleet bundle (default NAME.fleet-evidence.jsonl.gz)")
	export.Flags().StringVar(&keysOut, "keys-out", "", "Write each cluster's verifier key (from its status) to this file")
	export.Flags().StringVar(&operatorNS, "operator-namespace", DefaultOperatorNamespace, "The operator's namespace in every cluster, where the ledgers live")

	var keysFile, id string
	var tolerance time.Duration
	var allowOpen bool
	verify := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Verify a fleet bundle offline, as a whole",
		Long: `Checks, without a cluster: that the bundle is of withdrawal --id
(namespace/withdrawalID, the name when it sets none); that every cluster of
the fleet (--keys-file, one "cluster key" line each) is in the bundle and no
other; that each cluster's ledgers verify under that cluster's key, as
'evidence verify' checks one; that every statement is about that withdrawal;
that every cluster cut its routes for one cutoff, no later than it plus
--tolerance; that only one cluster notified customers, and that no customer
was told a notice twice. It exits non-zero when the bundle does not verify.
--allow-open accepts a withdrawal still running: open ledgers, clusters not
cut yet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.verifyFleetEvidence(args[0], keysFile, id, tolerance, allowOpen)
		},
	}
	verify.Flags().StringVar(&keysFile, "keys-file", "", `The fleet: one "cluster key" line per cluster (what export --keys-out writes, checked)`)
	verify.Flags().StringVar(&id, "id", "", "The withdrawal the bundle must be of: namespace/withdrawalID (required)")
	verify.Flags().DurationVar(&tolerance, "tolerance", time.Second, "How long after the cutoff a cluster may cut its routes")
	verify.Flags().BoolVar(&allowOpen, "allow-open", false, "Accept a withdrawal still running")
	cmd.AddCommand(export, verify)
	o.bindS3Flags(cmd)
	return cmd
}

// fleetLedgers is what one cluster gave: its withdrawal, and its ledgers
// read once, keeping each statement's hash (32 bytes), and checked.
type fleetLedgers struct {
	context string
	client  client.Reader
	rw      *v1.RegionWithdrawal
	ledgers []fleetLedger
	err     error
}

// fleetLedger is one ledger of a cluster.
type fleetLedger struct {
	sum  *ledger.Summary
	head *evidence.BundleHead
}

func (o *Options) exportFleetEvidence(ctx context.Context, name string, contexts []string, operatorNS, file, keysOut string) error {
	contexts, err := o.fleetContexts(contexts)
	if err != nil {
		return err
	}
	got := make([]fleetLedgers, len(contexts))
	var wg sync.WaitGroup
	for i, kc := range contexts {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, fleetLedgerTimeout)
			defer cancel()
			got[i] = o.readFleetLedgers(rctx, kc, name, operatorNS)
		})
	}
	wg.Wait()
	var errs []error
	for _, g := range got {
		if g.err != nil {
			errs = append(errs, fmt.Errorf("context %s: %w", g.context, g.err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	head := &evidence.FleetHead{ID: got[0].rw.ID()}
	var keys strings.Builder
	for _, g := range got {
		if g.rw.ID() != head.ID {
			return fmt.Errorf("context %s holds withdrawal %s, context %s withdrawal %s: not one withdrawal (set the same spec.withdrawalID, in the same namespace)",
				got[0].context, head.ID, g.context, g.rw.ID())
		}
		role := string(v1.FleetCoordinator)
		if f := g.rw.Status.Fleet; f != nil && f.Role != "" {
			role = string(f.Role)
		}
		head.Clusters = append(head.Clusters, evidence.FleetClusterHead{Cluster: g.context, Role: role, Ledgers: len(g.ledgers)})
		fmt.Fprintf(&keys, "%s %s\n", g.context, g.rw.Status.Evidence.Key)
	}
	// The statements are read a second time, a cluster at a time, as
	// they are written: each must be the one hashed on the first read.
	write := func(w *bufio.Writer) error {
		fw, err := evidence.NewFleetBundleWriter(w, head)
		if err != nil {
			return err
		}
		for _, g := range got {
			wctx, cancel := context.WithTimeout(ctx, fleetLedgerTimeout)
			err := g.write(wctx, fw, operatorNS, o.tileOpener())
			cancel()
			if err != nil {
				return fmt.Errorf("context %s: %w", g.context, err)
			}
		}
		return fw.Close()
	}
	if file == "" {
		file = name + ".fleet-evidence.jsonl.gz"
	}
	if err := writeFileWith(file, write); err != nil {
		return err
	}
	if keysOut != "" {
		if err := os.WriteFile(keysOut, []byte(keys.String()), 0o644); err != nil {
			return err
		}
	}
	for _, g := range got {
		fp, _ := evidence.Fingerprint(g.rw.Status.Evidence.Key)
		fmt.Fprintf(o.Out, "%s: %d ledgers, key fingerprint %s\n", g.context, len(g.ledgers), fp)
	}
	fmt.Fprintf(o.Out, "wrote %s: withdrawal %s across %d clusters\n", file, head.ID, len(head.Clusters))
	return nil
}

// write writes the cluster's ledgers to fw.
func (g *fleetLedgers) write(ctx context.Context, fw *evidence.FleetBundleWriter, operatorNS string, opts ...ledger.ReadOption) error {
	for _, l := range g.ledgers {
		bw, err := fw.Ledger(l.head)
		if err != nil {
			return err
		}
		if err := l.sum.WriteStatements(ctx, g.client, operatorNS, bw, opts...); err != nil {
			return err
		}
		if err := bw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// readFleetLedgers reads withdrawal name and its ledgers in context kc.
func (o *Options) readFleetLedgers(ctx context.Context, kc, name, operatorNS string) fleetLedgers {
	g := fleetLedgers{context: kc}
	c, _, err := o.NewClientFor(kc)
	if err != nil {
		g.err = err
		return g
	}
	g.client = c
	if g.rw, g.err = o.readIn(ctx, kc, name); g.err != nil {
		return g
	}
	status := g.rw.Status.Evidence
	if status == nil || status.Key == "" {
		g.err = fmt.Errorf("withdrawal %s has no evidence ledger yet (status.evidence is empty)", name)
		return g
	}
	uids, err := ledger.LedgersOf(ctx, c, operatorNS, g.rw.ID())
	if err != nil {
		g.err = err
		return g
	}
	if !slices.Contains(uids, g.rw.UID) {
		uids = append(uids, g.rw.UID) // begun by an earlier release: no ID on its shards
	}
	// The current object's last, whoever was created when.
	uids = append(slices.DeleteFunc(uids, func(u types.UID) bool { return u == g.rw.UID }), g.rw.UID)
	for _, uid := range uids {
		sum, err := ledger.Summarize(ctx, c, operatorNS, uid, o.tileOpener())
		if err != nil {
			g.err = err
			return g
		}
		head, err := sum.Head(nil)
		if err != nil {
			g.err = fmt.Errorf("the ledger of UID %s does not check out: %w", uid, err)
			return g
		}
		if uid == g.rw.UID {
			// The shards are in a namespace others may write: check them
			// against what the operator recorded before handing them out.
			if err := extends(sum, status); err != nil {
				g.err = fmt.Errorf("the ledger in namespace %s does not match status.evidence, which the operator wrote: %w", operatorNS, err)
				return g
			}
		}
		g.ledgers = append(g.ledgers, fleetLedger{sum: sum, head: head})
	}
	return g
}

func (o *Options) verifyFleetEvidence(file, keysFile, id string, tolerance time.Duration, allowOpen bool) error {
	if id == "" {
		return errors.New("--id is required: the withdrawal the bundle must be of (namespace/withdrawalID, the name when it sets none); a bundle's own says nothing")
	}
	if keysFile == "" {
		return errors.New(`--keys-file is required: the fleet, one "cluster key" line per cluster. A bundle's own keys prove nothing; take each from that cluster's status.evidence.key (export --keys-out) and compare the fingerprints`)
	}
	keys, err := readFleetKeys(keysFile)
	if err != nil {
		return err
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	r, verr := evidence.VerifyFleetReader(in, evidence.FleetVerifyOptions{Keys: keys, Tolerance: tolerance, AllowOpen: allowOpen, ID: id})
	if err := r.WriteText(o.Out); err != nil {
		return err
	}
	if verr != nil {
		return fmt.Errorf("%s does not verify: %w", file, verr)
	}
	return nil
}

// readFleetKeys reads "cluster key" lines; # starts a comment.
func readFleetKeys(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"cluster key\", got %q", file, i+1, line)
		}
		if _, dup := keys[f[0]]; dup {
			return nil, fmt.Errorf("%s:%d: cluster %s named twice", file, i+1, f[0])
		}
		keys[f[0]] = f[1]
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s names no cluster", file)
	}
	return keys, nil
}

// writeFileWith writes a file through a buffered writer.
func writeFileWith(file string, write func(*bufio.Writer) error) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
