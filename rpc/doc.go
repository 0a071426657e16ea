// Package rpc calls manager methods of other services, as nova's RPC layer
// (oslo.messaging) does, with every remote call a Temporal workflow
// execution of type <topic>.<method> (MethodWorkflow) whose activity runs
// the method on the target's task queue.
//
//   - Client.Call runs a method and waits for its result, for at most the
//     response timeout (NOVAFLOW_RPC_RESPONSE_TIMEOUT, 60s): a dead target
//     host fails with an error that matches ErrTimeout; the remote method's
//     typed errors come back as *managers.Error of the same Type and Field.
//   - Client.Cast starts the execution durably and returns: it runs when the
//     target is up, waiting for it up to NOVAFLOW_CAST_TIMEOUT (1h), then
//     fails, visibly in the Web UI.
//   - Client.Fanout runs the method on every up host of the topic (disabled ones included, as nova)
//     and returns each host's result or error.
//
// A call goes to any host of the topic (task queue <topic>) unless ToHost
// names one (<topic>.<host>). A Client that knows the services of its own
// process (AddLocal) runs calls to them directly, in the caller's goroutine,
// without Temporal, as nova calls directly what can run locally.
//
// Executions are idempotent by request ID: the workflow ID is
// <topic>.<method>/<host or - or *>/<request id> (WorkflowID), and the same
// ID never runs the method twice; Call on a finished ID returns that run's
// result.
//
// Methods carry versions ("major.minor", managers.Method.Version). Every
// call carries the version its request is written for (Version, else the
// method's version as the caller's binary knows it:
// managers.Definition.Methods); per topic, NOVAFLOW_UPGRADE_LEVELS_<TOPIC>
// caps what the caller sends (a version, or "auto" for the version the
// oldest running service of the topic speaks): above it a call goes out in
// the older version's form (request fields tagged `since`, MakeCompatible,
// managers.Backport) or fails at the caller with UnsupportedVersion, so
// mixed versions work during a rolling upgrade.
//
// A manager builds its Client with ForManager from the managers.Deps the
// runtime hands it, which carry the process's Temporal client and settings.
//
// Inside workflows use CallFromWorkflow, CastFromWorkflow and
// FanoutFromWorkflow, which are deterministic, and are versioned and capped
// the same way with the calling service's settings, read through the local
// activity CallVersionName and recorded in the history;
// CanSendVersionFromWorkflow is CanSendVersion for workflow code.
//
// docs/rpc.md describes all of this from the shell and the Web UI.
package rpc
