package standin

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Every allow-listed name must be a real field, or the allow-list would
// silently allow nothing for it (a typo must not hide a gap).
func TestImplementedFieldsExist(t *testing.T) {
	t.Parallel()
	for name := range implementedFields {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := d.(protoreflect.FieldDescriptor); !ok {
			t.Errorf("%s is not a field", name)
		}
	}
	for name := range minorVersionOf {
		if !implementedFields[name] {
			t.Errorf("%s is version-gated but not allow-listed", name)
		}
	}
}

func TestCheckImplementedNamesThePath(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	cfg := testConfig{authzAddr: "127.0.0.1:1", procAddr: "127.0.0.1:2", upstreamAddr: "127.0.0.1:3"}
	l := cfg.listener()
	if err := p.checkImplemented(l.ProtoReflect(), "listener"); err != nil {
		t.Fatalf("generated listener rejected: %v", err)
	}
	l.ListenerFiltersTimeout = nil
	l.EnableReusePort = nil
	l.StatPrefix = "x"
	err := p.checkImplemented(l.ProtoReflect(), "listener")
	if err == nil || !strings.Contains(err.Error(), "listener.stat_prefix") {
		t.Errorf("err = %v", err)
	}
}
