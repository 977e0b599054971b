// Command mqgate is a STOMP and AMQP 1.0 message broker and protocol gateway,
// a drop-in replacement for Apache ActiveMQ. With no subcommand it serves.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mqgate:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	serve := newServeCmd()
	root := &cobra.Command{
		Use:   "mqgate",
		Short: "STOMP and AMQP 1.0 message broker, a drop-in replacement for ActiveMQ",
		Long: "mqgate is a STOMP and AMQP 1.0 message broker and protocol gateway.\n" +
			"Run with no subcommand (or 'serve') to start the broker.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          serve.RunE,
	}
	// The root command serves too, so it takes serve's flags.
	root.Flags().AddFlagSet(serve.Flags())
	root.AddCommand(serve, newProduceCmd(), newConsumeCmd(), newBenchCmd(), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of mqgate",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mqgate %s\n", v)
		},
	}
}
