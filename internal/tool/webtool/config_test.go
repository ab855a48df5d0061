package webtool

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

func TestFromConfig_defaults(t *testing.T) {
	fetch, search, err := FromConfig(config.Default().Tools.Web, "", newTestNet(t, nil).options())
	if err != nil {
		t.Fatal(err)
	}
	if fetch == nil || fetch.Spec().Name != "web_fetch" {
		t.Errorf("fetch = %v, want web_fetch", fetch)
	}
	if search != nil {
		t.Errorf("search = %v, want nil (untyped) without a provider", search)
	}
}

func TestFromConfig_allowPrivate(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "lan wiki")
	})
	web := config.Default().Tools.Web
	web.Fetch.AllowPrivate = []string{"127.0.0.0/8"}
	n := newTestNet(t, map[string]string{"wiki.test": "127.0.0.1", "meta.test": "169.254.169.254"})
	fetch, _, err := FromConfig(web, "", n.options())
	if err != nil {
		t.Fatal(err)
	}
	if res := run(t, fetch, map[string]any{"url": srv.at("wiki.test", "/")}); res.IsError || !strings.HasSuffix(res.Text, "\n\nlan wiki") {
		t.Errorf("fetch of an allowed LAN page = %v %q", res.IsError, res.Text)
	}
	if res := run(t, fetch, map[string]any{"url": "http://meta.test/"}); !res.IsError || !strings.Contains(res.Text, "cloud metadata") {
		t.Errorf("fetch of metadata = %v %q, want a refusal", res.IsError, res.Text)
	}
}

func TestFromConfig_errors(t *testing.T) {
	web := config.Default().Tools.Web
	web.Fetch.AllowPrivate = []string{"192.168.1.0/24", "my-lan"}
	if _, _, err := FromConfig(web, "", newTestNet(t, nil).options()); err == nil ||
		!strings.Contains(err.Error(), `tools.web.fetch.allowPrivate: entry 1, "my-lan", is not a network`) {
		t.Errorf("FromConfig = %v, want the allowPrivate entry named", err)
	}
	web = config.Default().Tools.Web
	web.Search.Provider = "brave"
	if f, s, err := FromConfig(web, "", newTestNet(t, nil).options()); err == nil || f != nil || s != nil {
		t.Errorf("FromConfig(brave, no key) = %v, %v, %v; want an error", f, s, err)
	}
}
