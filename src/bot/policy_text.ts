import { isCoreTable, type TableDescription } from "../base/tables.ts";

/** What the short policy states, as the configuration has it. */
export interface PolicySettings {
  /** Whether crash reports go to the operator's Sentry. */
  crashReports: boolean;
  /** Whether blocking the bot erases the person (`ERASE_ON_BLOCK`); default true. */
  eraseOnBlock?: boolean;
  /** Days unseen before the sweep erases a record (`RETENTION_DAYS`), if set. */
  retentionDays?: number;
}

/**
 * The short policy in one language, as `/privacy` and the privacy center
 * show it: the project's text following the configuration (crash reports,
 * erasure on block, retention), and what the installed plugins' tables keep
 * (each one's `privacy-policy-<table>`, checked at start) in place of
 * "nothing else is kept" when there are any.
 */
export function policyText(
  t: (key: string, variables?: Record<string, string | number>) => string,
  tables: readonly TableDescription[],
  settings: PolicySettings,
): string {
  const features = tables.filter((table) => !isCoreTable(table));
  // The text's choices, as Fluent selects on them.
  const choices = {
    sentry: settings.crashReports ? "on" : "off",
    block: settings.eraseOnBlock === false ? "keep" : "erase",
    retention: settings.retentionDays ?? 0,
    features: features.length === 0 ? "none" : "some",
  };
  const text = t("privacy-policy", choices);
  if (features.length === 0) return text;
  return [
    text,
    [
      t("privacy-policy-features"),
      ...features.map((table) => t(`privacy-policy-${table.name}`)),
    ].join("\n"),
  ].join("\n\n");
}
