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

// Package bare measures the limit a controller's writes run against: the
// same writes made by a bare client, with no controller logic, from a
// common start.
package bare

import (
	"fmt"
	"sync"
	"time"
)

// Writes calls write(0..n-1), workers at a time, all from one start, and
// returns how long after that start each call returned.
func Writes(n, workers int, write func(i int) error) ([]time.Duration, error) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var (
		mu   sync.Mutex
		ds   []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				err := write(i)
				d := time.Since(start)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ds = append(ds, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return ds, fmt.Errorf("%d of %d bare writes failed, the first: %w", len(errs), n, errs[0])
	}
	return ds, nil
}
