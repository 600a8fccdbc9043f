package registry

import (
	"bytes"
	"encoding/json"
)

// export is the canonical JSON form of a registry: fixed field order, every
// list sorted (Load already sorted them), empty lists as [] not null.
type export struct {
	APIVersion string   `json:"apiVersion"`
	Version    Version  `json:"version"`
	Tenants    []Tenant `json:"tenants"`
	Servers    []Server `json:"servers"`
	Agents     []Agent  `json:"agents"`
}

// JSON returns the canonical, indented JSON export of the registry, as
// printed by "actiongate registry export". The same registry content always
// produces the same bytes.
func (r *Registry) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(export{
		APIVersion: APIVersion,
		Version:    r.Version,
		Tenants:    nonNil(r.Tenants),
		Servers:    nonNil(r.Servers),
		Agents:     nonNil(r.Agents),
	})
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
