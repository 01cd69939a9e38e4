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
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/witness"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
)

// DefaultOperatorNamespace is where docs/walkthrough.md installs the chart.
const DefaultOperatorNamespace = "rwo-system"

func newEvidenceCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Export a withdrawal's signed evidence ledger, and verify it offline",
		Long: `Every withdrawal keeps a signed, append-only evidence ledger (docs/evidence.md).

  kubectl withdrawal evidence key pakistan --checkpoint-file pakistan.checkpoint
  kubectl withdrawal evidence export pakistan -f pakistan.evidence.jsonl.gz
  kubectl withdrawal evidence witness pakistan --witness-url https://witness.example.com --checkpoint-file pakistan.witnessed
  kubectl withdrawal evidence verify pakistan.evidence.jsonl.gz --key 'withdrawal.ops.dev+1a2b3c4d+AQ...' --uid UID --checkpoint pakistan.checkpoint
  kubectl withdrawal evidence verify pakistan.evidence.jsonl.gz --key-file operator.key --salt HEX --recipient cust-0042 --before 2026-12-30T00:00:00+05:00`,
	}
	cmd.AddCommand(newEvidenceKeyCommand(o), newEvidenceExportCommand(o), newEvidenceVerifyCommand(o), newEvidenceWitnessCommand(o))
	o.bindS3Flags(cmd)
	return cmd
}

func newEvidenceKeyCommand(o *Options) *cobra.Command {
	var checkpointFile string
	cmd := &cobra.Command{
		Use:   "key NAME",
		Short: "Print the key a withdrawal's ledger is signed with, and save its latest checkpoint",
		Long: `Prints the verifier key and its full fingerprint from the withdrawal's
status (status.evidence, which only the operator writes), and its UID. With
--checkpoint-file it saves the latest signed checkpoint: keep it, and a bundle
exported later must extend it (verify --checkpoint), so the ledger cannot be
cut short or rewritten behind it unnoticed.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			rw, _, err := o.get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ev := rw.Status.Evidence
			if ev == nil || ev.Key == "" {
				return fmt.Errorf("regionwithdrawal %s/%s has no evidence ledger yet (status.evidence is empty)", rw.Namespace, rw.Name)
			}
			state := "open"
			if ev.Sealed {
				state = "sealed"
			}
			fmt.Fprintf(o.Out, "key %s\nfingerprint %s\nuid %s\nledger %s at %d statements\n", ev.Key, ev.Fingerprint, rw.UID, state, ev.Statements)
			if checkpointFile == "" {
				return nil
			}
			if err := os.WriteFile(checkpointFile, []byte(ev.Checkpoint), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "wrote the checkpoint at size %d to %s\n", ev.Statements, checkpointFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&checkpointFile, "checkpoint-file", "", "Save the ledger's latest signed checkpoint to this file")
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
them and the public key. It checks every checkpoint before it writes. The
bundle is gzipped JSON lines: a head (key, checkpoints, proofs, how many
statements), then each signed statement's exact bytes on a line of its own.

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
	cmd.Flags().StringVarP(&file, "file", "f", "", "Where to write the bundle (default NAME.evidence.jsonl.gz; - for standard output)")
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
	sum, head, err := o.readLedger(ctx, c, name, uid, operatorNS, func(uid types.UID) ([]byte, error) {
		if !withSalt {
			return nil, nil
		}
		k, err := keysecret.Read(ctx, c, operatorNS, keySecret)
		if err != nil {
			return nil, fmt.Errorf("reading the evidence key for the salt: %w", err)
		}
		return ledger.Salt(k, uid), nil
	})
	if err != nil {
		return err
	}
	// The statements are read a second time as they are written: the
	// plugin holds 32 bytes per statement and one shard, never the ledger.
	write := func(w io.Writer) error {
		bw, err := evidence.NewBundleWriter(w, head)
		if err != nil {
			return err
		}
		if err := sum.WriteStatements(ctx, c, operatorNS, bw, o.tileOpener()); err != nil {
			return err
		}
		return bw.Close()
	}
	if file == "" {
		file = name + ".evidence.jsonl.gz"
	}
	if file == "-" {
		return write(o.Out)
	}
	if err := writeFileWith(file, func(w *bufio.Writer) error { return write(w) }); err != nil {
		return err
	}
	fp, _ := evidence.Fingerprint(sum.Key)
	fmt.Fprintf(o.Out, "wrote %s: %d statements, %d checkpoints, key %s, fingerprint %s\n", file, sum.Leaves.Len(), len(sum.Checkpoints), sum.Key, fp)
	return nil
}

// readLedger reads a withdrawal's ledger from the operator's namespace,
// keeping its statements' hashes, and checks it, against the withdrawal's
// status.evidence when there is one: the shards are in a namespace others
// may write. salt gives the bundle's salt from the salt's key.
func (o *Options) readLedger(ctx context.Context, c client.Reader, name string, uid types.UID, operatorNS string, salt func(types.UID) ([]byte, error)) (*ledger.Summary, *evidence.BundleHead, error) {
	ns, err := o.namespace()
	if err != nil {
		return nil, nil, err
	}
	var status *v1.EvidenceStatus
	var knownKey types.UID
	if uid == "" {
		rw, _, err := o.get(ctx, name)
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("regionwithdrawal %s/%s is not there; give the UID of a deleted one with --uid", ns, name)
		}
		if err != nil {
			return nil, nil, err
		}
		uid, status, knownKey = rw.UID, rw.Status.Evidence, rw.IdentityKey()
	}
	sum, err := ledger.Summarize(ctx, c, operatorNS, uid, o.tileOpener())
	if err != nil {
		return nil, nil, err
	}
	if sum.Leaves.Len() == 0 {
		return nil, nil, fmt.Errorf("no evidence ledger for regionwithdrawal %s/%s (UID %s) in namespace %s", ns, name, uid, operatorNS)
	}
	saltKey := knownKey
	if saltKey == "" {
		if saltKey, err = sum.SaltKey(); err != nil {
			return nil, nil, fmt.Errorf("the ledger's first statement: %w", err)
		}
	}
	s, err := salt(saltKey)
	if err != nil {
		return nil, nil, err
	}
	head, err := sum.Head(s)
	if err != nil {
		return nil, nil, fmt.Errorf("the ledger does not check out: %w", err)
	}
	if status != nil && status.Key != "" {
		// The shards are in a namespace others may write: the ledger must
		// be signed by the key the operator recorded in status, and extend
		// the checkpoint it recorded there (same root at its size), before
		// it is handed out. Every later checkpoint was checked against the
		// statements with that key by Head.
		if err := extends(sum, status); err != nil {
			return nil, nil, fmt.Errorf("the ledger in namespace %s does not match status.evidence of regionwithdrawal %s/%s, which the operator wrote: %w", operatorNS, ns, name, err)
		}
	}
	return sum, head, nil
}

// extends checks that a ledger is signed by the key status names and
// holds the checkpoint status recorded.
func extends(sum *ledger.Summary, status *v1.EvidenceStatus) error {
	if sum.Key != status.Key {
		return fmt.Errorf("%w: the shards name the key %s, status %s", evidence.ErrKeyMismatch, sum.Key, status.Key)
	}
	v, err := note.NewVerifier(status.Key)
	if err != nil {
		return err
	}
	cp, err := evidence.OpenCheckpoint([]byte(status.Checkpoint), evidence.Origin(sum.Withdrawal), v)
	if err != nil {
		return fmt.Errorf("%w: the checkpoint in status is not this ledger's: %w", evidence.ErrWrongLedger, err)
	}
	root, err := sum.Leaves.RootAt(cp.Size)
	switch {
	case err != nil:
		return fmt.Errorf("%w: the checkpoint in status is at size %d, the ledger holds %d statements: it was cut short", evidence.ErrPinned, cp.Size, sum.Leaves.Len())
	case !bytes.Equal(root, cp.Hash):
		return fmt.Errorf("%w: the statements before size %d are not those the checkpoint in status signed", evidence.ErrPinned, cp.Size)
	}
	return nil
}

func newEvidenceWitnessCommand(o *Options) *cobra.Command {
	var url, file, operatorNS, uid string
	cmd := &cobra.Command{
		Use:   "witness NAME",
		Short: "Have a witness cosign the ledger's latest checkpoint, and save it",
		Long: `Sends the ledger's latest checkpoint to a witness (C2SP tlog-witness; the
operator's binary serves one: region-withdrawal-operator witness), with the
consistency proof from whatever the witness saw of it before. The witness
cosigns only a checkpoint signed by the operator's key that extends what it
cosigned earlier, so a rewrite of the ledger before that point can no longer
be cosigned. Keep the cosigned checkpoint; verify it later with
'evidence verify BUNDLE --checkpoint FILE --witness-key KEY'. Run it on a
schedule (a CronJob) to keep the witness current.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if url == "" {
				return errors.New("--witness-url is required")
			}
			c, err := o.NewClient()
			if err != nil {
				return err
			}
			sum, _, err := o.readLedger(cmd.Context(), c, args[0], types.UID(uid), operatorNS, func(types.UID) ([]byte, error) { return nil, nil })
			if err != nil {
				return err
			}
			latest := sum.Checkpoints[len(sum.Checkpoints)-1]
			cosigned, err := witness.Cosign(cmd.Context(), &http.Client{Timeout: 30 * time.Second}, url, sum.Leaves, latest)
			if err != nil {
				return err
			}
			if file == "" {
				file = args[0] + ".witnessed"
			}
			if err := os.WriteFile(file, cosigned, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "the witness cosigned the ledger at %d statements; wrote %s\n", sum.Leaves.Len(), file)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "witness-url", "", "The witness's base URL (it answers POST /add-checkpoint)")
	cmd.Flags().StringVar(&file, "checkpoint-file", "", "Where to save the cosigned checkpoint (default NAME.witnessed)")
	cmd.Flags().StringVar(&operatorNS, "operator-namespace", DefaultOperatorNamespace, "The operator's namespace, where the ledgers live")
	cmd.Flags().StringVar(&uid, "uid", "", "The UID of a withdrawal that was deleted")
	return cmd
}

// verifyFlags are verify's flags.
type verifyFlags struct {
	key, keyFile, uid, origin, saltHex, recipient, before string
	checkpoints, witnessKeys                              []string
	allowOpen                                             bool
}

func newEvidenceVerifyCommand(o *Options) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Verify an evidence bundle offline and report what it proves",
		Long: `Checks, without a cluster: every statement's signature, every checkpoint's
signature, that each checkpoint's root is the tree of the statements before it
(so every statement is included), the consistency proofs between checkpoints,
that no event is recorded twice, and that the ledger ends with its seal. Then
prints what the ledger says: notices, exports, drain, routing, approvals.

The operator's key is required (--key, or --key-file): a bundle's own key
proves nothing, since a bundle rewritten and re-signed wholesale carries its
own. Take it from the operator's log, its status.evidence, or
'kubectl withdrawal evidence key NAME', and compare the full fingerprint.
--uid (or --origin) pins the withdrawal, so another withdrawal's ledger signed
by the same key does not pass as this one's. --checkpoint pins a signed
checkpoint seen earlier (status.evidence.checkpoint, saved by 'evidence key
--checkpoint-file'): a ledger rewritten or cut short behind it fails.
--witness-key requires each pinned checkpoint to carry that witness's
cosignature ('evidence witness' gets one): the witness cosigned it only as an
extension of what it saw before, so the pin does not rest on your copy alone.

A withdrawal still running has no seal yet: --allow-open accepts that and
says "open at size N". Without it, a bundle cut short of its seal fails.

With --recipient (and the salt, from the bundle or --salt) and --before, it
answers whether that recipient was told before that time. It exits non-zero
when the bundle does not verify, or the answer is no.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.verifyEvidence(args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.key, "key", "", "The operator's verifier key (withdrawal.ops.dev+<hash>+<key>)")
	cmd.Flags().StringVar(&f.keyFile, "key-file", "", "A file holding the operator's verifier key")
	cmd.Flags().StringVar(&f.uid, "uid", "", "Pin the withdrawal by its UID")
	cmd.Flags().StringVar(&f.origin, "origin", "", "Pin the ledger by its origin (withdrawal.ops.dev/<namespace>/<name>/<uid>)")
	cmd.Flags().StringArrayVar(&f.checkpoints, "checkpoint", nil, "A file holding a signed checkpoint seen earlier, which the bundle must extend (repeatable)")
	cmd.Flags().StringArrayVar(&f.witnessKeys, "witness-key", nil, "A witness's cosignature verifier key: each --checkpoint must carry its valid cosignature (repeatable)")
	cmd.Flags().BoolVar(&f.allowOpen, "allow-open", false, "Accept a ledger without its seal (its withdrawal is still running)")
	cmd.Flags().StringVar(&f.saltHex, "salt", "", "The withdrawal's recipient salt in hex, if the bundle has none")
	cmd.Flags().StringVar(&f.recipient, "recipient", "", "A recipient id to ask about")
	cmd.Flags().StringVar(&f.before, "before", "", "With --recipient: was the recipient told before this time (RFC 3339)")
	return cmd
}

// verifyOptions turns verify's flags into evidence.VerifyOptions.
func (f verifyFlags) verifyOptions() (evidence.VerifyOptions, error) {
	opts := evidence.VerifyOptions{Key: f.key, UID: f.uid, Origin: f.origin, AllowOpen: f.allowOpen, Witnesses: f.witnessKeys}
	switch {
	case f.key != "" && f.keyFile != "":
		return opts, errors.New("give the key once: --key or --key-file")
	case f.keyFile != "":
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return opts, fmt.Errorf("--key-file: %w", err)
		}
		opts.Key = strings.TrimSpace(string(b))
	case f.key == "":
		return opts, errors.New("the operator's verifier key is required (--key or --key-file): a bundle's own key proves nothing. It is in the operator's log, in the withdrawal's status.evidence.key, and printed by 'kubectl withdrawal evidence key NAME'")
	}
	for _, file := range f.checkpoints {
		b, err := os.ReadFile(file)
		if err != nil {
			return opts, fmt.Errorf("--checkpoint: %w", err)
		}
		opts.Checkpoints = append(opts.Checkpoints, b)
	}
	if f.saltHex != "" {
		salt, err := hex.DecodeString(f.saltHex)
		if err != nil {
			return opts, fmt.Errorf("--salt: %w", err)
		}
		opts.Salt = salt
	}
	return opts, nil
}

// errNotTold is the answer "no" to --recipient.
var errNotTold = errors.New("not told")

func (o *Options) verifyEvidence(file string, f verifyFlags) error {
	opts, err := f.verifyOptions()
	if err != nil {
		return err
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	salt := opts.Salt
	opts.Recipient = f.recipient
	// Read as it is checked: a bundle of a million statements is checked
	// in a few hundred MiB, never held whole.
	r, verr := evidence.VerifyReader(in, opts)
	if r != nil {
		if err := r.WriteText(o.Out); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("%s does not verify: %w", file, verr)
	}
	recipient := f.recipient
	if recipient == "" {
		return nil
	}
	deadline := o.Clock.Now()
	if f.before != "" {
		if deadline, err = time.Parse(time.RFC3339, f.before); err != nil {
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
