package dns

import (
	"net/netip"
	"strings"
	"time"

	"github.com/novaflow/novaflow/managers"
)

// Record is a record as the records table has it.
type Record struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Value     string     `json:"value"`
	TTL       int        `json:"ttl"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"` // set by delete_record; the row stays
}

// DefaultTTL is the TTL of a record created without one, in seconds.
const DefaultTTL = 300

// CreateRequest is the request of create_record.
type CreateRequest struct {
	// RecordID is a UUID the caller chooses, so that a retried request
	// creates nothing twice.
	RecordID string `json:"record_id" required:"true"`
	Name     string `json:"name" required:"true"`  // www.example.org
	Type     string `json:"type" required:"true"`  // A, AAAA, CNAME or TXT
	Value    string `json:"value" required:"true"` // an address, a name or text, by type
	TTL      int    `json:"ttl,omitempty"`         // 60 to 86400 seconds; 0: DefaultTTL
}

// Validate checks every field, naming the first bad one.
func (r CreateRequest) Validate() error {
	if err := managers.CheckUUID("record_id", r.RecordID); err != nil {
		return err
	}
	if err := checkName("name", r.Name); err != nil {
		return err
	}
	if r.TTL != 0 && (r.TTL < 60 || r.TTL > 86400) {
		return managers.InvalidArgument("ttl", "must be 60 to 86400 seconds, got %d", r.TTL)
	}
	switch r.Type {
	case "A", "AAAA":
		if a, err := netip.ParseAddr(r.Value); err != nil || a.Is4() != (r.Type == "A") || a.Zone() != "" {
			return managers.InvalidArgument("value", "%q is not an address of a type %s record", r.Value, r.Type)
		}
		return nil
	case "CNAME":
		return checkName("value", r.Value)
	case "TXT":
		return managers.CheckText("value", r.Value, 255)
	}
	return managers.InvalidArgument("type", "must be A, AAAA, CNAME or TXT, got %q", r.Type)
}

// checkName checks a DNS name: lower case, without the final dot, of two
// labels or more, each 1 to 63 letters, digits or '-', not at either end.
func checkName(field, name string) error {
	if len(name) > 253 {
		return managers.InvalidArgument(field, "%q is longer than 253 bytes", name)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return managers.InvalidArgument(field, "%q is not a fully qualified name (www.example.org)", name)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return managers.InvalidArgument(field, "%q: label %q must be 1 to 63 lower-case letters, digits or '-', not at either end", name, l)
		}
	}
	return nil
}

// DeleteRequest is the request of delete_record.
type DeleteRequest struct {
	RecordID string `json:"record_id" required:"true"`
}

// Validate checks the ID.
func (r DeleteRequest) Validate() error { return managers.CheckUUID("record_id", r.RecordID) }

// ListRequest is the request of list_records.
type ListRequest struct {
	Name string `json:"name,omitempty"` // only the records of this name
}

// Validate checks the name, when there is one.
func (r ListRequest) Validate() error {
	if r.Name == "" {
		return nil
	}
	return checkName("name", r.Name)
}

// ListResult is the result of list_records.
type ListResult struct {
	Records []Record `json:"records"` // sorted by name, type and value
}
