package devenv

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a running redis-server (Debian's package) on loopback, holding
// nothing on disk.
type Redis struct {
	Addr string
	Logs *Logs
	proc *process
}

// Stop kills the server.
func (r *Redis) Stop() { r.proc.stop() }

// FindRedis returns redis-server's path or ErrNotInstalled (install it
// with `apt-get install redis-server`; .ci/run does).
func FindRedis() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.Join(ErrNotInstalled, errors.New("redis-server is not on PATH (apt-get install redis-server)"))
	}
	return p, nil
}

// StartRedis runs redis-server on 127.0.0.1 (port 0: a free one) without
// persistence and returns once it answers PING.
func StartRedis(ctx context.Context, port int) (*Redis, error) {
	bin, err := FindRedis()
	if err != nil {
		return nil, err
	}
	var r *Redis
	err = retryPort(port, func(p int) error {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(p), "--save", "", "--appendonly", "no",
			"--protected-mode", "yes"}
		proc, err := startProcess(ctx, "redis", "", bin, args, nil)
		if err != nil {
			return err
		}
		r = &Redis{Addr: addr, Logs: proc.logs, proc: proc}
		return proc.waitReady(ctx, 10*time.Second, func(ctx context.Context) error {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			return c.Ping(ctx).Err()
		})
	})
	return r, err
}
