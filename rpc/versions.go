package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/novaflow/novaflow/managers"
)

// AutoLevel is the upgrade level that follows the deployment: the RPC
// version the oldest running service of the topic speaks.
const AutoLevel = "auto"

// autoLevelTTL is how long an "auto" level is reused before the services
// table is read again: the cap rises on its own shortly after the last old
// service is upgraded (nova needed a restart or SIGHUP for that).
const autoLevelTTL = 30 * time.Second

// UpgradeLevelEnv is the environment variable of topic's upgrade level:
// NOVAFLOW_UPGRADE_LEVELS_<TOPIC>.
func UpgradeLevelEnv(topic string) string {
	return "NOVAFLOW_UPGRADE_LEVELS_" + managers.EnvName(topic)
}

// LoadUpgradeLevels reads NOVAFLOW_UPGRADE_LEVELS_<TOPIC> for each topic
// (every registered topic, managers.Topics, when none is given) with getenv,
// usually worker.Env.Get, and checks each value: "major.minor" or "auto". Unset
// or empty variables are left out: no cap.
func LoadUpgradeLevels(getenv func(string) string, topics ...string) (map[string]string, error) {
	if len(topics) == 0 {
		topics = managers.Topics()
	}
	levels := map[string]string{}
	for _, topic := range topics {
		name := UpgradeLevelEnv(topic)
		v := getenv(name)
		if v == "" {
			continue
		}
		if err := validLevel(v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		levels[topic] = v
	}
	return levels, nil
}

func validLevel(v string) error {
	if v == AutoLevel {
		return nil
	}
	if _, _, err := managers.ParseVersion(v); err != nil {
		return fmt.Errorf("%q: want a version major.minor or %q", v, AutoLevel)
	}
	return nil
}

// level is a topic's resolved upgrade level: "" for none.
type level struct {
	version string
	why     string // where it comes from, for messages
	at      time.Time
}

// UpgradeLevel returns the version cap of topic: "" when there is none. An
// "auto" level is the RPCVersions entry, in the topic's manager definition,
// of the minimum service version of the topic's services (the highest entry
// not above it); no live service means no cap.
func (c *Client) UpgradeLevel(ctx context.Context, topic string) (string, error) {
	l, err := c.level(ctx, topic)
	return l.version, err
}

func (c *Client) level(ctx context.Context, topic string) (level, error) {
	levels := c.opts.UpgradeLevels
	if c.opts.CurrentUpgradeLevels != nil {
		levels = c.opts.CurrentUpgradeLevels()
	}
	setting := levels[topic]
	if setting != AutoLevel {
		return level{version: setting, why: fmt.Sprintf("%s=%s", UpgradeLevelEnv(topic), setting)}, nil
	}
	if c.opts.Services == nil {
		return level{}, fmt.Errorf("rpc: %s=auto needs Options.Services (the services table)", UpgradeLevelEnv(topic))
	}
	c.mu.Lock()
	l, ok := c.auto[topic]
	c.mu.Unlock()
	if ok && time.Since(l.at) < autoLevelTTL {
		return l, nil
	}
	l, err := c.autoLevel(ctx, topic)
	if err != nil {
		return level{}, err
	}
	c.mu.Lock()
	c.auto[topic] = l
	c.mu.Unlock()
	return l, nil
}

func (c *Client) autoLevel(ctx context.Context, topic string) (level, error) {
	env := UpgradeLevelEnv(topic) + "=" + AutoLevel
	minVersion, err := c.opts.Services.MinTopicVersion(ctx, topic)
	if err != nil {
		return level{}, fmt.Errorf("%s: %w", env, err)
	}
	now := time.Now()
	if minVersion == 0 {
		return level{why: env + ": no live service", at: now}, nil
	}
	def, err := c.opts.Definition(topic)
	if err != nil {
		return level{}, fmt.Errorf("%s: %w", env, err)
	}
	keys := make([]int, 0, len(def.RPCVersions))
	for k := range def.RPCVersions {
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(keys)))
	for _, k := range keys {
		if k > minVersion {
			continue
		}
		v := def.RPCVersions[k]
		if _, _, err := managers.ParseVersion(v); err != nil {
			return level{}, fmt.Errorf("%s: manager %s: RPCVersions[%d]: %w", env, def.Name, k, err)
		}
		return level{version: v, why: fmt.Sprintf("%s: minimum service version of topic %s is %d", env, topic, minVersion), at: now}, nil
	}
	return level{}, fmt.Errorf("%s: manager %s maps no service version at or below %d (the minimum of topic %s) to an RPC version; add it to its Definition.RPCVersions",
		env, def.Name, minVersion, topic)
}

// CanSendVersion reports whether a call at version may be sent to topic
// under its upgrade level, as oslo's can_send_version: callers that know an
// older form of a request use it to pick the form, or whether to call a
// method added in a later minor. Workflow code uses
// CanSendVersionFromWorkflow.
func (c *Client) CanSendVersion(ctx context.Context, topic, version string) (bool, error) {
	l, err := c.level(ctx, topic)
	if err != nil || l.version == "" {
		return err == nil, err
	}
	cmp, err := managers.CompareVersions(version, l.version)
	if err != nil {
		return false, err
	}
	return cmp <= 0, nil
}

// ResetUpgradeLevels forgets the "auto" levels read so far, so the next call
// reads the services table again (for SIGHUP).
func (c *Client) ResetUpgradeLevels() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.auto)
}

// methodInfo is what a caller knows of a method it calls: the version it
// speaks, the version that added the method, and its request type.
type methodInfo struct {
	speaks string       // "" when unknown: the call goes unversioned
	known  bool         // the caller's binary declares the method (since, rt)
	since  string       // "" when unknown: minor 0 of speaks' major
	rt     reflect.Type // nil when unknown
}

// method returns method of topic as this client knows it: a local
// service's (AddLocal), else the topic's manager definition's Methods
// (Options.Definition).
func (c *Client) method(topic, method string) (managers.Method, bool) {
	if m, ok := c.localMethod(topic, method); ok {
		return m, true
	}
	c.mu.Lock()
	byName, ok := c.defs[topic]
	c.mu.Unlock()
	if !ok {
		byName = map[string]managers.Method{}
		if def, err := c.opts.Definition(topic); err == nil && def.Methods != nil {
			for _, m := range def.Methods() {
				byName[m.Name] = m
			}
		}
		c.mu.Lock()
		c.defs[topic] = byName
		c.mu.Unlock()
	}
	m, ok := byName[method]
	return m, ok
}

// info is what the client knows of method, with version (rpc.Version) as
// the version spoken when set.
func (c *Client) info(topic, method, version string) methodInfo {
	m, ok := c.method(topic, method)
	if !ok {
		return methodInfo{speaks: version}
	}
	mi := methodInfo{speaks: m.Version, known: true, since: m.Since, rt: m.RequestType()}
	if version != "" {
		mi.speaks = version
	}
	return mi
}

// sendVersion is the version a call of name to topic is sent at: the
// version its caller speaks, or, when that is above the topic's upgrade
// level l, the level itself if it is of the same major, the caller's binary
// declares the method (so it knows which version added it and its request
// type) and the method is not newer than the level; otherwise an
// UnsupportedVersion error at the caller naming the method, both versions
// and the level's source. An unknown version ("") is sent as is:
// unversioned.
func sendVersion(name, topic string, mi methodInfo, l level) (string, error) {
	if mi.speaks == "" || l.version == "" {
		return mi.speaks, nil
	}
	cmp, err := managers.CompareVersions(mi.speaks, l.version)
	if err != nil {
		return "", err
	}
	if cmp <= 0 {
		return mi.speaks, nil
	}
	refuse := func(why string) error {
		return &managers.Error{Type: managers.UnsupportedVersionType, Field: "version", Message: fmt.Sprintf(
			"%s at version %s is above the upgrade level %s of topic %s (%s)%s", name, mi.speaks, l.version, topic, l.why, why)}
	}
	if ok, _ := managers.Compatible(mi.speaks, l.version); !ok {
		return "", refuse(": another major version")
	}
	if !mi.known {
		return "", refuse(": the caller's binary does not declare the method (managers.Definition.Methods), so it cannot tell whether version " + l.version + " has it or write its request for it")
	}
	since := mi.since
	if since == "" {
		since = strings.SplitN(mi.speaks, ".", 2)[0] + ".0"
	}
	if added, err := managers.CompareVersions(since, l.version); err != nil || added > 0 {
		return "", refuse(fmt.Sprintf(": the method was added in version %s", since))
	}
	return l.version, nil
}

// encodeAt is encodeRequest of a request written for version mi.speaks,
// sent at version: when version is older, in the form it understands
// (managers.MakeCompatible, then managers.Backport with the request's Go
// type, or the method's when the request is JSON or a map). A request whose
// type is unknown cannot be made older and is refused at the caller.
func encodeAt(req any, host, name, method string, mi methodInfo, version, why string) (json.RawMessage, string, error) {
	if version == "" || version == mi.speaks {
		return encodeRequest(req, host)
	}
	// Say why the call is sent at an older version.
	capped := func(err error) error {
		if e, ok := managers.AsError(err); ok && e.Type == managers.UnsupportedVersionType {
			return &managers.Error{Type: e.Type, Field: e.Field, Message: e.Message + " (upgrade level: " + why + ")"}
		}
		return err
	}
	req, err := managers.MakeCompatible(method, req, version)
	if err != nil {
		return nil, "", capped(err)
	}
	rt := structType(req)
	if rt == nil {
		rt = mi.rt
	}
	if rt == nil {
		return nil, "", &managers.Error{Type: managers.UnsupportedVersionType, Field: "version", Message: fmt.Sprintf(
			"%s: the request is written for version %s and must be sent at %s (upgrade level: %s), but it is not a Go struct and this binary does not know the method's request type (managers.Definition.Methods) to write it for %s",
			name, mi.speaks, version, why, version)}
	}
	raw, target, err := encodeRequest(req, host)
	if err != nil {
		return nil, "", err
	}
	raw, err = managers.Backport(method, rt, raw, mi.speaks, version)
	if err != nil {
		return nil, "", capped(err)
	}
	return raw, target, nil
}

// structType is the struct type of req (a struct or a pointer to one), or
// nil.
func structType(req any) reflect.Type {
	rt := reflect.TypeOf(req)
	if rt == nil {
		return nil
	}
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if rt.Kind() != reflect.Struct {
		return nil
	}
	return rt
}
