/**
 * A TCP proxy on loopback in front of a server, which a test can cut (every
 * connection closed, nothing accepted: the server looks down), stall (new
 * connections accepted but never answered: the server looks hung) and
 * restore. It simulates a database outage without touching the database.
 */
export class TcpProxy {
  readonly port: number;
  #target: Deno.ConnectOptions;
  #listener: Deno.TcpListener | undefined;
  #sockets = new Set<Deno.Conn>();
  #stalled = false;
  #accepting: Promise<void> = Promise.resolve();

  private constructor(port: number, target: Deno.ConnectOptions) {
    this.port = port;
    this.#target = target;
  }

  /** Starts forwarding a free loopback port to `target`. */
  static start(target: Deno.ConnectOptions): TcpProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = new TcpProxy(listener.addr.port, target);
    proxy.#serve(listener);
    return proxy;
  }

  /** Closes every connection and stops accepting: connections are refused. */
  async cut(): Promise<void> {
    this.#listener?.close();
    this.#listener = undefined;
    await this.#accepting;
    this.#dropSockets();
  }

  /**
   * Closes every connection, then accepts new ones without forwarding
   * anything, so clients wait for an answer that never comes.
   */
  async stall(): Promise<void> {
    await this.cut();
    this.#stalled = true;
    this.#serve(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
  }

  /** Forwards again on the same port. */
  async restore(): Promise<void> {
    await this.cut();
    this.#stalled = false;
    this.#serve(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
  }

  /** Stops the proxy and closes everything. */
  async close(): Promise<void> {
    await this.cut();
  }

  /** Same as `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #serve(listener: Deno.TcpListener): void {
    this.#listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) this.#handle(conn);
      } catch {
        // The listener was closed by cut().
      }
    })();
  }

  #handle(conn: Deno.Conn): void {
    this.#sockets.add(conn);
    if (this.#stalled) return;
    (async () => {
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect(this.#target);
      } catch {
        this.#close(conn);
        return;
      }
      this.#sockets.add(upstream);
      await Promise.allSettled([
        conn.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(conn.writable),
      ]);
      this.#close(conn);
      this.#close(upstream);
    })();
  }

  #dropSockets(): void {
    for (const socket of this.#sockets) this.#close(socket);
  }

  #close(socket: Deno.Conn): void {
    this.#sockets.delete(socket);
    try {
      socket.close();
    } catch {
      // Already closed by the other side or by pipeTo.
    }
  }
}
