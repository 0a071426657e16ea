package workflows

import "go.temporal.io/sdk/temporal"

// Search attributes that every novaflow execution carries, so that the Web UI and
// `temporal workflow list --query 'NovaflowHost="h1"'` can find them. They must be
// registered on the namespace: `novaflow temporal setup` does it (`novaflow dev` and the
// test harness too), and a service refuses to start on a namespace without them.
var (
	// TopicKey is the topic of the service that runs the work, e.g. volume.
	TopicKey = temporal.NewSearchAttributeKeyKeyword("NovaflowTopic")
	// HostKey is the host that runs the work, or "-" when any host of the topic may.
	HostKey = temporal.NewSearchAttributeKeyKeyword("NovaflowHost")
	// MethodKey is the manager method or periodic task, e.g. "reboot_instance".
	MethodKey = temporal.NewSearchAttributeKeyKeyword("NovaflowMethod")
	// InstanceKey is the main object of the call when it has one, e.g. an instance UUID.
	InstanceKey = temporal.NewSearchAttributeKeyKeyword("NovaflowInstance")
)

// SearchAttributes lists every search attribute novaflow uses, for registration.
func SearchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		TopicKey.ValueSet(""),
		HostKey.ValueSet(""),
		MethodKey.ValueSet(""),
		InstanceKey.ValueSet(""),
	)
}
