package memory_test

import (
	"testing"

	"github.com/mqgate/mqgate/backend/memory"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunOptions(t, func(*testing.T, string) store.Store {
		return memory.New(memory.Options{})
	}, storetest.Options{
		Volatile: true,
		OpenLimited: func(_ *testing.T, _ string, maxBytes int64) store.Store {
			return memory.New(memory.Options{MaxBytes: maxBytes})
		},
	})
}
