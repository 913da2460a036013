package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var opts Options
	flag.Var((*listFlag)(&opts.AllowMissing), "allow-missing", "Kind/name an object may reference without it being in the input (repeatable)")
	quiet := flag.Bool("q", false, "print only problems")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kubecheck [-q] [-allow-missing Kind/name]... [FILE...]  (standard input without FILE)")
		flag.PrintDefaults()
	}
	flag.Parse()
	var in []io.Reader
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubecheck:", err)
			os.Exit(2)
		}
		defer f.Close()
		in = append(in, f, strings.NewReader("\n---\n"))
	}
	if len(in) == 0 {
		in = append(in, os.Stdin)
	}
	objs, errs := Check(io.MultiReader(in...), opts)
	if !*quiet {
		for _, o := range objs {
			fmt.Printf("checked %s %s\n", o.GVK.GroupVersion(), o)
		}
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "kubecheck:", e)
	}
	if len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "kubecheck: %d problems in %d objects\n", len(errs), len(objs))
		os.Exit(1)
	}
	if !*quiet {
		fmt.Printf("kubecheck: %d objects valid\n", len(objs))
	}
}
