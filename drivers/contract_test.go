package drivers_test

import (
	"slices"
	"testing"

	"github.com/novaflow/novaflow/drivers/driverstest"
)

// TestEveryKindHasContractTests fails when a driver kind of this tree has no
// contract suite (<kind>test with a Run), or one of its drivers does not run
// it: the fakes run the same contract tests as the real drivers.
func TestEveryKindHasContractTests(t *testing.T) {
	kinds, err := driverstest.Check(".")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"github.com/novaflow/novaflow/drivers/compute": {"github.com/novaflow/novaflow/drivers/compute/fake", "github.com/novaflow/novaflow/drivers/compute/process"},
		"github.com/novaflow/novaflow/drivers/volume":  {"github.com/novaflow/novaflow/drivers/volume/fake", "github.com/novaflow/novaflow/drivers/volume/file"},
	}
	for _, k := range kinds {
		if w, ok := want[k.Path]; ok && !slices.Equal(k.Drivers, w) {
			t.Errorf("kind %s: drivers %v, want %v", k.Path, k.Drivers, w)
		}
		delete(want, k.Path)
	}
	if len(want) > 0 {
		t.Errorf("kinds not found: %v (found %+v)", want, kinds)
	}
}
