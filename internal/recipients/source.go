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

package recipients

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// maxReportedProblems caps the problems kept for status and Events; the
// count of all problems is always exact.
const maxReportedProblems = 20

// Summary describes a read of every recipient source.
type Summary struct {
	// Recipients is how many distinct valid recipients were read.
	Recipients int64
	// Problems are the first skipped records; ProblemCount counts them all.
	Problems     []Problem
	ProblemCount int
	// Duplicates lists the first ids seen more than once; DuplicateCount
	// counts them all. A duplicate is notified once.
	Duplicates     []string
	DuplicateCount int
	// Unread names sources this reader does not read (the paged HTTP source
	// is read by the notifier when it sends).
	Unread []string
}

// Objects reads recipients from the ConfigMaps and Secrets a withdrawal
// names, and from its paged HTTP source when HTTP is set.
type Objects struct {
	// Reader reads the ConfigMaps and Secrets. Pass an uncached reader:
	// recipient lists are large, and caching every ConfigMap of the cluster
	// to read a few would cost more memory than the lists themselves.
	Reader client.Reader
	// HTTP reads the paged HTTP source. Without it the source is listed in
	// Summary.Unread and not read (the rehearsal does not call out).
	HTTP *HTTPPager
}

// Each calls fn once for every distinct valid recipient, in source order.
func (o *Objects) Each(ctx context.Context, rw *v1.RegionWithdrawal, fn func(Recipient) error) (*Summary, error) {
	sum := &Summary{}
	if rw.Spec.Notify == nil {
		return sum, nil
	}
	seen := map[string]struct{}{}
	visit := func(r Recipient) error {
		if _, dup := seen[r.ID]; dup {
			sum.DuplicateCount++
			if len(sum.Duplicates) < maxReportedProblems {
				sum.Duplicates = append(sum.Duplicates, r.ID)
			}
			return nil
		}
		seen[r.ID] = struct{}{}
		sum.Recipients++
		return fn(r)
	}
	read := func(kind, name string, data map[string][]byte, ref v1.RecipientObjectRef) error {
		keys := ref.Keys
		if len(keys) == 0 {
			for k := range data {
				keys = append(keys, k)
			}
			slices.Sort(keys)
		}
		for _, k := range keys {
			b, ok := data[k]
			if !ok {
				return fmt.Errorf("%s %s/%s has no key %q", kind, rw.Namespace, name, k)
			}
			source := fmt.Sprintf("%s %s/%s key %s", kind, rw.Namespace, name, k)
			problems, err := Parse(bytes.NewReader(b), ref.Format, source, visit)
			if err != nil {
				return err
			}
			sum.ProblemCount += len(problems)
			for _, p := range problems {
				if len(sum.Problems) < maxReportedProblems {
					sum.Problems = append(sum.Problems, p)
				}
			}
		}
		return nil
	}
	src := rw.Spec.Notify.Recipients
	for _, ref := range src.ConfigMaps {
		var cm corev1.ConfigMap
		if err := o.Reader.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: ref.Name}, &cm); err != nil {
			return sum, fmt.Errorf("reading recipients from ConfigMap %s/%s: %w", rw.Namespace, ref.Name, err)
		}
		data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		if err := read("ConfigMap", ref.Name, data, ref); err != nil {
			return sum, err
		}
	}
	for _, ref := range src.Secrets {
		var s corev1.Secret
		if err := o.Reader.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: ref.Name}, &s); err != nil {
			return sum, fmt.Errorf("reading recipients from Secret %s/%s: %w", rw.Namespace, ref.Name, err)
		}
		if err := read("Secret", ref.Name, s.Data, ref); err != nil {
			return sum, err
		}
	}
	if src.HTTP != nil {
		if o.HTTP == nil {
			sum.Unread = append(sum.Unread, "http source "+redactURL(src.HTTP.URL))
			return sum, nil
		}
		headers := map[string]string{}
		if ref := src.HTTP.HeadersSecretRef; ref != nil {
			var s corev1.Secret
			if err := o.Reader.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: ref.Name}, &s); err != nil {
				return sum, fmt.Errorf("reading the headers of the http recipient source from Secret %s/%s: %w", rw.Namespace, ref.Name, err)
			}
			for k, v := range s.Data {
				headers[k] = string(v)
			}
		}
		err := o.HTTP.Pages(ctx, src.HTTP, headers, func(_ int, source string, body io.Reader) error {
			problems, err := Parse(body, v1.RecipientFormatJSONLines, source, visit)
			sum.ProblemCount += len(problems)
			for _, p := range problems {
				if len(sum.Problems) < maxReportedProblems {
					sum.Problems = append(sum.Problems, p)
				}
			}
			return err
		})
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// redactURL drops the query, which often carries a token.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
