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

package notify

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"text/template/parse"
	"time"

	"k8s.io/utils/clock"
)

// What a notice template may cost. Templates are a marketing team's input,
// rendered once per recipient by the process that serves every tenant: a
// template must not be able to take it down.
const (
	// MaxSubjectBytes, MaxTextBytes and MaxHTMLBytes cap what one notice
	// renders to; a template that renders more is refused.
	MaxSubjectBytes = 1 << 10
	MaxTextBytes    = 64 << 10
	MaxHTMLBytes    = 128 << 10
	// RenderDeadline bounds rendering one part of one notice.
	RenderDeadline = time.Second
	// maxRangeDepth bounds nested {{range}}: with at most 64 free fields a
	// recipient, three levels are 262,144 iterations.
	maxRangeDepth = 3
)

var errRenderLimit = errors.New("render limit")

// limitedBuffer fails a write that would take it over max bytes or past
// its deadline: the template's execution stops there.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	clock    clock.PassiveClock
	deadline time.Time
}

func newLimitedBuffer(max int, clk clock.PassiveClock) *limitedBuffer {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &limitedBuffer{max: max, clock: clk, deadline: clk.Now().Add(RenderDeadline)}
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: renders over %d bytes", errRenderLimit, b.max)
	}
	if b.clock.Now().After(b.deadline) {
		return 0, fmt.Errorf("%w: takes over %s to render", errRenderLimit, RenderDeadline)
	}
	return b.Buffer.Write(p)
}

// checkTrees refuses what could run without end or without output, where
// neither cap would stop it: {{range}} over anything but
// .Recipient.Fields (a number literal, a variable, a function's result), {{range}}
// nested deeper than maxRangeDepth, and {{template}} calls that recurse.
// trees are the set's templates by name.
func checkTrees(trees map[string]*parse.Tree) error {
	calls := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(trees)) {
		t := trees[name]
		if t == nil || t.Root == nil {
			continue
		}
		if err := walk(t.Root, 0, func(callee string) { calls[name] = append(calls[name], callee) }); err != nil {
			return fmt.Errorf("template %q: %w", name, err)
		}
	}
	return noCycle(calls)
}

func walk(n parse.Node, depth int, called func(string)) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(c, depth, called); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		if depth+1 > maxRangeDepth {
			return fmt.Errorf("{{range}} nested deeper than %d", maxRangeDepth)
		}
		if !rangesOverData(n.Pipe) {
			return fmt.Errorf("{{range %s}}: range only over .Recipient.Fields", n.Pipe)
		}
		if err := walk(n.List, depth+1, called); err != nil {
			return err
		}
		return walk(n.ElseList, depth, called)
	case *parse.IfNode:
		if err := walk(n.List, depth, called); err != nil {
			return err
		}
		return walk(n.ElseList, depth, called)
	case *parse.WithNode:
		if err := walk(n.List, depth, called); err != nil {
			return err
		}
		return walk(n.ElseList, depth, called)
	case *parse.TemplateNode:
		called(n.Name)
	}
	return nil
}

// rangesOverData reports a pipeline that is .Recipient.Fields (or
// $.Recipient.Fields): the one collection in Data, at most MaxFields long.
// Anything else could be a number as large as the template likes, and a
// range that writes nothing is stopped by neither cap.
func rangesOverData(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	var ident []string
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		ident = a.Ident
	case *parse.VariableNode:
		if len(a.Ident) == 0 || a.Ident[0] != "$" {
			return false
		}
		ident = a.Ident[1:]
	}
	return slices.Equal(ident, []string{"Recipient", "Fields"})
}

// noCycle refuses a {{template}} call graph with a cycle.
func noCycle(calls map[string][]string) error {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(string, []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case active:
			return fmt.Errorf("{{template %q}} calls itself (%v): templates may not recurse", name, append(path, name))
		case done:
			return nil
		}
		state[name] = active
		for _, c := range calls[name] {
			if err := visit(c, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		if err := visit(name, nil); err != nil {
			return err
		}
	}
	return nil
}
