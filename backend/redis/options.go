package redis

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Options configures a Store.
type Options struct {
	// Client, if set, is used as is (and not closed by Close); the
	// connection fields below are ignored.
	Client goredis.UniversalClient
	// URL names a standalone server: redis://[user:password@]host:port/db
	// or rediss:// for TLS. Ignored when Addrs is set.
	URL string
	// Addrs are seed addresses: Sentinels when MasterName is set, Cluster
	// nodes when there are several, else one standalone server.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	// TLS, when set, connects with it (rediss:// in URL does the same).
	TLS *tls.Config
	// Group names the master/slave group: the key prefix.
	Group string
	// MaxSize is the bytes of message data and definitions at which
	// growth is refused with store.ErrFull; 0 means no limit.
	MaxSize int64
	// Logger receives connection trouble and lease changes.
	Logger zerolog.Logger
}

// clientLog sends go-redis's own messages (reconnects, pool trouble) to
// the first Store's logger at debug level: the store reports what matters
// to the broker itself.
var clientLog sync.Once

type zlog struct{ l zerolog.Logger }

func (z zlog) Printf(_ context.Context, format string, v ...any) {
	z.l.Debug().Msgf("go-redis: "+format, v...)
}

// newClient builds the UniversalClient opts names.
func newClient(opts Options) (goredis.UniversalClient, error) {
	if len(opts.Addrs) == 0 {
		o, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: store.redis.url: %w", err)
		}
		if opts.Username != "" {
			o.Username = opts.Username
		}
		if opts.Password != "" {
			o.Password = opts.Password
		}
		if opts.TLS != nil {
			o.TLSConfig = opts.TLS
		}
		return goredis.NewClient(o), nil
	}
	return goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:      opts.Addrs,
		MasterName: opts.MasterName,
		Username:   opts.Username,
		Password:   opts.Password,
		DB:         opts.DB,
		TLSConfig:  opts.TLS,
	}), nil
}
