package main

import (
	"errors"
	"fmt"
	"io"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// nullProcessor answers every message with an empty response of the
// matching type (CONTINUE, no mutation): what a do-nothing ext_proc costs,
// the gRPC and protobuf floor of any comparison.
type nullProcessor struct {
	extprocv3.UnimplementedExternalProcessorServer
}

// The answers never change, so they are shared by every stream.
var (
	nullRequestHeaders = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{}}}}
	nullRequestBody = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
		RequestBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{}}}}
	nullRequestTrailers = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
		RequestTrailers: &extprocv3.TrailersResponse{}}}
	nullResponseHeaders = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
		ResponseHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{}}}}
	nullResponseBody = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
		ResponseBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{}}}}
	nullResponseTrailers = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
		ResponseTrailers: &extprocv3.TrailersResponse{}}}
)

// nullAnswer is the answer to req; nil for flow-control messages, which
// expect none.
func nullAnswer(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return nullRequestHeaders, nil
	case *extprocv3.ProcessingRequest_RequestBody:
		return nullRequestBody, nil
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return nullRequestTrailers, nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return nullResponseHeaders, nil
	case *extprocv3.ProcessingRequest_ResponseBody:
		return nullResponseBody, nil
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return nullResponseTrailers, nil
	case nil:
		if req.GetFlowControlInit() != nil || req.GetClientWindowUpdate() != nil {
			return nil, nil
		}
	}
	return nil, status.Errorf(codes.InvalidArgument, "unknown ext_proc message %T", req.GetRequest())
}

func (nullProcessor) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := nullAnswer(req)
		if err != nil {
			return err
		}
		if resp == nil {
			continue
		}
		if err := stream.Send(resp); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
}
