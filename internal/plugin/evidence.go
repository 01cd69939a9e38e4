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
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
)

// DefaultOperatorNamespace is where docs/walkthrough.md installs the chart.
const DefaultOperatorNamespace = "rwo-system"

func newEvidenceCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Export a withdrawal's signed evidence ledger, and verify it offline",
		Long: `Every withdrawal keeps a signed, append-only evidence ledger (docs/evidence.md).

  kubectl withdrawal evidence export pakistan -f pakistan.evidence.json
  kubectl withdrawal evidence verify pakistan.evidence.json --key 'withdrawal.ops.dev+1a2b3c4d+AQ...'
  kubectl withdrawal evidence verify pakistan.evidence.json --salt HEX --recipient cust-0042 --before 2026-12-30T00:00:00+05:00`,
	}
	cmd.AddCommand(newEvidenceExportCommand(o), newEvidenceVerifyCommand(o))
	return cmd
}

func newEvidenceExportCommand(o *Options) *cobra.Command {
	var (
		file, operatorNS, uid, keySecret string
		withSalt                         bool
	)
	cmd := &cobra.Command{
		Use:   "export NAME",
		Short: "Write a withdrawal's evidence ledger as a self-contained bundle",
		Long: `Reads the ledger's shards from the operator's namespace and writes one bundle:
the signed statements, the signed checkpoints, the consistency proofs between
them and the public key. It checks every checkpoint before it writes.

A deleted withdrawal's ledger stays; export it with --uid. --with-salt adds the
withdrawal's recipient salt (read from the evidence key Secret), which lets the
holder of the bundle ask whether a given recipient was told: leave it out to
share the bundle, and give the salt only to whoever must ask.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.exportEvidence(cmd.Context(), args[0], types.UID(uid), operatorNS, keySecret, file, withSalt)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Where to write the bundle (default NAME.evidence.json; - for standard output)")
	cmd.Flags().StringVar(&operatorNS, "operator-namespace", DefaultOperatorNamespace, "The operator's namespace, where the ledgers live")
	cmd.Flags().StringVar(&uid, "uid", "", "The UID of a withdrawal that was deleted")
	cmd.Flags().StringVar(&keySecret, "key-secret", "region-withdrawal-operator-evidence-key", "The evidence key Secret in --operator-namespace (for --with-salt)")
	cmd.Flags().BoolVar(&withSalt, "with-salt", false, "Include the recipient salt (needs read access to the evidence key Secret)")
	return cmd
}

func (o *Options) exportEvidence(ctx context.Context, name string, uid types.UID, operatorNS, keySecret, file string, withSalt bool) error {
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	if uid == "" {
		rw, _, err := o.get(ctx, name)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("regionwithdrawal %s/%s is not there; give the UID of a deleted one with --uid", ns, name)
		}
		if err != nil {
			return err
		}
		uid = rw.UID
	}
	contents, err := ledger.Read(ctx, c, operatorNS, uid)
	if err != nil {
		return err
	}
	if len(contents.Leaves) == 0 {
		return fmt.Errorf("no evidence ledger for regionwithdrawal %s/%s (UID %s) in namespace %s", ns, name, uid, operatorNS)
	}
	var salt []byte
	if withSalt {
		k, err := keysecret.Read(ctx, c, operatorNS, keySecret)
		if err != nil {
			return fmt.Errorf("reading the evidence key for the salt: %w", err)
		}
		salt = ledger.Salt(k, uid)
	}
	b, err := contents.Bundle(salt)
	if err != nil {
		return fmt.Errorf("the ledger does not check out: %w", err)
	}
	if file == "" {
		file = name + ".evidence.json"
	}
	out := o.Out
	if file != "-" {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		if err := evidence.WriteBundle(bw, b); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "wrote %s: %d statements, %d checkpoints, key %s\n", file, len(contents.Leaves), len(contents.Checkpoints), contents.Key)
		return nil
	}
	return evidence.WriteBundle(out, b)
}

func newEvidenceVerifyCommand(o *Options) *cobra.Command {
	var (
		key, saltHex, recipient, before string
	)
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Verify an evidence bundle offline and report what it proves",
		Long: `Checks, without a cluster: every statement's signature, every checkpoint's
signature, that each checkpoint's root is the tree of the statements before it
(so every statement is included), the consistency proofs between checkpoints,
and that no two different statements record the same event. Then prints what
the ledger says: notices, exports, drain, routing, approvals.

Pin the operator's key with --key (the operator logs it at start): a bundle
re-signed wholesale with another key is caught only against a pinned key.
With --recipient (and the salt, from the bundle or --salt) and --before, it
answers whether that recipient was told before that time. It exits non-zero
when the bundle does not verify, or the answer is no.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.verifyEvidence(args[0], key, saltHex, recipient, before)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "The verifier key to pin (withdrawal.ops.dev+<hash>+<key>)")
	cmd.Flags().StringVar(&saltHex, "salt", "", "The withdrawal's recipient salt in hex, if the bundle has none")
	cmd.Flags().StringVar(&recipient, "recipient", "", "A recipient id to ask about")
	cmd.Flags().StringVar(&before, "before", "", "With --recipient: was the recipient told before this time (RFC 3339)")
	return cmd
}

// errNotTold is the answer "no" to --recipient.
var errNotTold = errors.New("not told")

func (o *Options) verifyEvidence(file, key, saltHex, recipient, before string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := evidence.ReadBundle(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var salt []byte
	if saltHex != "" {
		if salt, err = hex.DecodeString(saltHex); err != nil {
			return fmt.Errorf("--salt: %w", err)
		}
	}
	r, verr := evidence.Verify(b, evidence.VerifyOptions{Key: key, Salt: salt})
	if r != nil {
		if err := r.WriteText(o.Out); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("%s does not verify: %w", file, verr)
	}
	if recipient == "" {
		return nil
	}
	deadline := o.Clock.Now()
	if before != "" {
		if deadline, err = time.Parse(time.RFC3339, before); err != nil {
			return fmt.Errorf("--before: %w", err)
		}
	}
	if salt == nil {
		salt = r.Salt
	}
	if salt == nil {
		return errors.New("--recipient needs the withdrawal's salt: the bundle has none; give it with --salt")
	}
	told, entries := r.ToldBefore(recipient, salt, deadline)
	for _, e := range entries {
		fmt.Fprintf(o.Out, "  statement %d: %s\n", e.Index, e.Key)
	}
	if !told {
		fmt.Fprintf(o.Out, "%s was NOT told before %s\n", recipient, deadline.Format(time.RFC3339))
		return fmt.Errorf("%s: %w before %s", recipient, errNotTold, deadline.Format(time.RFC3339))
	}
	fmt.Fprintf(o.Out, "%s was told before %s\n", recipient, deadline.Format(time.RFC3339))
	return nil
}
