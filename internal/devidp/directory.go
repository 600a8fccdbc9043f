package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DirectoryPath serves the dev IdP's directory: who can get tokens. It is
// not part of OAuth and issues nothing; `actiongate dev token` reads it to
// explain a failure ("unknown user x; known users: ..."). Secrets are never
// listed (they are documented dev values anyway).
const DirectoryPath = "/dev/directory"

// Directory is the JSON document at DirectoryPath.
type Directory struct {
	Issuer   string          `json:"issuer"`
	Audience string          `json:"audience"`
	Users    []DirectoryUser `json:"users"`
	Agents   []string        `json:"agents"`
	// Apps are the upstream-style OAuth clients (see App).
	Apps []string `json:"apps,omitempty"`
}

// DirectoryUser is one dev user as the directory lists it.
type DirectoryUser struct {
	Subject string   `json:"subject"`
	Tenant  string   `json:"tenant,omitempty"`
	Tenants []string `json:"tenants,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

func (s *storage) directory() Directory {
	d := Directory{Issuer: s.opts.Issuer, Audience: s.opts.Audience, Agents: s.agentIDs, Apps: s.appIDs, Users: []DirectoryUser{}}
	for _, sub := range s.userList {
		u := s.users[sub]
		d.Users = append(d.Users, DirectoryUser{Subject: u.Subject, Tenant: u.Tenant, Tenants: u.Tenants, Groups: u.Groups})
	}
	return d
}

func (s *storage) serveDirectory(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s.directory())
}

// FetchDirectory reads the directory of the dev IdP at issuer.
func FetchDirectory(ctx context.Context, client *http.Client, issuer string) (Directory, error) {
	var d Directory
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+DirectoryPath, nil)
	if err != nil {
		return d, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("GET %s: %s (is %s the dev IdP?)", DirectoryPath, resp.Status, issuer)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return d, errors.New("dev IdP directory is not valid JSON")
	}
	return d, nil
}

func (d Directory) userNames() []string {
	names := make([]string, len(d.Users))
	for i, u := range d.Users {
		names[i] = u.Subject
	}
	return names
}

func (d Directory) user(subject string) (DirectoryUser, bool) {
	for _, u := range d.Users {
		if u.Subject == subject {
			return u, true
		}
	}
	return DirectoryUser{}, false
}
