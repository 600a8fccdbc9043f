package demo

import (
	"context"
	"hash/fnv"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const readChartSchema = `{"type":"object","properties":{"patient_id":{"type":"string","minLength":1,"maxLength":64,"description":"Patient identifier (MRN)."}},"required":["patient_id"],"additionalProperties":false}`

const writeSummarySchema = `{"type":"object","properties":{"patient_id":{"type":"string","minLength":1,"maxLength":64,"description":"Patient identifier (MRN)."},"summary":{"type":"string","minLength":1,"maxLength":20000,"description":"Clinical summary to file in the chart."}},"required":["patient_id","summary"],"additionalProperties":false}`

func ehrTools() []toolDef {
	return []toolDef{
		{
			name:        "read_chart",
			title:       "Read patient chart",
			description: "Read a patient's clinical chart: demographics, problems, medications and recent notes.",
			schema:      readChartSchema,
			readOnly:    true,
			idempotent:  true,
			register:    func(s *mcp.Server, t *mcp.Tool) { mcp.AddTool(s, t, readChart) },
		},
		{
			name:        "write_summary",
			title:       "Write clinical summary",
			description: "File a clinical summary note in a patient's chart.",
			schema:      writeSummarySchema,
			// Writing to the legal medical record is the step the
			// healthcare scenario puts behind a physician's approval.
			destructive: true,
			register:    func(s *mcp.Server, t *mcp.Tool) { mcp.AddTool(s, t, writeSummary) },
		},
	}
}

type readChartIn struct {
	PatientID string `json:"patient_id"`
}

// charts are a few fixed problem lists; the patient id picks one so the same
// patient always reads the same chart.
var charts = []string{
	"Problems: type 2 diabetes mellitus, hypertension.\nMedications: metformin 500 mg twice daily, lisinopril 10 mg daily.\nLast note: HbA1c 7.1%, continue current plan.",
	"Problems: asthma, seasonal allergic rhinitis.\nMedications: albuterol inhaler as needed, fluticasone nasal spray.\nLast note: no exacerbations since last visit.",
	"Problems: hyperlipidemia, status post appendectomy (2015).\nMedications: atorvastatin 20 mg nightly.\nLast note: LDL 96 mg/dL, lifestyle counselling given.",
}

func readChart(_ context.Context, _ *mcp.CallToolRequest, in readChartIn) (*mcp.CallToolResult, any, error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(in.PatientID))
	chart := charts[h.Sum32()%uint32(len(charts))]
	return text("Chart for patient %s (synthetic demo data)\n%s", in.PatientID, chart), nil, nil
}

type writeSummaryIn struct {
	PatientID string `json:"patient_id"`
	Summary   string `json:"summary"`
}

func writeSummary(_ context.Context, _ *mcp.CallToolRequest, in writeSummaryIn) (*mcp.CallToolResult, any, error) {
	return text("summary stored for patient %s (%d characters)", in.PatientID, len([]rune(in.Summary))), nil, nil
}
