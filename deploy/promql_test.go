package deploy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"testing"
)

// errExpr means an expression could not be scanned (an unterminated
// string, selector, range or group).
var errExpr = errors.New("deploy: malformed PromQL expression")

// promqlKeywords are identifiers that are never metric names: binary and
// grouping keywords, aggregation operators (which may be followed by a
// grouping clause instead of a parenthesis) and literals.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "inf": true, "nan": true, "start": true, "end": true,
}

// groupingKeywords take a parenthesised label list.
var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// metricNames returns the metric names an expression selects, sorted and
// unique. It is a scanner, not a parser: label matchers, ranges, strings,
// Grafana variables, numbers, durations, functions and the label lists of
// grouping clauses are skipped; every other identifier is a metric name.
func metricNames(expr string) ([]string, error) {
	seen := map[string]bool{}
	s := expr
	i := 0
	// skipTo returns the index after the closing byte matching s[i], with
	// quoted strings inside skipped.
	skipTo := func(i int, closing byte) (int, error) {
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == closing:
				return j + 1, nil
			case c == '"' || c == '\'' || c == '`':
				end, err := skipString(s, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			}
		}
		return 0, fmt.Errorf("%w: unclosed %q in %q", errExpr, s[i], expr)
	}
	for i < len(s) {
		c := s[i]
		var err error
		switch {
		case c == '"' || c == '\'' || c == '`':
			i, err = skipString(s, i)
		case c == '{':
			i, err = skipTo(i, '}')
		case c == '[':
			i, err = skipTo(i, ']')
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i, err = skipTo(i, '}')
			} else {
				for i < len(s) && isIdent(s[i]) {
					i++
				}
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdent(s[i]) {
				i++
			}
			name := s[start:i]
			next := i
			for next < len(s) && (s[next] == ' ' || s[next] == '\t' || s[next] == '\n' || s[next] == '\r') {
				next++
			}
			paren := next < len(s) && s[next] == '('
			switch {
			case groupingKeywords[name] && paren:
				i, err = skipTo(next, ')')
			case promqlKeywords[name], paren:
				// keyword or function call
			default:
				seen[name] = true
			}
		default:
			i++
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// skipString returns the index after the string literal starting at s[i].
func skipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if quote != '`' {
				j++
			}
		case quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string in %q", errExpr, s)
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
		err  error
	}{
		{`up`, []string{"up"}, nil},
		{`sum by (job, le) (rate(a_bucket{le="+Inf", x=~"y|z"}[5m]))`, []string{"a_bucket"}, nil},
		{`a / on (metric) group_left (x) b > 0.95 and c unless d offset 5m`, []string{"a", "b", "c", "d"}, nil},
		{`histogram_quantile(0.99, sum without (instance) (rate(h_bucket[$__rate_interval])))`, []string{"h_bucket"}, nil},
		{`label_replace(m, "dst", "$1", "src", "(.*)") or vector(0) * 1e-3`, []string{"m"}, nil},
		{"time() - max by (variant) (level:metric:rate5m{variant=\"a}b\"}) # comment with words\n", []string{"level:metric:rate5m"}, nil},
		{`count(sum by(x)(y))`, []string{"y"}, nil},
		{`m{a="b`, nil, errExpr},
		{`rate(m[5m)`, nil, errExpr},
		{`sum by (job, instance`, nil, errExpr},
	} {
		got, err := metricNames(c.expr)
		if !errors.Is(err, c.err) {
			t.Errorf("%q: error %v, want %v", c.expr, err, c.err)
			continue
		}
		if c.err == nil && !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.expr, got, c.want)
		}
	}
}

var identRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

func FuzzMetricNames(f *testing.F) {
	exprs, err := allExprs()
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range exprs {
		f.Add(e.expr)
	}
	f.Add(`m{a="\"}"}[5m]`)
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := metricNames(expr)
		if err != nil {
			if !errors.Is(err, errExpr) {
				t.Fatalf("error %v does not wrap errExpr", err)
			}
			return
		}
		if !sort.StringsAreSorted(names) {
			t.Fatalf("names not sorted: %v", names)
		}
		for _, n := range names {
			if !identRe.MatchString(n) || promqlKeywords[n] {
				t.Fatalf("%q yields %q, not a metric name", expr, n)
			}
		}
	})
}
