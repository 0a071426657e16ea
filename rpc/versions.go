package rpc

import (
	"context"
	"fmt"
	"sort"
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
// older form of a request use it to pick the form.
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

// checkLevel returns an UnsupportedVersion error when version is above the
// topic's upgrade level.
func (c *Client) checkLevel(ctx context.Context, name, topic, version string) error {
	l, err := c.level(ctx, topic)
	if err != nil {
		return fmt.Errorf("upgrade level of topic %s: %w", topic, err)
	}
	if l.version == "" {
		return nil
	}
	cmp, err := managers.CompareVersions(version, l.version)
	if err != nil {
		return err
	}
	if cmp > 0 {
		return &managers.Error{Type: managers.UnsupportedVersionType, Field: "version", Message: fmt.Sprintf(
			"%s at version %s is above the upgrade level %s of topic %s (%s)", name, version, l.version, topic, l.why)}
	}
	return nil
}

// ResetUpgradeLevels forgets the "auto" levels read so far, so the next call
// reads the services table again (for SIGHUP).
func (c *Client) ResetUpgradeLevels() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.auto)
}
