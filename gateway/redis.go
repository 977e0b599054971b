package gateway

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/config"
)

// openRedis opens the Redis store cfg names.
func openRedis(_ context.Context, _ *config.Config, _ zerolog.Logger) (store.Store, error) {
	return nil, errors.New("store.type: \"redis\" is not available in this build yet; use memory or disk")
}
