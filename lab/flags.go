package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"

	"daemon-steps/internal/steps"
)

// progFlag is a command-line flag that a step's code defines with the flag
// package.
type progFlag struct {
	Name    string // "pidfile"
	Default string // its default as written in the code: "/tmp/unixechoserver.pid"
	Usage   string // its usage text, with the back quotes of flag.UnquoteUsage removed
	Arg     string // the name of its value in the usage: "path"; "" for a bool
}

// flagDefiners are the flag package's methods and functions that define a
// flag, with the position of the flag's name among their arguments.
var flagDefiners = map[string]int{
	"String": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Bool": 0, "Duration": 0, "Float64": 0,
	"StringVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "BoolVar": 1, "DurationVar": 1, "Float64Var": 1,
}

// stepFlags returns the flags that the non-test code of the step in dir
// defines, in the order of the source: calls such as
// fs.StringVar(&cfg.socket, "socket", "/tmp/x.sock", "listen on `path`").
func stepFlags(dir string) ([]progFlag, error) {
	names, err := steps.CodeFiles(dir)
	if err != nil {
		return nil, err
	}
	var flags []progFlag
	fset := token.NewFileSet()
	for _, name := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			i, ok := flagDefiners[sel.Sel.Name]
			if !ok || len(call.Args) != i+3 {
				return true
			}
			lit, ok := call.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			fl := progFlag{Name: unquote(lit.Value), Default: source(call.Args[i+1])}
			if u, ok := call.Args[i+2].(*ast.BasicLit); ok && u.Kind == token.STRING {
				fl.Usage = unquote(u.Value)
			}
			if before, rest, ok := strings.Cut(fl.Usage, "`"); ok {
				if arg, after, ok := strings.Cut(rest, "`"); ok {
					fl.Arg, fl.Usage = arg, before+arg+after
				}
			}
			if fl.Arg == "" && !strings.HasPrefix(sel.Sel.Name, "Bool") {
				fl.Arg = "value"
			}
			flags = append(flags, fl)
			return true
		})
	}
	return flags, nil
}

// unquote returns the value of a Go string literal, or the literal itself.
func unquote(lit string) string {
	if s, err := strconv.Unquote(lit); err == nil {
		return s
	}
	return lit
}

// source gives a default value as a reader would type it: the string a
// literal holds, or the expression as written.
func source(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		return unquote(e.Value)
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return source(e.X) + "." + e.Sel.Name
	}
	return "(see the code)"
}
