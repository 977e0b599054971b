package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Load returns the configuration from, highest precedence first: the flags
// in flags that the user set (see RegisterFlags; flags may be nil), MQGATE_*
// environment variables, the file at path ("" for none; its extension
// .yaml, .yml, .toml or .json picks the format) and the defaults.
//
// Keys in the file are case-insensitive; a key with no value (`key:` in
// YAML) keeps its default. An environment variable that is set counts even
// when empty, so MQGATE_STOMP_LISTEN= disables STOMP.
//
// The returned Config has passed Validate. Otherwise Load returns an error
// joining one *KeyError for every unknown key, unparsable value and invalid
// value, each saying where the value came from. A missing or malformed file
// is a single error. Load reads no global state but the environment and is
// safe to call from many goroutines.
func Load(path string, flags *pflag.FlagSet) (*Config, error) {
	return load(path, flags, os.LookupEnv)
}

// load is Load with the environment supplied by lookupEnv, for tests.
func load(path string, flags *pflag.FlagSet, lookupEnv func(string) (string, bool)) (*Config, error) {
	v := viper.New()
	def := Default()
	for _, k := range keys {
		v.SetDefault(k.name, k.get(def))
	}

	source := make(map[string]string) // key → where its value came from
	var errs []*KeyError
	if path != "" {
		if err := readFile(v, path); err != nil {
			return nil, err
		}
		errs = unknownKeys(v, "file "+path)
		for _, k := range keys {
			if v.InConfig(k.name) {
				source[k.name] = "file " + path
			}
		}
	}

	// Environment variables and flags go in with v.Set, in rising order of
	// precedence, rather than through AutomaticEnv and BindPFlag: the
	// environment then comes from lookupEnv (tests run in parallel without
	// touching the process environment), and a flag counts only if the
	// user set it (Changed), never for its default.
	for _, k := range keys {
		if val, ok := lookupEnv(envName(k.name)); ok {
			v.Set(k.name, val)
			source[k.name] = envName(k.name)
		}
	}
	if flags != nil {
		for _, k := range keys {
			if f := flags.Lookup(flagName(k.name)); f != nil && f.Changed {
				v.Set(k.name, f.Value.String())
				source[k.name] = "--" + flagName(k.name)
			}
		}
	}

	cfg := Default()
	decodeErrs := decode(v, cfg)
	failed := make(map[string]bool, len(decodeErrs))
	for _, e := range decodeErrs {
		failed[e.Key] = true
	}
	valueErrs := decodeErrs
	for _, e := range keyErrors(cfg.Validate()) {
		if !failed[e.Key] {
			valueErrs = append(valueErrs, e)
		}
	}
	sortKeyErrors(valueErrs)
	for _, e := range valueErrs {
		e.Source = source[baseKey(e.Key)]
	}
	errs = append(errs, valueErrs...)
	if len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, errors.Join(all...)
	}
	return cfg, nil
}

// readFile reads the config file at path into v, its format chosen by its
// extension.
func readFile(v *viper.Viper, path string) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch ext {
	case "yaml", "yml", "toml", "json":
	default:
		return fmt.Errorf("config file %s: unknown extension %q; use .yaml, .yml, .toml or .json", path, filepath.Ext(path))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	v.SetConfigType(ext)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("parse config file %s: %w", path, err)
	}
	return nil
}

// decode decodes every known key's value in v into cfg, which holds the
// defaults, and returns one KeyError for each value that does not parse.
// A key whose value is missing keeps its default.
func decode(v *viper.Viper, cfg *Config) []*KeyError {
	// Decode from the known keys only: unknown ones were reported by
	// unknownKeys, and a section given as a scalar ("store: disk") must
	// not hide the defaults below it.
	tree := make(map[string]any)
	for _, k := range keys {
		val := v.Get(k.name)
		if val == nil {
			continue
		}
		m := tree
		parts := strings.Split(k.name, ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = make(map[string]any)
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = val
	}

	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:  decodeHook,
		ErrorUnused: true,
		Result:      cfg,
		TagName:     "mapstructure",
	})
	if err != nil {
		return []*KeyError{{Msg: err.Error()}}
	}
	err = dec.Decode(tree)
	// Decode wraps several errors in one with a preamble; take the list.
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		err = joined.(error)
	}
	var errs []*KeyError
	for _, e := range flatten(err) {
		var de *mapstructure.DecodeError
		if errors.As(e, &de) {
			errs = append(errs, &KeyError{Key: de.Name(), Msg: errors.Unwrap(de).Error()})
		} else {
			errs = append(errs, &KeyError{Msg: e.Error()})
		}
	}
	return errs
}

// flatten returns the leaves of a tree of joined errors.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// keyErrors returns the *KeyErrors joined in err, as Validate returns them.
func keyErrors(err error) []*KeyError {
	var out []*KeyError
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			out = append(out, ke)
		} else {
			out = append(out, &KeyError{Msg: e.Error()})
		}
	}
	return out
}

// key is one leaf of the Config tree.
type key struct {
	name  string // dotted key, e.g. "store.disk.fsync"
	index []int  // field index path from Config
}

// get returns the key's field of c.
func (k key) get(c *Config) any {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index).Interface()
}

// keys lists every leaf key in field order; sections lists every key that
// holds other keys ("store", "store.disk"); keyOrder gives a key's position
// in keys. All three are read-only after package initialisation.
var (
	keys     []key
	sections = make(map[string]bool)
	keyOrder = make(map[string]int)
)

func init() {
	collectKeys(reflect.TypeFor[Config](), "", nil)
	for i, k := range keys {
		keyOrder[k.name] = i
	}
}

// collectKeys appends the leaf keys of struct type t, whose key is prefix
// and whose field index path is index, to keys.
func collectKeys(t reflect.Type, prefix string, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if prefix != "" {
			name = prefix + "." + name
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			sections[name] = true
			collectKeys(f.Type, name, idx)
			continue
		}
		keys = append(keys, key{name: name, index: idx})
	}
}

// sortKeyErrors sorts errs by their key's place in the Config tree, so
// errors read in the order of the example file; errors without a known key
// go last.
func sortKeyErrors(errs []*KeyError) {
	order := func(e *KeyError) int {
		if i, ok := keyOrder[baseKey(e.Key)]; ok {
			return i
		}
		return len(keys)
	}
	slices.SortStableFunc(errs, func(a, b *KeyError) int { return order(a) - order(b) })
}

// baseKey returns the key a KeyError's key is under: "broker.policies"
// for "broker.policies[2].dlq".
func baseKey(k string) string {
	if i := strings.IndexByte(k, '['); i >= 0 {
		return k[:i]
	}
	return k
}

// unknownKeys returns a KeyError for every key in v (flattened,
// lower-case) that is not in the Config tree, naming the first unknown
// part of the path ("stomp.extra" for "stomp.extra.a") and suggesting the
// closest known key; and for every section given a plain value. A value
// given where a leaf is expected ("stomp.listen.a") is left to decode, which
// reports it against the leaf.
func unknownKeys(v *viper.Viper, src string) []*KeyError {
	all := v.AllKeys()
	slices.Sort(all)
	var errs []*KeyError
	seen := make(map[string]bool)
	for _, k := range all {
		if _, ok := keyOrder[k]; ok {
			continue
		}
		parts := strings.Split(k, ".")
		bad, underLeaf := "", false
		for i := 1; i <= len(parts); i++ {
			p := strings.Join(parts[:i], ".")
			if _, ok := keyOrder[p]; ok {
				underLeaf = true
				break
			}
			if !sections[p] {
				bad = p
				break
			}
		}
		switch {
		case underLeaf:
		case bad == "":
			// A section with no value (YAML "disk:") is empty, not wrong.
			val := v.Get(k)
			if val == nil || reflect.ValueOf(val).Kind() == reflect.Map {
				continue
			}
			errs = append(errs, &KeyError{Key: k, Source: src,
				Msg: fmt.Sprintf("%s is a value, but %s is a section; set the keys under it, such as %s", describe(val), k, firstKeyUnder(k))})
		case !seen[bad]:
			seen[bad] = true
			msg := "unknown key"
			if s := suggest(bad); s != "" {
				msg += "; did you mean " + s + "?"
			}
			errs = append(errs, &KeyError{Key: bad, Source: src, Msg: msg})
		}
	}
	return errs
}

// firstKeyUnder returns the first leaf key in section.
func firstKeyUnder(section string) string {
	for _, k := range keys {
		if strings.HasPrefix(k.name, section+".") {
			return k.name
		}
	}
	return section
}

// suggest returns the known keys or sections an unknown key most likely
// meant, as "a", "a or b" or "a, b or c", or "" if none is close: those
// with the same last part ("listen" → stomp.listen, amqp.listen or
// admin.listen), else those it begins ("stomp.heartbeat" →
// stomp.heartbeat_min), else those nearest by edit distance, if within a
// third of its length.
func suggest(unknown string) string {
	cands := make([]string, 0, len(keys)+len(sections))
	for _, k := range keys {
		cands = append(cands, k.name)
	}
	cands = append(cands, slices.Sorted(maps.Keys(sections))...)

	last := unknown[strings.LastIndex(unknown, ".")+1:]
	var same []string
	for _, c := range cands {
		if c[strings.LastIndex(c, ".")+1:] == last {
			same = append(same, c)
		}
	}
	if len(same) > 0 && len(same) <= 3 {
		return orList(same)
	}

	var prefixed []string
	for _, c := range cands {
		if strings.HasPrefix(c, unknown) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) > 0 && len(prefixed) <= 3 {
		return orList(prefixed)
	}

	best, near := max(2, len(unknown)/3), []string(nil)
	for _, c := range cands {
		switch d := editDistance(unknown, c); {
		case d < best || d == best && near == nil:
			best, near = d, []string{c}
		case d == best:
			near = append(near, c)
		}
	}
	if len(near) > 3 {
		return ""
	}
	return orList(near)
}

// orList joins words as "a", "a or b", "a, b or c".
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// editDistance returns the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	policiesType = reflect.TypeFor[[]PolicyConfig]()
)

// decodeHook converts a value from a file (YAML/TOML/JSON scalars), the
// environment or a flag (strings) or a default (typed) to the type of its
// field, so that every leaf is parsed here with messages that say what to
// write. It is a mapstructure.DecodeHookFuncType.
func decodeHook(_, to reflect.Type, data any) (any, error) {
	switch {
	case to == policiesType:
		return toPolicies(data)
	case to == durationType:
		return toDuration(data)
	case to == byteSizeType:
		return toByteSize(data)
	case to.Kind() == reflect.Int:
		return toInt(data)
	case to.Kind() == reflect.Float64:
		return toFloat(data)
	case to.Kind() == reflect.Bool:
		return toBool(data)
	case to.Kind() == reflect.String:
		return toString(data)
	}
	return data, nil
}

// toPolicies reads broker.policies: a list of entries from a file, or, from
// the environment or a flag, the same list written as YAML or JSON text
// (`[{destination: "queue://orders.>", max_redeliveries: 3}]`). An empty
// text or list is no policies.
func toPolicies(data any) (any, error) {
	text, ok := data.(string)
	if !ok {
		if v := reflect.ValueOf(data); v.Kind() == reflect.Slice && v.Len() == 0 {
			return []PolicyConfig{}, nil
		}
		return data, nil
	}
	if strings.TrimSpace(text) == "" {
		return []PolicyConfig{}, nil
	}
	var entries []map[string]any
	if err := yaml.Unmarshal([]byte(text), &entries); err != nil {
		return nil, fmt.Errorf("%q is not a list of policy entries in YAML or JSON, such as "+
			`[{destination: "queue://orders.>", max_redeliveries: 3}]: %v`, text, err)
	}
	return entries, nil
}

// toBool parses true or false (also from a string, as the environment and
// flags give them).
func toBool(data any) (any, error) {
	switch d := data.(type) {
	case bool:
		return d, nil
	case string:
		v, err := strconv.ParseBool(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", d)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%v is not true or false", data)
}

// toFloat parses a number: a float or integer value, or a string.
func toFloat(data any) (any, error) {
	switch d := data.(type) {
	case float64:
		return d, nil
	case float32:
		return float64(d), nil
	case string:
		v, err := strconv.ParseFloat(strings.TrimSpace(d), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number; write one such as 2 or 1.5", d)
		}
		return v, nil
	}
	n, err := wholeNumber(data)
	if err != nil {
		return nil, err
	}
	return float64(n), nil
}

// toDuration parses a duration: a string such as "10s", or a bare 0.
func toDuration(data any) (any, error) {
	switch d := data.(type) {
	case time.Duration:
		return d, nil
	case string:
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf(`%q is not a duration; write a number with a unit, such as "10s", "500ms" or "1m30s"`, d)
		}
		return v, nil
	}
	n, err := wholeNumber(data)
	if err != nil {
		return nil, err
	}
	if n != 0 {
		return nil, fmt.Errorf(`%v has no unit; write a duration such as "%vs" or "%vms"`, data, n, n)
	}
	return time.Duration(0), nil
}

// toByteSize parses a size: a string as ParseByteSize reads it, or a whole
// non-negative number of bytes.
func toByteSize(data any) (any, error) {
	switch b := data.(type) {
	case ByteSize:
		return b, nil
	case string:
		return ParseByteSize(b)
	}
	n, err := wholeNumber(data)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%v is negative; a size is %s", data, sizeSyntax)
	}
	return ByteSize(n), nil
}

// toInt parses a whole number, from a number or a decimal string.
func toInt(data any) (any, error) {
	if s, ok := data.(string); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	}
	n, err := wholeNumber(data)
	if err != nil {
		return nil, err
	}
	if int64(int(n)) != n {
		return nil, fmt.Errorf("%v is too large", data)
	}
	return int(n), nil
}

// toString accepts a string or any scalar, written as in the file
// (`id: 42` is "42"); a section or a list is an error.
func toString(data any) (any, error) {
	switch d := data.(type) {
	case string:
		return d, nil
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(d), nil
	}
	return nil, notAValue(data)
}

// wholeNumber returns data, a number from a file, as an int64; a fraction,
// an out-of-range number or a non-number is an error.
func wholeNumber(data any) (int64, error) {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("%v is too large", data)
		}
		return int64(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, fmt.Errorf("%v is not a whole number", data)
		}
		return int64(f), nil
	}
	return 0, notAValue(data)
}

// notAValue describes data, which is not a usable scalar, as an error.
func notAValue(data any) error {
	switch reflect.ValueOf(data).Kind() {
	case reflect.Map:
		return errors.New("is a section, but a single value is expected here")
	case reflect.Slice, reflect.Array:
		return errors.New("is a list, but a single value is expected here")
	}
	return fmt.Errorf("%v (%T) is not a valid value here", data, data)
}

// describe formats a scalar from a file for a message: strings quoted.
func describe(val any) string {
	if s, ok := val.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(val)
}
