package tenants

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// resolveSecrets reads the secrets a tenants file references instead of
// holding them (so the file can be committed, and secrets come from a
// secret store mounted as files or from the environment): *_file names a
// file (relative to dir) with one secret per line, blank lines and lines
// starting with # skipped; *_env names an environment variable with the
// secrets comma-separated. Lists gain what the references hold; a single
// secret (a Mango salt, an app token) must not be given twice.
func (c *Config) resolveSecrets(dir string) error {
	for i := range c.Tenants {
		t := &c.Tenants[i]
		at := fmt.Sprintf("tenants[%d]", i)
		var err error
		if t.TenantKeys, err = addSecrets(t.TenantKeys, dir, at+".tenant_keys", t.TenantKeysFile, t.TenantKeysEnv); err != nil {
			return err
		}
		if t.ReadTokens, err = addSecrets(t.ReadTokens, dir, at+".read_tokens", t.ReadTokensFile, t.ReadTokensEnv); err != nil {
			return err
		}
		for j := range t.Accounts {
			a := &t.Accounts[j]
			where := fmt.Sprintf("%s.accounts[%d]", at, j)
			if a.ServerKeys, err = addSecrets(a.ServerKeys, dir, where+".server_keys", a.ServerKeysFile, a.ServerKeysEnv); err != nil {
				return err
			}
			for k := range a.CallTracking {
				ct := &a.CallTracking[k]
				if ct.Secret, err = oneSecret(ct.Secret, dir, fmt.Sprintf("%s.call_tracking[%d].secret", where, k), ct.SecretFile, ct.SecretEnv); err != nil {
					return err
				}
			}
			if a.CRM != nil {
				if a.CRM.AppToken, err = oneSecret(a.CRM.AppToken, dir, where+".crm.app_token", a.CRM.AppTokenFile, a.CRM.AppTokenEnv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func addSecrets(list []string, dir, field, file, env string) ([]string, error) {
	if file != "" {
		b, err := os.ReadFile(secretPath(dir, file))
		if err != nil {
			return nil, fmt.Errorf("%s_file: %w", field, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				list = append(list, line)
			}
		}
	}
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("%s_env: $%s is not set", field, env)
		}
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
	}
	return list, nil
}

func oneSecret(have, dir, field, file, env string) (string, error) {
	got, err := addSecrets(nil, dir, field, file, env)
	switch {
	case err != nil:
		return "", err
	case len(got) == 0:
		return have, nil
	case have != "" || len(got) > 1:
		return "", fmt.Errorf("%s: give one secret, in the file or in one of %s_file, %s_env", field, field, field)
	}
	return got[0], nil
}

func secretPath(dir, file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}
