// The gRPC services the router speaks, built once from the .proto files embedded in the binary as text.
import type { ServiceClientConstructor } from '@grpc/grpc-js';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { fromJSON, type Options } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import commonProto from '../../proto/common.proto' with { type: 'text' };
import controlProto from '../../proto/control.proto' with { type: 'text' };
import healthProto from '../../proto/health.proto' with { type: 'text' };
import inferenceProto from '../../proto/inference.proto' with { type: 'text' };
import engineProto from '../../proto/vllm_engine.proto' with { type: 'text' };

/**
 * Messages as plain objects with the .proto's snake_case names; 64-bit integers as numbers (none the router reads
 * comes near 2^53); empty repeated fields as []; the set member of each oneof named by the oneof's own field.
 */
const DECODING: Options = { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true };

/** The service constructors, one per service the router calls. */
export interface GrpcServices {
  readonly vllmEngine: ServiceClientConstructor;
  readonly inference: ServiceClientConstructor;
  readonly control: ServiceClientConstructor;
  readonly health: ServiceClientConstructor;
}

/** Parses the embedded .proto files into one root (their imports name each other and google/protobuf/struct). */
function parseRoot(): protobuf.Root {
  const root = new protobuf.Root();
  const struct = protobuf.common.get('google/protobuf/struct.proto');
  if (struct?.nested === undefined) throw new Error('protobufjs ships no google/protobuf/struct.proto');
  root.addJSON(struct.nested);
  for (const text of [commonProto, engineProto, inferenceProto, controlProto, healthProto]) {
    protobuf.parse(text, root, { keepCase: true });
  }
  root.resolveAll();
  return root;
}

/** Builds the service constructors; a programmer error (a broken .proto) throws at start-up. */
export function loadGrpcServices(): GrpcServices {
  const definition = fromJSON(parseRoot().toJSON(), DECODING);
  const loaded = loadPackageDefinition(definition) as unknown as {
    vllm: { grpc: { engine: { VllmEngine: ServiceClientConstructor } }; Inference: ServiceClientConstructor; Control: ServiceClientConstructor };
    grpc: { health: { v1: { Health: ServiceClientConstructor } } };
  };
  return {
    vllmEngine: loaded.vllm.grpc.engine.VllmEngine,
    inference: loaded.vllm.Inference,
    control: loaded.vllm.Control,
    health: loaded.grpc.health.v1.Health,
  };
}
