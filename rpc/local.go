package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/novaflow/novaflow/managers"
)

// AddLocal tells the client that this process runs the service of topic on
// host with methods (its manager's RPCMethods). From then on a Call to that
// host (ToHost, or the request's "host") runs the method directly, in the
// caller's goroutine: no workflow execution, no Temporal round trip, as nova
// calls directly what can run locally. It is decoded, version-checked and
// typed exactly as a remote call, but it is not recorded or retried and does
// not show in the Web UI; Remote, or a RequestID, sends a call through
// Temporal anyway. Casts and fanouts always go through Temporal, which makes
// them durable. Calls to any host of the topic are not made local.
//
// AddLocal also gives the client the methods' versions and objects, ahead
// of the topic's manager definition (managers.Definition.Methods), so calls
// and casts to the topic carry the version by default and set the
// NovaflowInstance search attribute at start.
func (c *Client) AddLocal(topic, host string, methods []managers.Method) {
	byName := make(map[string]managers.Method, len(methods))
	for _, m := range methods {
		byName[m.Name] = m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.locals[localKey{topic, host}] = byName
}

// RemoveLocal undoes AddLocal, e.g. when the service stops.
func (c *Client) RemoveLocal(topic, host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.locals, localKey{topic, host})
}

// local returns the local method t targets, if any.
func (c *Client) local(t target) (managers.Method, bool) {
	if t.Host == "" || t.Host == AllHosts {
		return managers.Method{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.locals[localKey{t.Topic, t.Host}][t.Method]
	return m, ok
}

// localMethod returns method of topic as some local service has it.
func (c *Client) localMethod(topic, method string) (managers.Method, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, methods := range c.locals {
		if k.topic == topic {
			if m, ok := methods[method]; ok {
				return m, true
			}
		}
	}
	return managers.Method{}, false
}

// hasLocalTopic reports whether a service of topic runs in this process.
func (c *Client) hasLocalTopic(topic string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.locals {
		if k.topic == topic {
			return true
		}
	}
	return false
}

// servesQueue reports whether a service of this process polls queue, the
// task queue of a call of t: the topic's queue, or t's host queue.
func (c *Client) servesQueue(t target, queue string) bool {
	if queue == t.Topic {
		return c.hasLocalTopic(t.Topic)
	}
	_, ok := c.local(t)
	return ok
}

// callLocal runs m directly with the semantics of a remote call.
func callLocal(ctx context.Context, t target, m managers.Method, raw json.RawMessage, resp any, timeout time.Duration) error {
	if err := m.Supports(t.Version); err != nil {
		return err
	}
	if err := m.CheckSince(raw, t.Version); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := m.Call(ctx, raw)
	if err != nil {
		if e, ok := managers.AsError(err); ok {
			return e
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return timeoutf("%s on %s (local): no result within %s: %v", t.Name(), t.Host, timeout, err)
		}
		return fmt.Errorf("call %s on %s (local): %w", t.Name(), t.Host, err)
	}
	return decodeResult(out, resp)
}
