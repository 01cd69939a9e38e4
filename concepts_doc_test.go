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

package main

// These tests keep docs/concepts.md true to the code: every flag of the
// operator's command line and every reason its Events and conditions carry
// must be documented there, and nothing documented there may be gone from
// the code. Both lists come from the code itself, so a new flag or reason
// fails them until someone writes its row.

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const conceptsDoc = "docs/concepts.md"

// TestConceptsDocumentsEveryFlag builds the manager's command line as the
// binary does (parseManagerFlags, plus the flags libraries register on the
// default FlagSet when they are loaded, such as --kubeconfig) and checks
// each flag against the table under "## Operator flags".
func TestConceptsDocumentsEveryFlag(t *testing.T) {
	section := docSection(t, "## Operator flags")

	// parseManagerFlags registers on flag.CommandLine, which here also holds
	// the test binary's own -test.* flags: give it a fresh one holding only
	// what the libraries registered, as the operator's binary has.
	binaryCommandLine(t)
	if _, err := parseManagerFlags(nil); err != nil {
		t.Fatalf("parsing an empty command line: %v", err)
	}

	var names []string
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		names = append(names, f.Name)
		if !strings.Contains(section, "`--"+f.Name+"`") {
			def := f.DefValue
			if def == "" {
				def = "none"
			}
			t.Errorf("%s does not document the flag --%s. Add a row to the table under \"## Operator flags\":\n"+
				"| `--%s` | `%s` | %s |\n(the middle column is the default; say what the chart sets, if it sets it)",
				conceptsDoc, f.Name, f.Name, def, f.Usage)
		}
	})
	if len(names) < 10 {
		t.Fatalf("found only %d flags (%v): is parseManagerFlags still where the flags are registered?", len(names), names)
	}
	for _, m := range regexp.MustCompile("`--([a-z0-9-]+)`").FindAllStringSubmatch(section, -1) {
		if !slices.Contains(names, m[1]) {
			t.Errorf("%s documents --%s under \"## Operator flags\", but the operator has no such flag: remove its row", conceptsDoc, m[1])
		}
	}
}

// TestConceptsDocumentsEveryReason checks two sets of reasons against
// "## What you see":
//
//   - every reason the code emits in an Event (found by following the
//     reason argument of each EventRecorder call back through parameters,
//     variables, struct fields and return values to the constants that
//     reach it) must be in the Events table;
//   - every other reason constant (a string constant named Reason..., by
//     the convention of api/v1alpha1/condition_types.go) must be in the
//     section too: it is a condition's reason, which a person sees in
//     kubectl describe.
//
// A Stalled condition's reason is also the reason of the Event that reports
// it; that flow goes through metav1.Condition, which the search does not
// follow (it would take every condition's reason for an Event's), so those
// reasons are held to the second rule. Their rows belong in the Events table
// all the same.
func TestConceptsDocumentsEveryReason(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the operator's packages")
	}
	section := docSection(t, "## What you see")
	events := subsection(t, section, "### Events")

	a := loadPackages(t, "./api/...", "./controllers/...", "./internal/...")
	emitted, notFollowed := a.eventReasons()
	for _, pos := range notFollowed {
		t.Logf("not followed (a reason from outside this module's code, or computed): %s", pos)
	}
	if len(emitted) < 10 {
		t.Fatalf("found only %d Event reasons: has the EventRecorder changed its package or parameter names?", len(emitted))
	}
	declared := a.reasonConstants()

	for _, value := range sortedKeys(emitted) {
		if !strings.Contains(events, "`"+value+"`") {
			t.Errorf("%s does not document the Event reason %s (%s, emitted at %s). Add a row to the Events table under \"### Events\":\n"+
				"| `%s` | Normal or Warning | when it is emitted |",
				conceptsDoc, value, emitted[value].name, emitted[value].pos, value)
		}
	}
	for _, value := range sortedKeys(declared) {
		if _, ok := emitted[value]; ok || strings.Contains(section, "`"+value+"`") {
			continue
		}
		t.Errorf("%s does not document the reason %s (%s, declared at %s). Add it under \"## What you see\": "+
			"to the conditions table, in the row of the condition it is a reason of, and to the Events table if an Event carries it too",
			conceptsDoc, value, declared[value].name, declared[value].pos)
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\|").FindAllStringSubmatch(events, -1) {
		_, isEmitted := emitted[m[1]]
		_, isDeclared := declared[m[1]]
		if !isEmitted && !isDeclared {
			t.Errorf("%s lists the Event reason %s, which the code neither emits nor declares: remove its row", conceptsDoc, m[1])
		}
	}
}

// docSection returns the part of the concepts document under heading, up to
// the next heading of its level or above.
func docSection(t *testing.T, heading string) string {
	t.Helper()
	doc, err := os.ReadFile(conceptsDoc)
	if err != nil {
		t.Fatal(err)
	}
	return subsection(t, string(doc), heading)
}

func subsection(t *testing.T, text, heading string) string {
	t.Helper()
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("%s has no %q heading: the test looks there", conceptsDoc, heading)
	}
	rest := text[start+len(heading)+2:]
	level := strings.IndexByte(heading, ' ')
	fenced := false
	for i := 0; i < len(rest); {
		line, _, _ := strings.Cut(rest[i:], "\n")
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if hashes := len(line) - len(strings.TrimLeft(line, "#")); !fenced && hashes > 0 && hashes <= level {
			return rest[:i]
		}
		i += len(line) + 1
	}
	return rest
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// reasonSite is where a reason comes from: the constant's name (or the
// literal) and its position.
type reasonSite struct {
	name string
	pos  token.Position
}

// srcPackage is one of this module's packages, type-checked from source.
type srcPackage struct {
	path  string
	files []*ast.File
	info  *types.Info
}

// analysis holds this module's packages and an index of how values move
// between them: which function each parameter belongs to, what is
// assigned to each variable and struct field, every call, and the return
// statements of each function.
type analysis struct {
	fset   *token.FileSet
	module string
	pkgs   []*srcPackage

	paramOf map[*types.Var]param
	values  map[types.Object][]value
	calls   []call
	returns map[ast.Node][]*ast.ReturnStmt
	declOf  map[*types.Func]*ast.FuncDecl
	pkgOf   map[ast.Node]*srcPackage
}

// param is the index-th parameter of fn, an *ast.FuncDecl or *ast.FuncLit.
type param struct {
	fn    ast.Node
	index int
}

// value is an expression assigned to a variable or field; for index >= 0,
// the index-th result of the call expr.
type value struct {
	expr  ast.Expr
	index int
	pkg   *srcPackage
}

type call struct {
	expr *ast.CallExpr
	pkg  *srcPackage
}

// loadPackages type-checks the packages the patterns match from source,
// importing everything else from the export data the go command keeps in
// its build cache (what go vet does).
func loadPackages(t *testing.T, patterns ...string) *analysis {
	t.Helper()
	module, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	args := append([]string{"list", "-export", "-deps", "-f",
		"{{.ImportPath}}\t{{.Export}}\t{{.Dir}}\t{{with .Module}}{{.Path}}{{end}}\t{{join .GoFiles \" \"}}"}, patterns...)
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, stderr.String())
	}
	a := &analysis{
		fset: token.NewFileSet(), module: strings.TrimSpace(string(module)),
		paramOf: map[*types.Var]param{}, values: map[types.Object][]value{},
		returns: map[ast.Node][]*ast.ReturnStmt{}, declOf: map[*types.Func]*ast.FuncDecl{}, pkgOf: map[ast.Node]*srcPackage{},
	}
	exports := map[string]string{}
	checked := map[string]*types.Package{}
	gc := importer.ForCompiler(a.fset, "gc", func(path string) (io.ReadCloser, error) {
		if f, ok := exports[path]; ok && f != "" {
			return os.Open(f)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	})
	imp := importerFunc(func(path string) (*types.Package, error) {
		if p, ok := checked[path]; ok {
			return p, nil
		}
		return gc.Import(path)
	})
	// -deps lists every package after its dependencies.
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		path, export, dir, mod, files := fields[0], fields[1], fields[2], fields[3], fields[4]
		exports[path] = export
		if mod != a.module {
			continue
		}
		p := &srcPackage{path: path, info: &types.Info{
			Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{},
			Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{},
		}}
		for _, name := range strings.Fields(files) {
			f, err := parser.ParseFile(a.fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			p.files = append(p.files, f)
		}
		tp, err := (&types.Config{Importer: imp}).Check(path, a.fset, p.files, p.info)
		if err != nil {
			t.Fatalf("type-checking %s: %v", path, err)
		}
		checked[path] = tp
		a.pkgs = append(a.pkgs, p)
		a.index(p)
	}
	return a
}

// position is where pos is, relative to the module's root (the test's
// working directory).
func (a *analysis) position(pos token.Pos) token.Position {
	p := a.fset.Position(pos)
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p.Filename); err == nil {
			p.Filename = rel
		}
	}
	return p
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// index records a package's parameters, assignments, calls and returns.
func (a *analysis) index(p *srcPackage) {
	params := func(fn ast.Node, ft *ast.FuncType) {
		a.pkgOf[fn] = p
		i := 0
		for _, field := range ft.Params.List {
			if len(field.Names) == 0 {
				i++
			}
			for _, name := range field.Names {
				if v, ok := p.info.Defs[name].(*types.Var); ok {
					a.paramOf[v] = param{fn: fn, index: i}
				}
				i++
			}
		}
		var body *ast.BlockStmt
		switch fn := fn.(type) {
		case *ast.FuncDecl:
			body = fn.Body
		case *ast.FuncLit:
			body = fn.Body
		}
		if body == nil {
			return
		}
		// The function's own returns, not those of literals inside it.
		ast.Inspect(body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.ReturnStmt:
				a.returns[fn] = append(a.returns[fn], n)
			}
			return true
		})
	}
	assign := func(lhs, rhs []ast.Expr) {
		for i, l := range lhs {
			obj := a.objectOf(p, l)
			switch {
			case obj == nil:
			case len(lhs) == len(rhs):
				a.values[obj] = append(a.values[obj], value{expr: rhs[i], index: -1, pkg: p})
			case len(rhs) == 1:
				a.values[obj] = append(a.values[obj], value{expr: rhs[0], index: i, pkg: p})
			}
		}
	}
	for _, f := range p.files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if fn, ok := p.info.Defs[n.Name].(*types.Func); ok {
					a.declOf[fn] = n
				}
				params(n, n.Type)
			case *ast.FuncLit:
				params(n, n.Type)
			case *ast.AssignStmt:
				assign(n.Lhs, n.Rhs)
			case *ast.ValueSpec:
				lhs := make([]ast.Expr, len(n.Names))
				for i, name := range n.Names {
					lhs[i] = name
				}
				assign(lhs, n.Values)
			case *ast.CompositeLit:
				a.indexLiteral(p, n)
			case *ast.CallExpr:
				a.calls = append(a.calls, call{expr: n, pkg: p})
			}
			return true
		})
	}
}

// indexLiteral records what a struct literal puts in each field.
func (a *analysis) indexLiteral(p *srcPackage, lit *ast.CompositeLit) {
	tv, ok := p.info.Types[lit]
	if !ok {
		return
	}
	st, ok := tv.Type.Underlying().(*types.Struct)
	if !ok {
		return
	}
	for i, el := range lit.Elts {
		field, val := (*types.Var)(nil), el
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			key, _ := kv.Key.(*ast.Ident)
			for j := 0; key != nil && j < st.NumFields(); j++ {
				if st.Field(j).Name() == key.Name {
					field = st.Field(j)
				}
			}
			val = kv.Value
		} else if i < st.NumFields() {
			field = st.Field(i)
		}
		if field != nil {
			a.values[field] = append(a.values[field], value{expr: val, index: -1, pkg: p})
		}
	}
}

// objectOf is the variable or field an expression names.
func (a *analysis) objectOf(p *srcPackage, e ast.Expr) types.Object {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		if obj := p.info.Defs[e]; obj != nil {
			return obj
		}
		return p.info.Uses[e]
	case *ast.SelectorExpr:
		return p.info.Uses[e.Sel]
	}
	return nil
}

// callee is the function or variable a call calls.
func (a *analysis) callee(c call) types.Object {
	return a.objectOf(c.pkg, c.expr.Fun)
}

// reasons collects the string constants that can reach a reason argument,
// and the places it could not follow.
type reasons struct {
	found       map[string]reasonSite
	notFollowed []token.Position
	seen        map[any]bool
}

// eventReasons follows the reason argument of every EventRecorder call
// (k8s.io/client-go/tools/events or tools/record, whose methods name that
// parameter reason) back to the constants that reach it.
func (a *analysis) eventReasons() (map[string]reasonSite, []token.Position) {
	r := &reasons{found: map[string]reasonSite{}, seen: map[any]bool{}}
	for _, c := range a.calls {
		fn, ok := a.callee(c).(*types.Func)
		if !ok || fn.Pkg() == nil {
			continue
		}
		// events.EventRecorder is declared in tools/internal/events.
		if path := fn.Pkg().Path(); !strings.HasPrefix(path, "k8s.io/client-go/tools/") ||
			!strings.HasSuffix(path, "/events") && !strings.HasSuffix(path, "/record") {
			continue
		}
		ps := fn.Type().(*types.Signature).Params()
		for i := 0; i < ps.Len() && i < len(c.expr.Args); i++ {
			if ps.At(i).Name() == "reason" {
				a.eval(r, c.expr.Args[i], c.pkg)
			}
		}
	}
	return r.found, r.notFollowed
}

// eval adds the constants that can be the value of e.
func (a *analysis) eval(r *reasons, e ast.Expr, p *srcPackage) {
	e = ast.Unparen(e)
	if r.seen[e] {
		return
	}
	r.seen[e] = true
	if tv, ok := p.info.Types[e]; ok && tv.Value != nil {
		if tv.Value.Kind() == constant.String {
			name := types.ExprString(e)
			if obj, ok := a.objectOf(p, e).(*types.Const); ok {
				name = obj.Pkg().Name() + "." + obj.Name()
			}
			v := constant.StringVal(tv.Value)
			if _, dup := r.found[v]; !dup {
				r.found[v] = reasonSite{name: name, pos: a.position(e.Pos())}
			}
		}
		return
	}
	switch x := e.(type) {
	case *ast.Ident, *ast.SelectorExpr:
		if v, ok := a.objectOf(p, x).(*types.Var); ok {
			a.evalVar(r, v, e.Pos())
			return
		}
	case *ast.CallExpr:
		a.evalResult(r, call{expr: x, pkg: p}, 0)
		return
	}
	r.notFollowed = append(r.notFollowed, a.position(e.Pos()))
}

// evalVar adds what a variable, parameter or field can hold.
func (a *analysis) evalVar(r *reasons, v *types.Var, at token.Pos) {
	if r.seen[v] {
		return
	}
	r.seen[v] = true
	if pr, ok := a.paramOf[v]; ok {
		for _, c := range a.callsOf(pr.fn) {
			if pr.index < len(c.expr.Args) {
				a.eval(r, c.expr.Args[pr.index], c.pkg)
			}
		}
		return
	}
	// A field of a type from elsewhere (metav1.Condition.Reason) is written
	// for many purposes; what this module writes there is not all Events.
	if v.IsField() && (v.Pkg() == nil || !strings.HasPrefix(v.Pkg().Path(), a.module)) {
		r.notFollowed = append(r.notFollowed, a.position(at))
		return
	}
	if len(a.values[v]) == 0 {
		r.notFollowed = append(r.notFollowed, a.position(at))
	}
	for _, val := range a.values[v] {
		if val.index < 0 {
			a.eval(r, val.expr, val.pkg)
		} else if ce, ok := ast.Unparen(val.expr).(*ast.CallExpr); ok {
			a.evalResult(r, call{expr: ce, pkg: val.pkg}, val.index)
		}
	}
}

// evalResult adds what the index-th result of a call can be.
func (a *analysis) evalResult(r *reasons, c call, index int) {
	fn, _ := a.callee(c).(*types.Func)
	decl := a.declOf[fn]
	if decl == nil {
		r.notFollowed = append(r.notFollowed, a.position(c.expr.Pos()))
		return
	}
	for _, ret := range a.returns[decl] {
		if index < len(ret.Results) {
			a.eval(r, ret.Results[index], a.pkgOf[decl])
		}
	}
}

// callsOf lists the calls that can run fn: for a declared function, the
// calls naming it; for a function literal, the calls of every variable or
// parameter it can be held in.
func (a *analysis) callsOf(fn ast.Node) []call {
	targets := map[types.Object]bool{}
	switch fn := fn.(type) {
	case *ast.FuncDecl:
		targets[a.pkgOf[fn].info.Defs[fn.Name]] = true
	case *ast.FuncLit:
		a.holders(fn, targets, map[ast.Node]bool{})
	}
	var out []call
	for _, c := range a.calls {
		if obj := a.callee(c); obj != nil && targets[obj] {
			out = append(out, c)
		}
	}
	return out
}

// holders adds the variables and parameters that can hold the value of e:
// those it is assigned to or passed as, and, when e is a function's return
// value, those that hold that function's result.
func (a *analysis) holders(e ast.Node, into map[types.Object]bool, seen map[ast.Node]bool) {
	if seen[e] {
		return
	}
	seen[e] = true
	for obj, vals := range a.values {
		for _, val := range vals {
			if val.index < 0 && ast.Unparen(val.expr) == e && !into[obj] {
				into[obj] = true
				a.holdersOfObject(obj, into, seen)
			}
		}
	}
	for _, c := range a.calls {
		for i, arg := range c.expr.Args {
			if ast.Unparen(arg) == e {
				a.holdersOfArg(c, i, into, seen)
			}
		}
	}
	for fn, rets := range a.returns {
		for _, ret := range rets {
			if slices.ContainsFunc(ret.Results, func(r ast.Expr) bool { return ast.Unparen(r) == e }) {
				a.holdersOfResult(fn, into, seen)
			}
		}
	}
}

// holdersOfObject follows a variable that holds the value into the
// variables and parameters it is copied to.
func (a *analysis) holdersOfObject(obj types.Object, into map[types.Object]bool, seen map[ast.Node]bool) {
	for _, p := range a.pkgs {
		for id, use := range p.info.Uses {
			if use == obj {
				a.holders(id, into, seen)
			}
		}
	}
}

// holdersOfArg adds the parameter the i-th argument of c is passed as.
func (a *analysis) holdersOfArg(c call, i int, into map[types.Object]bool, seen map[ast.Node]bool) {
	fn, ok := a.callee(c).(*types.Func)
	if !ok || a.declOf[fn] == nil {
		return
	}
	for v, pr := range a.paramOf {
		if pr.fn == a.declOf[fn] && pr.index == i && !into[v] {
			into[v] = true
			a.holdersOfObject(v, into, seen)
		}
	}
}

// holdersOfResult adds the variables that hold what fn returns.
func (a *analysis) holdersOfResult(fn ast.Node, into map[types.Object]bool, seen map[ast.Node]bool) {
	decl, ok := fn.(*ast.FuncDecl)
	if !ok {
		return
	}
	obj := a.pkgOf[decl].info.Defs[decl.Name]
	for _, c := range a.calls {
		if a.callee(c) == obj {
			a.holders(c.expr, into, seen)
		}
	}
}

// reasonConstants lists the string constants named Reason... that this
// module's packages declare.
func (a *analysis) reasonConstants() map[string]reasonSite {
	out := map[string]reasonSite{}
	for _, p := range a.pkgs {
		for id, obj := range p.info.Defs {
			c, ok := obj.(*types.Const)
			if !ok || c.Parent() != c.Pkg().Scope() || !strings.HasPrefix(c.Name(), "Reason") || c.Val().Kind() != constant.String {
				continue
			}
			out[constant.StringVal(c.Val())] = reasonSite{name: c.Pkg().Name() + "." + c.Name(), pos: a.position(id.Pos())}
		}
	}
	return out
}
