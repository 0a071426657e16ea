package compute

// SetTerminateLookedUp sets the hook TerminateInstance runs right after it
// has read the instance; nil removes it.
func SetTerminateLookedUp(f func(uuid string)) { terminateLookedUp = f }
