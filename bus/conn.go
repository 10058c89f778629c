package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// ConnConfig says how to reach an external NATS deployment.
type ConnConfig struct {
	URL       string        `env:"NATS_URL" doc:"comma-separated NATS server URLs"`               // comma-separated server URLs
	User      string        `env:"NATS_USER" doc:"user for user/password authentication"`         // user/password authentication
	Password  string        `env:"NATS_PASSWORD" doc:"password for user/password authentication"` //
	CredsFile string        `env:"NATS_CREDS" doc:"JWT credentials file"`                         // JWT + nkey credentials file
	TLSCA     string        `env:"NATS_TLS_CA" doc:"CA bundle that verifies the server"`          // CA bundle to verify the server
	TLSCert   string        `env:"NATS_TLS_CERT" doc:"client certificate for mutual TLS"`         // client certificate (mutual TLS)
	TLSKey    string        `env:"NATS_TLS_KEY" doc:"client key for mutual TLS"`                  // client key
	Timeout   time.Duration `env:"NATS_CONNECT_TIMEOUT" envDefault:"5s" doc:"dial timeout"`
	// InboxPrefix scopes reply inboxes so permissions can confine each user
	// to its own (deploy/nats/permissions.conf); empty with a User means
	// "_INBOX.<user>".
	InboxPrefix string `env:"NATS_INBOX_PREFIX" doc:"reply inbox prefix; default _INBOX.<user> when a user is set"`
}

// Validate checks that the settings are consistent.
func (c *ConnConfig) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("bus: NATS URL is empty")
	case c.CredsFile != "" && c.User != "":
		return errors.New("bus: set either a creds file or a user, not both")
	case c.Password != "" && c.User == "":
		return errors.New("bus: a password needs a user")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("bus: TLS client certificate and key go together")
	}
	return nil
}

// ConnDeps are the injected dependencies of a connection.
type ConnDeps struct {
	Logger  *slog.Logger
	Metrics *Metrics // may be nil
}

// Connect dials an external NATS deployment.
func Connect(cfg ConnConfig, name string, deps ConnDeps, opts ...nats.Option) (*nats.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	all := connOptions(name, deps)
	if cfg.Timeout > 0 {
		all = append(all, nats.Timeout(cfg.Timeout))
	}
	if cfg.User != "" {
		all = append(all, nats.UserInfo(cfg.User, cfg.Password))
	}
	prefix := cfg.InboxPrefix
	if prefix == "" && cfg.User != "" {
		prefix = "_INBOX." + cfg.User
	}
	if prefix != "" {
		all = append(all, nats.CustomInboxPrefix(prefix))
	}
	if cfg.CredsFile != "" {
		all = append(all, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCA != "" {
		all = append(all, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		all = append(all, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	all = append(all, opts...)
	nc, err := nats.Connect(cfg.URL, all...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", cfg.URL, err)
	}
	return nc, nil
}

// connOptions are the options every krserve connection uses: reconnect
// forever, and surface async errors (slow consumers, permission
// violations) in logs and metrics instead of losing them.
func connOptions(name string, deps ConnDeps) []nats.Option {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := deps.Metrics
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				m.slowConsumer()
				dropped := 0
				if sub != nil {
					dropped, _ = sub.Dropped()
				}
				log.Warn("nats slow consumer: messages dropped", "subject", subj, "dropped", dropped)
				return
			}
			m.asyncError()
			log.Error("nats async error", "subject", subj, "err", err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
}

// Metrics counts bus-level failures. Build one per process with NewMetrics.
type Metrics struct {
	SlowConsumers prometheus.Counter
	AsyncErrors   prometheus.Counter
	StreamGaps    prometheus.Counter
	StreamIdle    prometheus.Counter
	NoResponders  prometheus.Counter
}

// NewMetrics registers the bus metrics with reg (nil reg: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SlowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_bus_slow_consumer_total", Help: "Subscriptions that dropped messages because the client could not keep up."}),
		AsyncErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_bus_async_errors_total", Help: "Asynchronous NATS errors other than slow consumers (e.g. permission violations)."}),
		StreamGaps:    prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_bus_stream_gaps_total", Help: "Token streams that skipped a sequence number."}),
		StreamIdle:    prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_bus_stream_idle_total", Help: "Token streams abandoned after the idle timeout."}),
		NoResponders:  prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_bus_no_responders_total", Help: "Requests that found no subscriber."}),
	}
	if reg != nil {
		reg.MustRegister(m.SlowConsumers, m.AsyncErrors, m.StreamGaps, m.StreamIdle, m.NoResponders)
	}
	return m
}

func (m *Metrics) slowConsumer() {
	if m != nil {
		m.SlowConsumers.Inc()
	}
}

func (m *Metrics) asyncError() {
	if m != nil {
		m.AsyncErrors.Inc()
	}
}

func (m *Metrics) gap() {
	if m != nil {
		m.StreamGaps.Inc()
	}
}

func (m *Metrics) idle() {
	if m != nil {
		m.StreamIdle.Inc()
	}
}

func (m *Metrics) noResponders() {
	if m != nil {
		m.NoResponders.Inc()
	}
}
