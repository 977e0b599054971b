package gateway

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/redis"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/config"
)

// openRedis opens the Redis store cfg names.
func openRedis(ctx context.Context, cfg *config.Config, log zerolog.Logger) (store.Store, error) {
	rc := cfg.Store.Redis
	opts := redis.Options{
		URL:        rc.URL,
		Addrs:      config.RedisAddrs(rc.Addrs),
		MasterName: rc.MasterName,
		Username:   rc.Username,
		Password:   rc.Password,
		DB:         rc.DB,
		Group:      rc.Group,
		MaxSize:    int64(rc.MaxSize),
		Logger:     log.With().Str("store", "redis").Logger(),
	}
	if rc.TLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	st, err := redis.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("opening the Redis store (group %s): %w", rc.Group, err)
	}
	return st, nil
}
