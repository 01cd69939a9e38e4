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

package render

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template/parse"
	"time"

	"k8s.io/utils/clock"

	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
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
	// Deadline bounds rendering one part of one notice, where it
	// writes: the work bound below is what stops a template that spins
	// without writing.
	Deadline = time.Second
	// MaxSteps bounds the work one part of one notice may take, as
	// counted by renderSteps from the template's shape before anything is
	// rendered: every node is a step, a {{range}} runs its body once per
	// free field (at most recipients.MaxFields), and a {{template}} call
	// costs what the template it calls costs. Ranges three deep over 64
	// fields, with a few actions inside, fit; the same through a
	// {{template}} call into another three deep (64^6 iterations, minutes
	// of a core) does not. Enforced on the shape, the bound holds whatever
	// the data, and a template over it is refused when the withdrawal is
	// applied, not when its notice is due.
	MaxSteps = 1 << 21
	// maxPrintfWidth bounds a width or precision in a printf format: each
	// call could otherwise make a string of up to a million bytes that
	// nothing writes (so neither cap sees it) once per iteration.
	maxPrintfWidth = 1024
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
	return &limitedBuffer{max: max, clock: clk, deadline: clk.Now().Add(Deadline)}
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: renders over %d bytes", errRenderLimit, b.max)
	}
	if b.clock.Now().After(b.deadline) {
		return 0, fmt.Errorf("%w: takes over %s to render", errRenderLimit, Deadline)
	}
	return b.Buffer.Write(p)
}

// checkTrees refuses what could run without end, or long, where neither
// the output cap nor the deadline would stop it because nothing is
// written: {{range}} over anything but .Recipient.Fields (a number
// literal, a variable, a function's result), {{template}} calls that
// recurse, work over MaxSteps, and printf widths over
// maxPrintfWidth. trees are the set's templates by name.
func checkTrees(trees map[string]*parse.Tree) error {
	calls := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(trees)) {
		t := trees[name]
		if t == nil || t.Root == nil {
			continue
		}
		if err := walk(t.Root, func(callee string) { calls[name] = append(calls[name], callee) }); err != nil {
			return fmt.Errorf("template %q: %w", name, err)
		}
	}
	if err := noCycle(calls); err != nil {
		return err
	}
	steps := renderSteps(trees)
	for _, name := range slices.Sorted(maps.Keys(trees)) {
		if n := steps.of(name); n > MaxSteps {
			return fmt.Errorf("template %q: may take over %d steps to render for a recipient with %d free fields, over the limit of %d: "+
				"each {{range}} multiplies what it holds by up to %d, through {{template}} calls too",
				name, min(n, MaxSteps*recipients.MaxFields), recipients.MaxFields, MaxSteps, recipients.MaxFields)
		}
	}
	return nil
}

func walk(n parse.Node, called func(string)) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(c, called); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkPipe(n.Pipe)
	case *parse.RangeNode:
		if !rangesOverData(n.Pipe) {
			return fmt.Errorf("{{range %s}}: range only over .Recipient.Fields", n.Pipe)
		}
		return walkBranches(&n.BranchNode, called)
	case *parse.IfNode:
		return walkBranches(&n.BranchNode, called)
	case *parse.WithNode:
		return walkBranches(&n.BranchNode, called)
	case *parse.TemplateNode:
		called(n.Name)
		return checkPipe(n.Pipe)
	}
	return nil
}

func walkBranches(b *parse.BranchNode, called func(string)) error {
	if err := checkPipe(b.Pipe); err != nil {
		return err
	}
	if err := walk(b.List, called); err != nil {
		return err
	}
	return walk(b.ElseList, called)
}

// checkPipe refuses a printf whose format is not a literal, or whose
// literal format asks for a width or precision over maxPrintfWidth (or
// takes one from an argument, with *).
func checkPipe(p *parse.PipeNode) error {
	if p == nil {
		return nil
	}
	for _, c := range p.Cmds {
		if len(c.Args) > 0 {
			if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "printf" {
				if err := checkPrintf(c); err != nil {
					return err
				}
			}
		}
		for _, a := range c.Args {
			if inner, ok := a.(*parse.PipeNode); ok {
				if err := checkPipe(inner); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkPrintf(c *parse.CommandNode) error {
	if len(c.Args) < 2 {
		return nil
	}
	f, ok := c.Args[1].(*parse.StringNode)
	if !ok {
		return fmt.Errorf("{{%s}}: printf's format must be a quoted string", c)
	}
	format := f.Text
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.ContainsRune("+-# 0", rune(format[i])) {
			i++
		}
		for _, part := range []string{"width", "precision"} {
			if part == "precision" {
				if i >= len(format) || format[i] != '.' {
					break
				}
				i++
			}
			n := 0
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				n = min(n*10+int(format[i]-'0'), maxPrintfWidth+1)
				i++
			}
			if i < len(format) && format[i] == '*' {
				return fmt.Errorf("{{%s}}: a printf %s may not come from an argument (*)", c, part)
			}
			if n > maxPrintfWidth {
				return fmt.Errorf("{{%s}}: a printf %s over %d", c, part, maxPrintfWidth)
			}
		}
	}
	return nil
}

// stepCounter counts, once per template, the steps rendering it may take
// (see MaxSteps). Counts saturate just over the limit's reach, so
// that no product overflows. Call it only on trees without a call cycle.
type stepCounter struct {
	trees map[string]*parse.Tree
	memo  map[string]int64
}

func renderSteps(trees map[string]*parse.Tree) *stepCounter {
	return &stepCounter{trees: trees, memo: map[string]int64{}}
}

// stepCap is where counts stop growing: any count this high is refused.
const stepCap = int64(MaxSteps) * recipients.MaxFields

func (s *stepCounter) of(name string) int64 {
	if n, ok := s.memo[name]; ok {
		return n
	}
	var n int64
	if t := s.trees[name]; t != nil && t.Root != nil {
		n = s.node(t.Root)
	}
	s.memo[name] = n
	return n
}

func (s *stepCounter) node(n parse.Node) int64 {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return 0
		}
		var sum int64
		for _, c := range n.Nodes {
			sum = min(sum+s.node(c), stepCap)
		}
		return sum
	case *parse.RangeNode:
		body := min(recipients.MaxFields*(1+s.node(n.List)), stepCap)
		return min(1+max(body, s.node(n.ElseList)), stepCap)
	case *parse.IfNode:
		return min(1+max(s.node(n.List), s.node(n.ElseList)), stepCap)
	case *parse.WithNode:
		return min(1+max(s.node(n.List), s.node(n.ElseList)), stepCap)
	case *parse.TemplateNode:
		return min(1+s.of(n.Name), stepCap)
	default:
		return 1
	}
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
