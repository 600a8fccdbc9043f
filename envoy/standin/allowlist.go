package standin

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// Blank imports register every type the stand-in accepts inside an Any.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// implementedFields lists every field the stand-in implements, by
// fully-qualified name. A populated field that is not listed makes the
// resource NACKed: the stand-in must never ignore a setting Envoy would act
// on. Value restrictions (enums, shapes) are checked in validate.go.
var implementedFields = fieldSet(
	"envoy.config.listener.v3.Listener", "name", "address", "filter_chains", "per_connection_buffer_limit_bytes",
	"envoy.config.core.v3.Address", "socket_address",
	"envoy.config.core.v3.SocketAddress", "address", "port_value",
	"envoy.config.listener.v3.FilterChain", "filters",
	"envoy.config.listener.v3.Filter", "name", "typed_config",
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
	"stat_prefix", "codec_type", "generate_request_id", "normalize_path", "merge_slashes",
	"path_with_escaped_slashes_action", "stream_idle_timeout", "request_headers_timeout", "rds", "http_filters",
	"envoy.extensions.filters.network.http_connection_manager.v3.Rds", "route_config_name", "config_source",
	"envoy.config.core.v3.ConfigSource", "ads", "resource_api_version",
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", "name", "typed_config",
	"envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
	"grpc_service", "transport_api_version", "failure_mode_allow", "status_on_error", "with_request_body",
	"encode_raw_headers", "validate_mutations",
	"envoy.config.core.v3.GrpcService", "envoy_grpc", "timeout",
	"envoy.config.core.v3.GrpcService.EnvoyGrpc", "cluster_name",
	"envoy.type.v3.HttpStatus", "code",
	"envoy.extensions.filters.http.ext_authz.v3.BufferSettings", "max_request_bytes", "allow_partial_message", "pack_as_bytes",
	"envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
	"grpc_service", "failure_mode_allow", "status_on_error", "message_timeout", "max_message_timeout",
	"allow_mode_override", "processing_mode", "metadata_options",
	"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode",
	"request_header_mode", "response_header_mode", "request_body_mode", "response_body_mode",
	"request_trailer_mode", "response_trailer_mode",
	"envoy.extensions.filters.http.ext_proc.v3.MetadataOptions", "forwarding_namespaces", "receiving_namespaces",
	"envoy.extensions.filters.http.ext_proc.v3.MetadataOptions.MetadataNamespaces", "untyped",
	"envoy.config.route.v3.RouteConfiguration", "name", "virtual_hosts",
	"envoy.config.route.v3.VirtualHost", "name", "domains", "routes", "typed_per_filter_config",
	"envoy.config.route.v3.Route", "name", "match", "route", "typed_per_filter_config",
	"envoy.config.route.v3.RouteMatch", "path", "prefix",
	"envoy.config.route.v3.RouteAction", "cluster", "prefix_rewrite", "host_rewrite_literal", "timeout", "idle_timeout",
	"envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", "disabled", "check_settings",
	"envoy.extensions.filters.http.ext_authz.v3.CheckSettings",
	"context_extensions", "disable_request_body_buffering", "with_request_body",
	"envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute", "disabled",
	"envoy.config.cluster.v3.Cluster",
	"name", "type", "connect_timeout", "load_assignment", "typed_extension_protocol_options",
	"transport_socket", "dns_lookup_family",
	"envoy.config.endpoint.v3.ClusterLoadAssignment", "cluster_name", "endpoints",
	"envoy.config.endpoint.v3.LocalityLbEndpoints", "lb_endpoints",
	"envoy.config.endpoint.v3.LbEndpoint", "endpoint",
	"envoy.config.endpoint.v3.Endpoint", "address",
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions", "explicit_http_config",
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
	"http_protocol_options", "http2_protocol_options",
	"envoy.config.core.v3.TransportSocket", "name", "typed_config",
	"envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", "sni", "common_tls_context",
	"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "validation_context",
	"envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", "trusted_ca", "match_typed_subject_alt_names",
	"envoy.config.core.v3.DataSource", "filename",
	"envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", "san_type", "matcher",
	"envoy.type.matcher.v3.StringMatcher", "exact",
)

// minorVersionOf gates fields on the Envoy release that introduced them:
// an older Envoy would reject them as unknown fields.
var minorVersionOf = map[protoreflect.FullName]int{
	"envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor.status_on_error":    36,
	"envoy.extensions.filters.http.ext_authz.v3.ExtAuthz.validate_mutations":         31,
	"envoy.extensions.filters.http.ext_authz.v3.ExtAuthz.encode_raw_headers":         30,
	"envoy.extensions.filters.http.ext_proc.v3.MetadataOptions.receiving_namespaces": 30,
}

// leafMessages are checked by value, not walked: their only fields are the
// value itself.
var leafMessages = map[protoreflect.FullName]bool{
	"google.protobuf.Duration":    true,
	"google.protobuf.BoolValue":   true,
	"google.protobuf.UInt32Value": true,
	"google.protobuf.UInt64Value": true,
}

// fieldSet reads groups of "message", "field", "field", … where a message
// name is recognised by containing a dot.
func fieldSet(items ...string) map[protoreflect.FullName]bool {
	out := map[protoreflect.FullName]bool{}
	msg := ""
	for _, it := range items {
		if containsDot(it) {
			msg = it
			continue
		}
		out[protoreflect.FullName(msg+"."+it)] = true
	}
	return out
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

// checkImplemented walks every populated field of m (into nested messages,
// lists, maps and unpacked Anys) and fails on the first one the stand-in
// does not implement. Every unpacked Any is also PGV-validated, which the
// generated ValidateAll of the enclosing message does not do.
func (p *Proxy) checkImplemented(m protoreflect.Message, path string) error {
	if len(m.GetUnknown()) > 0 {
		return fmt.Errorf("%s: unknown fields in %s", path, m.Descriptor().FullName())
	}
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	sort.Slice(fields, func(i, j int) bool { return fields[i].Number() < fields[j].Number() })
	for _, fd := range fields {
		fp := path + "." + string(fd.Name())
		if !implementedFields[fd.FullName()] {
			return fmt.Errorf("%s: field %s is not implemented by the envoy stand-in", fp, fd.FullName())
		}
		if need, ok := minorVersionOf[fd.FullName()]; ok && !p.atLeast(need) {
			return fmt.Errorf("%s: field %s needs Envoy 1.%d (modelling %s)", fp, fd.FullName(), need, p.opts.EnvoyVersion)
		}
		if err := p.checkValue(fd, m.Get(fd), fp); err != nil {
			return err
		}
	}
	return nil
}

func (p *Proxy) checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch {
	case fd.IsMap():
		if fd.MapValue().Kind() != protoreflect.MessageKind {
			return nil
		}
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			err = p.checkMessage(mv.Message(), fmt.Sprintf("%s[%s]", path, k.String()))
			return err == nil
		})
		return err
	case fd.IsList():
		if fd.Kind() != protoreflect.MessageKind {
			return nil
		}
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			if err := p.checkMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case fd.Kind() == protoreflect.MessageKind:
		return p.checkMessage(v.Message(), path)
	}
	return nil
}

func (p *Proxy) checkMessage(m protoreflect.Message, path string) error {
	name := m.Descriptor().FullName()
	if leafMessages[name] {
		if len(m.GetUnknown()) > 0 {
			return fmt.Errorf("%s: unknown fields in %s", path, name)
		}
		return nil
	}
	if name != "google.protobuf.Any" {
		return p.checkImplemented(m, path)
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("%s: cannot read Any", path)
	}
	inner, err := unpackAny(a, path)
	if err != nil {
		return err
	}
	return p.checkImplemented(inner.ProtoReflect(), path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">")
}

// unpackAny decodes an Any into its registered type and runs its PGV rules.
func unpackAny(a *anypb.Any, path string) (proto.Message, error) {
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: cannot unpack %s: %w", path, a.GetTypeUrl(), err)
	}
	if v, ok := inner.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return inner, nil
}
