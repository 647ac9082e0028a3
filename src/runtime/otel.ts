/**
 * `Telemetry` through `@opentelemetry/api`: with `OTEL_DENO=true` Deno's
 * built-in SDK exports these metrics and spans (OTLP), on Deno Deploy
 * always. Names and units follow OpenTelemetry's conventions; every label
 * comes from a small fixed set.
 *
 * @module
 */
import {
  type Attributes,
  type Histogram,
  metrics,
  type Span,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  type PrivacyChannel,
  type PrivacyKind,
  type Telemetry,
  type UpdateOutcome,
  type UpdateResult,
  updateType,
} from "../base/telemetry.ts";

/** The instrumentation scope's name. */
export const SCOPE = "telegram-bot";

// Telegram's update types; anything else is counted as "other", so that a
// crafted body cannot make up labels.
const UPDATE_TYPES = new Set([
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "business_connection",
  "business_message",
  "edited_business_message",
  "deleted_business_messages",
  "message_reaction",
  "message_reaction_count",
  "inline_query",
  "chosen_inline_result",
  "callback_query",
  "shipping_query",
  "pre_checkout_query",
  "purchased_paid_media",
  "poll",
  "poll_answer",
  "my_chat_member",
  "chat_member",
  "chat_join_request",
  "chat_boost",
  "removed_chat_boost",
]);

// Bucket bounds in seconds for the short durations measured here.
const SECONDS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** The OpenTelemetry implementation of `Telemetry`. */
export function createOtelTelemetry(version = "1"): Telemetry {
  const meter = metrics.getMeter(SCOPE, version);
  const tracer = trace.getTracer(SCOPE, version);
  const updates = meter.createCounter("bot.updates", {
    description: "Updates received, by type and outcome",
    unit: "{update}",
  });
  const ack = meter.createHistogram("bot.update.duration", {
    description: "Time from receiving an update to acknowledging it",
    unit: "s",
    advice: { explicitBucketBoundaries: SECONDS },
  });
  const commitSize = meter.createHistogram("bot.store.commit.size", {
    description: "Registration plans written by one store commit",
    unit: "{plan}",
    advice: {
      explicitBucketBoundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    },
  });
  const commitDuration = meter.createHistogram("bot.store.commit.duration", {
    description: "Duration of one store commit",
    unit: "s",
    advice: { explicitBucketBoundaries: SECONDS },
  });
  const storeFailures = meter.createCounter("bot.store.failures", {
    description: "Store failures, by kind",
    unit: "{failure}",
  });
  const apiCalls = meter.createCounter("bot.api.calls", {
    description: "Bot API calls, by method and result",
    unit: "{call}",
  });
  const apiDuration = meter.createHistogram("bot.api.call.duration", {
    description: "Duration of one Bot API call",
    unit: "s",
    advice: { explicitBucketBoundaries: SECONDS },
  });
  const privacyRequests = meter.createCounter("bot.privacy.requests", {
    description: "Privacy requests answered, by kind and channel",
    unit: "{request}",
  });
  const erasures = meter.createCounter("bot.erasures", {
    description: "Records erased, by reason",
    unit: "{record}",
  });
  return {
    enabled: true,
    update(update, run, options) {
      const type = UPDATE_TYPES.has(updateType(update))
        ? updateType(update)
        : "other";
      return tracer.startActiveSpan("bot.update", {
        attributes: { "bot.update.type": type },
      }, async (span) => {
        let result: UpdateResult<Awaited<ReturnType<typeof run>>>;
        try {
          result = { ok: true, value: await run() };
        } catch (error) {
          result = { ok: false, error };
        }
        const outcome = safeOutcome(options.outcome, result);
        const labels = {
          "bot.update.type": type,
          "bot.update.outcome": outcome,
        };
        updates.add(1, labels);
        ack.record(
          (performance.now() - options.receivedAt) / 1000,
          labels,
        );
        span.setAttribute("bot.update.outcome", outcome);
        const batch = options.batch?.(update);
        if (batch !== undefined) span.setAttribute("bot.batch.size", batch);
        if (outcome === "refused" || outcome === "failed") {
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
        if (!result.ok) throw result.error;
        return result.value;
      });
    },
    commit(size, run) {
      return tracer.startActiveSpan("bot.store.commit", {
        attributes: { "bot.batch.size": size },
      }, async (span) => {
        const start = performance.now();
        try {
          const value = await run();
          record(commitSize, size, { "bot.store.commit.result": "ok" });
          record(commitDuration, (performance.now() - start) / 1000, {
            "bot.store.commit.result": "ok",
          });
          return value;
        } catch (error) {
          const kind = failureKind(error);
          record(commitDuration, (performance.now() - start) / 1000, {
            "bot.store.commit.result": "error",
          });
          storeFailures.add(1, { "error.type": kind });
          failed(span, kind);
          throw error;
        } finally {
          span.end();
        }
      });
    },
    storeFailure(kind) {
      storeFailures.add(1, { "error.type": bounded(kind) });
    },
    apiCall(method, result, seconds) {
      const labels = {
        "bot.api.method": bounded(method),
        "bot.api.result": bounded(result),
      };
      apiCalls.add(1, labels);
      apiDuration.record(seconds, labels);
    },
    privacy<T>(
      kind: PrivacyKind,
      channel: PrivacyChannel,
      run: () => Promise<T>,
    ): Promise<T> {
      const labels = {
        "bot.privacy.kind": kind,
        "bot.privacy.channel": channel,
      };
      return tracer.startActiveSpan(`bot.privacy.${kind}`, {
        attributes: labels,
      }, async (span) => {
        try {
          const value = await run();
          privacyRequests.add(1, { ...labels, "bot.privacy.result": "ok" });
          return value;
        } catch (error) {
          privacyRequests.add(1, { ...labels, "bot.privacy.result": "error" });
          failed(span, failureKind(error));
          throw error;
        } finally {
          span.end();
        }
      });
    },
    erasure(reason, count = 1) {
      if (count > 0) {
        erasures.add(count, { "bot.erasure.reason": bounded(reason) });
      }
    },
    ids() {
      const context = trace.getActiveSpan()?.spanContext();
      if (context === undefined || !trace.isSpanContextValid(context)) {
        return undefined;
      }
      return { traceId: context.traceId, spanId: context.spanId };
    },
  };
}

function record(histogram: Histogram, value: number, labels: Attributes) {
  histogram.record(value, labels);
}

function failed(span: Span, kind: string): void {
  // The error's message may quote a value; only its class is exported.
  span.setAttribute("error.type", kind);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

function safeOutcome<T>(
  outcome: (result: UpdateResult<T>) => UpdateOutcome,
  result: UpdateResult<T>,
): UpdateOutcome {
  try {
    return outcome(result);
  } catch {
    return "failed";
  }
}

/** The bounded kind of a failure: its class name, never its message. */
export function failureKind(error: unknown): string {
  const name = error instanceof Error ? error.constructor.name : typeof error;
  return bounded(name);
}

// Labels are short words from code; anything else is cut to a safe shape.
function bounded(value: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : "other";
}
