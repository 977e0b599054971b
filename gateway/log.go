package gateway

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/config"
)

// NewLogger returns the logger cfg asks for, writing to w: console format
// on a terminal and JSON otherwise when the format is "auto".
func NewLogger(cfg config.LogConfig, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	console := cfg.Format == config.FormatConsole
	if cfg.Format == config.FormatAuto {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.DateTime}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
