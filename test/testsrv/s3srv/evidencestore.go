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

package s3srv

import (
	"context"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// Where the tests and benchmarks keep evidence ledgers as tiles.
const (
	EvidenceBucket   = "evidence"
	EvidenceLocation = "s3://" + EvidenceBucket + "/ledgers"
)

// EvidenceIdentities are an evidence store's identities: admin makes the
// bucket; the operator reads, writes and lists it (S3 needs list to answer
// "no such key"); an auditor only reads; an intruder writes too (a leaked
// key, a careless policy), which a ledger must survive.
var EvidenceIdentities = map[string]S3Identity{
	"admin":    {AccessKey: "AKIDADMIN0000000", SecretKey: "admin-secret-key-0000", Actions: []string{"Admin", "Read", "Write", "List"}},
	"operator": {AccessKey: "AKIDOPERATOR0000", SecretKey: "operator-secret-key-0", Actions: []string{"Read:" + EvidenceBucket, "Write:" + EvidenceBucket, "List:" + EvidenceBucket}},
	"auditor":  {AccessKey: "AKIDAUDITOR00000", SecretKey: "auditor-secret-key-00", Actions: []string{"Read:" + EvidenceBucket}},
	"intruder": {AccessKey: "AKIDINTRUDER0000", SecretKey: "intruder-secret-key-0", Actions: []string{"Read:" + EvidenceBucket, "Write:" + EvidenceBucket}},
}

// StartEvidenceStore starts SeaweedFS (bin) on host, its data under dir,
// with EvidenceIdentities and the evidence bucket. Close stops it.
func StartEvidenceStore(ctx context.Context, bin, host, dir string) (*SeaweedFS, error) {
	return StartSeaweedFS(ctx, bin, host, dir, EvidenceIdentities, EvidenceBucket)
}

// Ledgers is EvidenceLocation as identity reaches it; its Store is an
// *s3store.Bucket.
func (s *SeaweedFS) Ledgers(identity string) (*ledger.TileStore, error) {
	c, err := s.Client(identity)
	if err != nil {
		return nil, err
	}
	b, err := s3store.NewBucket(c, EvidenceLocation)
	if err != nil {
		return nil, err
	}
	return &ledger.TileStore{Store: b, Location: EvidenceLocation}, nil
}
