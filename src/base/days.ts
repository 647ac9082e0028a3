/**
 * Days as the retention rules count them: `YYYY-MM-DD` in UTC, no time.
 *
 * @module
 */

/** The UTC day of a time in milliseconds, as `YYYY-MM-DD`. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The day `days` days before `day` (both `YYYY-MM-DD`). */
export function daysBefore(day: string, days: number): string {
  return dayOf(Date.parse(`${day}T00:00:00Z`) - days * 86_400_000);
}
