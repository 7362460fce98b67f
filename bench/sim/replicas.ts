// Which router replica a request goes to. In production an L4 balancer spreads the pooled connections of an
// API gateway over the replicas, so consecutive requests land on replicas in turn, whatever session they
// belong to; pinning (a session-affine gateway, or clients that each keep one connection) sends every request
// of a session to the replica its session was first given.

/** Returns, for each request in send order, the index of the replica (0 … count−1) it goes to. */
export function createReplicaPicker(count: number, pinSessions: boolean): (session: string | undefined) => number {
  if (!(Number.isInteger(count) && count >= 1)) throw new Error(`replica count must be a positive integer, got ${count}`);
  let next = 0;
  const inTurn = (): number => {
    const i = next;
    next = (next + 1) % count;
    return i;
  };
  if (!pinSessions) return inTurn;
  const pinned = new Map<string, number>();
  return (session) => {
    if (session === undefined) return inTurn();
    let i = pinned.get(session);
    if (i === undefined) {
      i = inTurn();
      pinned.set(session, i);
    }
    return i;
  };
}
