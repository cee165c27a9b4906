package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/mesh"
)

func runCmd() *cobra.Command {
	var file, level string
	cmd := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Run the gateway (as root: creates the tunnel interface and routes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			cfg, err := configs.Load(file)
			if err != nil {
				return err
			}
			return runGateway(cfg, log.With("node", cfg.Node.Name))
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "/etc/vpcmesh/vpcmesh.toml", "config file")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// runGateway runs until SIGINT or SIGTERM, then removes everything it
// installed. SIGHUP reloads the config file; an invalid one is logged and
// the running config stays.
func runGateway(cfg *configs.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for _, w := range cfg.Warnings {
		log.Warn(w.Error())
	}
	procs, cpus := setGoProcs()
	log.Info("go runtime", "procs", procs, "cpus", cpus)
	// Bound before anything is set up: a taken port changes nothing.
	var metrics net.Listener
	if addr := cfg.Node.MetricsListen; addr != "" {
		var err error
		if metrics, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("%s: node.metrics_listen: %w", cfg.Path, err)
		}
		defer metrics.Close()
	}
	g, err := mesh.Start(ctx, cfg, discovery.Resolve, log.With("subsystem", "mesh"))
	if err != nil {
		return err
	}
	g.Version = version // before the control socket and metrics serve it
	if metrics != nil {
		go serveMetrics(metrics, g.MetricsHandler(), cfg.Node.MetricsWebConfig, log)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	control := make(chan error, 1)
	go func() {
		err := mesh.ServeControl(ctx, cfg.Node.ControlSocket, g, log.With("subsystem", "control"))
		if err != nil {
			cancel(err)
		}
		control <- err
	}()
	reload := make(chan *configs.Config)
	go watchReload(ctx, cfg.Path, reload, log)
	daemon.SdNotify(false, daemon.SdNotifyReady)
	log.Info("gateway up", "version", version, "interface", cfg.Node.Interface, "port", cfg.Node.ListenPort, "peers", len(cfg.Peers))
	runErr := g.Run(ctx, reload)
	cancel(nil)
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	closeErr := g.Close()
	ctlErr := <-control
	log.Info("gateway stopped, routes and interface removed")
	for _, err := range []error{runErr, ctlErr, closeErr} {
		if err != nil {
			return err
		}
	}
	return nil
}

func watchReload(ctx context.Context, path string, out chan<- *configs.Config, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := configs.Load(path)
		if err != nil {
			log.Error("reload: invalid config, keeping the running one", "err", fmt.Sprint(err))
			continue
		}
		select {
		case out <- cfg:
		case <-ctx.Done():
			return
		}
	}
}

// serveMetrics serves /metrics until the listener is closed, with the TLS
// and basic auth of webConfig when set.
func serveMetrics(ln net.Listener, h http.Handler, webConfig string, log *slog.Logger) {
	if err := mesh.ServeMetrics(ln, h, webConfig, log.With("subsystem", "metrics")); err != nil {
		log.Error("metrics server", "err", err)
	}
}
