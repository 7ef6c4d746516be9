package rules

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Target types.
const (
	TargetWebhook  = "webhook"  // JSON of the alert, optionally HMAC-signed
	TargetTelegram = "telegram" // Telegram Bot API sendMessage
	TargetSlack    = "slack"    // Slack incoming webhook
)

// TelegramAPI is the default base URL of Telegram targets.
const TelegramAPI = "https://api.telegram.org"

// targetFile is a delivery target as written in a tenant's file. Secrets
// come from the environment (*_env) or a file (*_file, e.g. a mounted
// Kubernetes secret) rather than the rules file itself.
type targetFile struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	URL         string `yaml:"url"`
	URLEnv      string `yaml:"url_env"`
	URLFile     string `yaml:"url_file"`
	Token       string `yaml:"token"`
	TokenEnv    string `yaml:"token_env"`
	TokenFile   string `yaml:"token_file"`
	Secret      string `yaml:"secret"`
	SecretEnv   string `yaml:"secret_env"`
	SecretFile  string `yaml:"secret_file"`
	ChatID      string `yaml:"chat_id"`
	ParseMode   string `yaml:"parse_mode"`
	MinSeverity string `yaml:"min_severity"`
}

// Target is a resolved delivery target.
type Target struct {
	Name string
	Type string
	// URL is where notifications are POSTed (telegram: the sendMessage
	// method URL with the bot token in it: never log it).
	URL string
	// Secret signs webhook bodies (X-Throughline-Signature: sha256=<hex HMAC>).
	Secret      string
	ChatID      string
	ParseMode   string // telegram: HTML (default) or none
	MinSeverity string
}

// Accepts reports whether the target wants alerts of severity.
func (t *Target) Accepts(severity string) bool {
	return SeverityRank(severity) >= SeverityRank(t.MinSeverity)
}

// Env looks a variable up (os.LookupEnv outside tests).
type Env func(name string) (string, bool)

// secret resolves one of value, value from $env, value from file.
func secret(field, v, env, file string, lookup Env) (string, error) {
	set := 0
	for _, s := range []string{v, env, file} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return "", ferr(field, "set only one of %s, %s_env and %s_file", field, field, field)
	}
	switch {
	case env != "":
		val, ok := lookup(env)
		if !ok || strings.TrimSpace(val) == "" {
			return "", ferr(field+"_env", "$%s is not set", env)
		}
		return strings.TrimSpace(val), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", ferr(field+"_file", "%v", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return v, nil
}

func (f *targetFile) resolve(lookup Env) (Target, error) {
	t := Target{Name: f.Name, Type: f.Type, ChatID: f.ChatID, ParseMode: f.ParseMode, MinSeverity: f.MinSeverity}
	if !nameRE.MatchString(f.Name) {
		return t, ferr("name", "%q must be 1-64 of a-z, 0-9, _ and -", f.Name)
	}
	if t.MinSeverity == "" {
		t.MinSeverity = Severities[0]
	}
	if SeverityRank(t.MinSeverity) < 0 {
		return t, ferr("min_severity", "%q is not one of %s", f.MinSeverity, strings.Join(Severities, ", "))
	}
	u, err := secret("url", f.URL, f.URLEnv, f.URLFile, lookup)
	if err != nil {
		return t, err
	}
	switch f.Type {
	case TargetWebhook, TargetSlack:
		if u == "" {
			return t, ferr("url", "required (url, url_env or url_file)")
		}
		if f.Token != "" || f.TokenEnv != "" || f.TokenFile != "" || f.ChatID != "" {
			return t, ferr("token", "only telegram targets take token and chat_id")
		}
		if t.Secret, err = secret("secret", f.Secret, f.SecretEnv, f.SecretFile, lookup); err != nil {
			return t, err
		}
		if f.Type == TargetSlack && t.Secret != "" {
			return t, ferr("secret", "slack incoming webhooks carry their secret in the url")
		}
	case TargetTelegram:
		token, err := secret("token", f.Token, f.TokenEnv, f.TokenFile, lookup)
		if err != nil {
			return t, err
		}
		if token == "" || strings.ContainsAny(token, "/?# ") {
			return t, ferr("token", "a bot token is required (token_env: NAME is best)")
		}
		if f.ChatID == "" {
			return t, ferr("chat_id", "required: the chat, group or channel to post to")
		}
		switch f.ParseMode {
		case "":
			t.ParseMode = "HTML"
		case "HTML", "none":
		default:
			return t, ferr("parse_mode", "%q is not HTML or none", f.ParseMode)
		}
		if u == "" {
			u = TelegramAPI
		}
		u = strings.TrimRight(u, "/") + "/bot" + token + "/sendMessage"
	default:
		return t, ferr("type", "%q is not webhook, telegram or slack", f.Type)
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return t, ferr("url", "not an http(s) URL")
	}
	t.URL = u
	return t, nil
}

// Redacted is the target's URL without secrets in its path or query, for logs.
func (t *Target) Redacted() string {
	pu, err := url.Parse(t.URL)
	if err != nil {
		return t.Type
	}
	return fmt.Sprintf("%s://%s/…", pu.Scheme, pu.Host)
}
