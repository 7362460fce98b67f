// The gRPC engine clients of the fleet, one per grpc:// URL, made on first use and closed when the URL leaves.
import { loadGrpcServices } from './definitions.ts';
import { createGrpcEngineClient, type GrpcEngineClient, type ProtocolChoice } from './engine-client.ts';

export interface GrpcEngines extends Disposable {
  /** The client of `url` (a grpc:// URL). */
  of(url: string): GrpcEngineClient;
  /** Closes the clients of URLs not in `present` (the registry changed). */
  keepOnly(present: ReadonlySet<string>): void;
}

export function createGrpcEngines(protocol: ProtocolChoice): GrpcEngines {
  const services = loadGrpcServices();
  const clients = new Map<string, GrpcEngineClient>();
  return {
    of(url) {
      let client = clients.get(url);
      if (client === undefined) {
        client = createGrpcEngineClient(url, { services, protocol });
        clients.set(url, client);
      }
      return client;
    },
    keepOnly(present) {
      for (const [url, client] of clients) {
        if (present.has(url)) continue;
        client.close();
        clients.delete(url);
      }
    },
    [Symbol.dispose]() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
