package kafka

import (
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Logger adapts zerolog to franz-go's kgo.Logger. (franz-go's own kzerolog
// plugin is not published on the module proxy, so the project carries these
// few lines.)
type Logger struct{ L zerolog.Logger }

// Level maps zerolog's level to kgo's. franz-go's info messages (group joins,
// metadata updates) are routine, so they are logged only at debug.
func (l Logger) Level() kgo.LogLevel {
	switch l.L.GetLevel() {
	case zerolog.TraceLevel:
		return kgo.LogLevelDebug
	case zerolog.DebugLevel:
		return kgo.LogLevelInfo
	case zerolog.InfoLevel, zerolog.WarnLevel:
		return kgo.LogLevelWarn
	case zerolog.Disabled:
		return kgo.LogLevelNone
	default:
		return kgo.LogLevelError
	}
}

// Log writes one franz-go message with its key/value pairs as fields.
func (l Logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var ev *zerolog.Event
	switch level {
	case kgo.LogLevelError:
		ev = l.L.Error()
	case kgo.LogLevelWarn:
		ev = l.L.Warn()
	case kgo.LogLevelInfo:
		ev = l.L.Debug()
	default:
		ev = l.L.Trace()
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		k, _ := keyvals[i].(string)
		ev = ev.Interface(k, keyvals[i+1])
	}
	ev.Msg(msg)
}
