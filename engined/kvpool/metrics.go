package kvpool

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pool's Prometheus instruments. Counters are updated in
// place; block and sequence gauges are read from a Stats snapshot at scrape.
type metrics struct {
	hitTokens, missTokens prometheus.Counter
	evictions, copies     prometheus.Counter
	dedups, exhausted     prometheus.Counter
	gauges                *gaugeCollector
}

func newMetrics(p *Pool, reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "krserve", Subsystem: "kvpool", Name: name, Help: help})
	}
	m := &metrics{
		hitTokens:  counter("prefix_hit_tokens_total", "Prompt tokens whose KV was reused from cached blocks."),
		missTokens: counter("prefix_miss_tokens_total", "Prompt tokens that had to be computed."),
		evictions:  counter("evictions_total", "Cached blocks evicted to make room."),
		copies:     counter("cow_copies_total", "Blocks copied on write."),
		dedups:     counter("dedup_blocks_total", "Computed blocks replaced by an identical cached block."),
		exhausted:  counter("exhausted_total", "Allocations refused with ErrPoolExhausted."),
		gauges: &gaugeCollector{
			pool:      p,
			blocks:    prometheus.NewDesc("krserve_kvpool_blocks", "Blocks by state (free, used, cached).", []string{"state"}, nil),
			capacity:  prometheus.NewDesc("krserve_kvpool_capacity_blocks", "Physical blocks in the pool.", nil, nil),
			sequences: prometheus.NewDesc("krserve_kvpool_sequences", "Live sequences.", nil, nil),
		},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.hitTokens, m.missTokens, m.evictions, m.copies, m.dedups, m.exhausted, m.gauges} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.Join(ErrInvalidConfig, err)
			}
			return nil, err
		}
	}
	return m, nil
}

// gaugeCollector exports a consistent Stats snapshot at every scrape.
type gaugeCollector struct {
	pool                        *Pool
	blocks, capacity, sequences *prometheus.Desc
}

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.blocks
	ch <- g.capacity
	ch <- g.sequences
}

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	st := g.pool.Stats()
	ch <- prometheus.MustNewConstMetric(g.blocks, prometheus.GaugeValue, float64(st.FreeBlocks), "free")
	ch <- prometheus.MustNewConstMetric(g.blocks, prometheus.GaugeValue, float64(st.UsedBlocks), "used")
	ch <- prometheus.MustNewConstMetric(g.blocks, prometheus.GaugeValue, float64(st.CachedBlocks), "cached")
	ch <- prometheus.MustNewConstMetric(g.capacity, prometheus.GaugeValue, float64(st.TotalBlocks))
	ch <- prometheus.MustNewConstMetric(g.sequences, prometheus.GaugeValue, float64(st.Sequences))
}
