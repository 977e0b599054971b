package gateway

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/config"
)

// openStore opens the store cfg names; nil means memory only.
func openStore(cfg *config.Config, log zerolog.Logger) (store.Store, error) {
	switch cfg.Store.Type {
	case config.StoreMemory:
		return nil, nil
	}
	return nil, fmt.Errorf("store.type: %q is not available in this build", cfg.Store.Type)
}
