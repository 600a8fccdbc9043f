package redact

import "github.com/zricethezav/gitleaks/v8/detect"

func detectDefault() (*detect.Detector, error) { return detect.NewDetectorDefaultConfig() }
