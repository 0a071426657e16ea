package managers_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/managers"
)

// NewMethod turns a typed Go function into an RPC method whose requests are
// decoded strictly from JSON: bad input is an InvalidArgument naming the
// field, and typed errors keep their type across the RPC boundary.
func ExampleNewMethod() {
	g := &Greeter{host: "node1", prefix: "hi"}
	greet := managers.NewMethod("greet", "1.0", g.Greet)
	for _, req := range []string{
		`{"name":"Ada"}`,
		`{}`,
		`{"name":"  "}`,
		`{"name":"Ada","colour":"red"}`,
		`{"name":"nobody"}`,
	} {
		out, err := greet.Call(context.Background(), []byte(req))
		if err != nil {
			var e *managers.Error
			errors.As(err, &e)
			fmt.Printf("%-30s -> %s (field %q)\n", req, e.Type, e.Field)
			continue
		}
		fmt.Printf("%-30s -> %s\n", req, out)
	}
	// Output:
	// {"name":"Ada"}                 -> {"greeting":"hi, Ada","host":"node1"}
	// {}                             -> InvalidArgument (field "name")
	// {"name":"  "}                  -> InvalidArgument (field "name")
	// {"name":"Ada","colour":"red"}  -> InvalidArgument (field "colour")
	// {"name":"nobody"}              -> NotFound (field "")
}
