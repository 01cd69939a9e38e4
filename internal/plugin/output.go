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
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// output is a command's -o with kubectl's other printing flags
// (--template, --show-managed-fields, --allow-missing-template-keys), from
// cli-runtime, so every format kubectl users know works: json, yaml, name,
// jsonpath=..., go-template=... and their -file forms. -o wide, and no -o,
// leave the printing to the command's own text.
type output struct {
	flags *genericclioptions.PrintFlags
}

// addOutputFlags adds the printing flags to cmd. operation is what
// -o name says after each name ("created"), or "".
func addOutputFlags(cmd *cobra.Command, operation string) *output {
	p := &output{flags: genericclioptions.NewPrintFlags(operation)}
	p.flags.AddFlags(cmd)
	cmd.Flag("output").Usage = "Output format: json, yaml, name, jsonpath=..., jsonpath-file=..., go-template=..., go-template-file=..., or wide (the text, with more columns where a command has them)"
	return p
}

// format is -o as given.
func (p *output) format() string {
	if p.flags.OutputFormat == nil {
		return ""
	}
	return *p.flags.OutputFormat
}

// text reports whether the command prints its own text: no -o (and no
// --template, which implies -o go-template), or -o wide.
func (p *output) text() bool {
	f := p.format()
	template := p.flags.TemplatePrinterFlags != nil && p.flags.TemplatePrinterFlags.TemplateArgument != nil &&
		*p.flags.TemplatePrinterFlags.TemplateArgument != ""
	return f == "wide" || (f == "" && !template)
}

// printer is the cli-runtime printer for -o, or nil when the command
// prints its own text. Commands ask for it first, so that a format that
// does not exist fails before anything is read or changed.
func (p *output) printer() (printers.ResourcePrinter, error) {
	if p.text() {
		return nil, nil
	}
	return p.flags.ToPrinter()
}

// print writes objs with printer, one after another (YAML separates them
// with ---). Typed objects come back from the API server without
// apiVersion and kind, which the printers need, so they are set first,
// on a list's items too. -o name prints a list's items: its printer takes
// no typed list.
func (p *output) print(w io.Writer, printer printers.ResourcePrinter, objs ...runtime.Object) error {
	s := scheme.New()
	for _, obj := range objs {
		if err := setKinds(s, obj); err != nil {
			return err
		}
		if p.format() == "name" && meta.IsListType(obj) {
			if err := meta.EachListItem(obj, func(item runtime.Object) error { return printer.PrintObj(item, w) }); err != nil {
				return err
			}
			continue
		}
		if err := printer.PrintObj(obj, w); err != nil {
			return err
		}
	}
	return nil
}

// setKinds sets obj's apiVersion and kind from the plugin's scheme, and
// each item's if obj is a list. An object that has them keeps them.
func setKinds(s *runtime.Scheme, obj runtime.Object) error {
	set := func(o runtime.Object) error {
		if !o.GetObjectKind().GroupVersionKind().Empty() {
			return nil
		}
		gvks, _, err := s.ObjectKinds(o)
		if err != nil {
			return fmt.Errorf("printing a %T: %w", o, err)
		}
		o.GetObjectKind().SetGroupVersionKind(gvks[0])
		return nil
	}
	if err := set(obj); err != nil {
		return err
	}
	if !meta.IsListType(obj) {
		return nil
	}
	return meta.EachListItem(obj, set)
}
