package drift

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisKey is the hash holding every observation: field "server/tool",
// value the definition hash. One key keeps Load a single HGETALL.
const RedisKey = "actiongate:tooldefs"

// Redis is a Store shared by every replica that talks to the same Redis.
type Redis struct {
	rdb redis.UniversalClient
}

// NewRedis returns a Store on rdb.
func NewRedis(rdb redis.UniversalClient) *Redis { return &Redis{rdb: rdb} }

func (r *Redis) Observe(ctx context.Context, server string, hashes map[string]string) error {
	if len(hashes) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(hashes))
	for tool, h := range hashes {
		args = append(args, key(server, tool), h)
	}
	if err := r.rdb.HSet(ctx, RedisKey, args...).Err(); err != nil {
		return fmt.Errorf("recording tool definitions in redis: %w", err)
	}
	return nil
}

func (r *Redis) Load(ctx context.Context) (Observations, error) {
	m, err := r.rdb.HGetAll(ctx, RedisKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading tool definitions from redis: %w", err)
	}
	obs := make(Observations, len(m))
	for k, v := range m {
		if !strings.Contains(k, "/") {
			continue // not ours
		}
		obs[k] = v
	}
	return obs, nil
}
