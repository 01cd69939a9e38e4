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

package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// Copier keeps a copy of each shard outside the cluster, as it grows: a
// ledger then outlives the cluster too. The cluster stays the record the
// operator counts on; a copy that fails is tried again at the next append.
type Copier interface {
	// Copy stores body under name, replacing what is there: a shard is
	// copied again each time it grows.
	Copy(ctx context.Context, name string, body []byte) error
}

// HTTPCopier PUTs each shard to BaseURL/<withdrawal UID>/<shard>.json, the
// shard's ConfigMap as JSON (what `kubectl get -o json` prints): an object
// store bucket's URL, or a pre-signed prefix.
type HTTPCopier struct {
	// BaseURL is where the copies go; see CheckCopyURL.
	BaseURL string
	// Client makes the requests; a client with a 30 s timeout when nil.
	Client *http.Client
}

// CheckCopyURL refuses a copy URL that is not http(s) with a host, or that
// carries a query or fragment (a shard's name is appended to its path).
func CheckCopyURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: want an https URL", s)
	case u.Host == "":
		return fmt.Errorf("%q: no host", s)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: a shard's name is appended to the path: no query or fragment", s)
	}
	return nil
}

// Copy PUTs body to the copy's URL.
func (c *HTTPCopier) Copy(ctx context.Context, name string, body []byte) error {
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	target := strings.TrimRight(c.BaseURL, "/") + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// The error names the URL, which may carry a credential in its
		// user part: name the shard only.
		return fmt.Errorf("copying evidence shard %s: %w", name, unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("copying evidence shard %s: the store answered %d %s", name, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// CopyName is where a shard's copy goes, under the copy URL.
func CopyName(cm *corev1.ConfigMap) string {
	return cm.Labels[executor.LabelWithdrawalUID] + "/" + cm.Labels[LabelShard] + ".json"
}

// copyShards copies the shards written since their last copy: the one
// just written, and any whose copy failed before (or that a new process
// found, not knowing whether they were copied). A shard whose copy fails is
// kept for the next append; the append itself does not fail.
func (l *Ledger) copyShards(ctx context.Context, lg *log) {
	if l.CopyTo == nil {
		return
	}
	for name, cm := range lg.uncopied {
		out := cm.DeepCopy()
		out.APIVersion, out.Kind = "v1", "ConfigMap"
		out.ManagedFields = nil
		body, err := json.Marshal(out)
		if err == nil {
			err = l.CopyTo.Copy(ctx, CopyName(cm), body)
		}
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Failed to copy an evidence shard; it is copied again at the next append", "shard", name)
			continue
		}
		delete(lg.uncopied, name)
	}
}
