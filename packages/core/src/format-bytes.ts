/** Byte counts for people, in binary units: the CLI's sizes and speeds, the relay's quota messages. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Options of {@link formatBytes}. */
export interface FormatBytesOptions {
  /**
   * Also give the exact count (for messages a person may act on, like a quota refusal):
   * "60 bytes", "1.5 MiB (1572864 bytes)".
   */
  exact?: boolean;
}

/** 1536 → "1.5 KiB"; 60 → "60 B"; with `exact`, 1536 → "1.5 KiB (1536 bytes)", 60 → "60 bytes". */
export function formatBytes(n: number, options: FormatBytesOptions = {}): string {
  let unit = 0;
  let value = n;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return options.exact ? `${n} bytes` : `${n} B`;
  const rounded = `${value.toFixed(1)} ${UNITS[unit]}`;
  return options.exact ? `${rounded} (${n} bytes)` : rounded;
}
