package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/gateway"
)

// newServeCmd returns the command that runs the broker.
func newServeCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker (the default command)",
		Long: "Run the broker. Settings come from flags, then MQGATE_* environment variables,\n" +
			"then the --config file, then defaults; see mqgate.example.yaml for every key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, configPath)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "configuration file (YAML, TOML or JSON, by extension)")
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func serve(cmd *cobra.Command, configPath string) error {
	cfg, err := config.Load(configPath, cmd.Flags())
	if err != nil {
		return err
	}
	log, err := gateway.NewLogger(cfg.Log, os.Stderr)
	if err != nil {
		return err
	}
	gateway.Version = version
	g, err := gateway.New(cfg, gateway.WithLogger(log))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := g.Start(ctx); err != nil {
		return err
	}
	log.Info().Str("version", version).Str("node", cfg.Node.ID).Str("store", cfg.Store.Type).Str("role", g.Role()).Msg("mqgate started")
	<-ctx.Done()
	stop()
	log.Info().Dur("timeout", cfg.Shutdown.Timeout).Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
	defer cancel()
	if err := g.Close(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}
