/** An event item as the Sentry SDK sends it (the fields the tests read). */
export interface SentryEvent {
  exception?: {
    values?: {
      type?: string;
      value?: string;
      stacktrace?: { frames?: { filename?: string; function?: string }[] };
    }[];
  };
  user?: { id?: string };
  tags?: Record<string, string>;
  extra?: Record<string, unknown>;
  breadcrumbs?: { message?: string; data?: Record<string, unknown> }[];
}

/**
 * A local Sentry ingest endpoint: it accepts the SDK's envelopes and keeps
 * their raw bodies and the events inside them.
 */
export class SentryIngest {
  readonly bodies: string[] = [];
  readonly events: SentryEvent[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;

  /** Starts listening on a free loopback port. */
  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const body = await request.text();
        this.bodies.push(request.url + "\n" + body);
        const lines = body.split("\n");
        // An envelope: a header line, then item-header / payload line pairs.
        for (let i = 1; i + 1 < lines.length; i += 2) {
          const header = JSON.parse(lines[i]!) as { type?: string };
          if (header.type === "event") {
            this.events.push(JSON.parse(lines[i + 1]!) as SentryEvent);
          }
        }
        return Response.json({});
      },
    );
  }

  /** A DSN pointing at this endpoint. */
  get dsn(): string {
    return `http://publickey@127.0.0.1:${this.#server.addr.port}/1`;
  }

  /** Resolves with the first event, waiting for it to arrive. */
  async firstEvent(timeoutMs = 10_000): Promise<SentryEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === 0) {
      if (Date.now() > deadline) throw new Error("No Sentry event arrived");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.events[0]!;
  }

  /** Stops the endpoint. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}
