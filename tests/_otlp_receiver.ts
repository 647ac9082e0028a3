/**
 * An OTLP http/json receiver on loopback: what a bot started with
 * `OTEL_DENO=true` exports (spans, metrics, log records) is kept as text
 * and as parsed JSON, for tests to read and to scan for secrets.
 */
export class OtlpReceiver {
  /** Every body received, in order, with its path (`/v1/traces`, …). */
  readonly bodies: { path: string; text: string }[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;

  /** Starts on a free loopback port. */
  constructor() {
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, async (request) => {
      this.bodies.push({
        path: new URL(request.url).pathname,
        text: await request.text(),
      });
      return Response.json({});
    });
  }

  /**
   * The environment that makes a short-lived Deno process (the CLI) export
   * here, at its exit. Short export intervals are left out: Deno 2.9 can
   * hang at exit when a periodic export is in flight.
   */
  get exitEnv(): Record<string, string> {
    return {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${this.#server.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "privacy-bot-test",
    };
  }

  /** The environment that makes a running bot export here, quickly. */
  get env(): Record<string, string> {
    return {
      ...this.exitEnv,
      OTEL_METRIC_EXPORT_INTERVAL: "300",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_BLRP_SCHEDULE_DELAY: "100",
    };
  }

  /** Every exported span, flattened. */
  spans(): Span[] {
    return this.#parsed("/v1/traces").flatMap((body) =>
      (body.resourceSpans ?? []).flatMap((r: Json) =>
        (r.scopeSpans ?? []).flatMap((s: Json) =>
          (s.spans ?? []).map((span: Json) => ({
            scope: s.scope?.name ?? "",
            name: span.name,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? "",
            traceId: span.traceId,
            attributes: attributesOf(span.attributes),
          }))
        )
      )
    );
  }

  /** Every exported metric data point, flattened, with its metric's name and unit. */
  points(): Point[] {
    return this.#parsed("/v1/metrics").flatMap((body) =>
      (body.resourceMetrics ?? []).flatMap((r: Json) =>
        (r.scopeMetrics ?? []).flatMap((s: Json) =>
          (s.metrics ?? []).flatMap((metric: Json) => {
            const data = metric.sum ?? metric.histogram ?? metric.gauge ?? {};
            return (data.dataPoints ?? []).map((point: Json) => ({
              name: metric.name,
              unit: metric.unit ?? "",
              attributes: attributesOf(point.attributes),
              value: Number(point.asInt ?? point.asDouble ?? point.count ?? 0),
              sum: Number(point.sum ?? 0),
            }));
          })
        )
      )
    );
  }

  /** Every exported log record's body. */
  logs(): string[] {
    return this.#parsed("/v1/logs").flatMap((body) =>
      (body.resourceLogs ?? []).flatMap((r: Json) =>
        (r.scopeLogs ?? []).flatMap((s: Json) =>
          (s.logRecords ?? []).map((record: Json) =>
            String(record.body?.stringValue ?? JSON.stringify(record.body))
          )
        )
      )
    );
  }

  /** Waits until `check` holds for what arrived. */
  async until(check: () => boolean, what: string, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`No ${what} arrived in time`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  #parsed(path: string): Json[] {
    return this.bodies.filter((body) => body.path === path).map((body) =>
      JSON.parse(body.text)
    );
  }
}

/** One exported span. */
export interface Span {
  scope: string;
  name: string;
  spanId: string;
  parentSpanId: string;
  traceId: string;
  attributes: Record<string, unknown>;
}

/** One exported metric data point. */
export interface Point {
  name: string;
  unit: string;
  attributes: Record<string, unknown>;
  /** The counter's value, or the histogram's count. */
  value: number;
  /** A histogram's sum. */
  sum: number;
}

// deno-lint-ignore no-explicit-any
type Json = any;

function attributesOf(list: Json[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value?.stringValue ?? value?.intValue ?? value?.doubleValue ??
      value?.boolValue;
  }
  return out;
}
