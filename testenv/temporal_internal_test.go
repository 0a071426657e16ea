package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/workflows"
)

// TestUseTemporalRegistersSearchAttributes points useTemporal, the path of
// NOVAFLOW_TEMPORAL_ADDRESS, at a server that lacks novaflow's search
// attributes.
func TestUseTemporalRegistersSearchAttributes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	other := temporal.NewSearchAttributeKeyKeyword("SomethingElse")
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		Progress:         os.Stderr,
		SearchAttributes: temporal.NewSearchAttributes(other.ValueSet("")),
	})
	if err != nil {
		t.Fatalf("StartTemporal: %v", err)
	}
	defer srv.Stop()

	for range 2 { // the second time, all are there already
		if _, err := useTemporal(srv.Address(), srv.Namespace()); err != nil {
			t.Fatalf("useTemporal: %v", err)
		}
	}
	resp, err := srv.Client().OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		if got := resp.GetCustomAttributes()[key.GetName()]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: type %v, want Keyword", key.GetName(), got)
		}
	}
}
