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

package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/transparency-dev/formats/log"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
)

// Cosign asks the witness at baseURL to cosign the last of a ledger's
// checkpoints, proving it consistent with whatever the witness saw before
// (it says which size, in a 409, and the proof is computed from the
// ledger's leaf hashes). It returns the checkpoint with the witness's
// cosignature added.
func Cosign(ctx context.Context, c *http.Client, baseURL string, leaves evidence.LeafHashes, checkpoint []byte) ([]byte, error) {
	text, _, ok := bytes.Cut(checkpoint, []byte("\n\n"))
	if !ok {
		return nil, errors.New("the checkpoint is not a signed note")
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(string(text) + "\n")); err != nil {
		return nil, fmt.Errorf("the checkpoint: %w", err)
	}
	size, old := cp.Size, uint64(0)
	for range 2 {
		hashes, err := leaves.ProveConsistency(old, size)
		if err != nil {
			return nil, err
		}
		var body bytes.Buffer
		fmt.Fprintf(&body, "old %d\n", old)
		for _, h := range hashes {
			fmt.Fprintln(&body, base64.StdEncoding.EncodeToString(h))
		}
		body.WriteString("\n")
		body.Write(checkpoint)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+Path, &body)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("asking the witness: %w", err)
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, maxRequest))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the witness's answer: %w", err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return append(bytes.TrimRight(checkpoint, "\n"), append([]byte("\n"), answer...)...), nil
		case http.StatusConflict:
			// The witness saw the ledger at another size: prove from there.
			seen, err := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64)
			if err != nil || seen == old {
				return nil, fmt.Errorf("the witness answered 409 with %q", answer)
			}
			if seen > size {
				return nil, fmt.Errorf("the witness has cosigned this ledger at size %d, beyond this checkpoint's %d: the ledger was cut short", seen, size)
			}
			old = seen
		default:
			return nil, fmt.Errorf("the witness refused: %s: %s", resp.Status, strings.TrimSpace(string(answer)))
		}
	}
	return nil, errors.New("the witness kept changing its size")
}
