package drivers_test

import (
	"testing"

	"github.com/novaflow/novaflow/drivers/driverstest"
)

// TestEveryKindHasContractTests fails when a driver kind of this tree has no
// contract suite (<kind>test with a Run) or one of its drivers does not run it.
func TestEveryKindHasContractTests(t *testing.T) {
	kinds, err := driverstest.Check(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 1 || len(kinds[0].Drivers) != 1 {
		t.Fatalf("found %+v, want the dns kind and its fake driver", kinds)
	}
}
