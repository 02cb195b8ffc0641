/** What the walk-through observed, for its smoke test. */
export interface QuickstartResult {
  conflicts: number;
  packing: string;
  items: string[];
  phoneItems: string[];
}
/** Runs the walk-through; `log` receives each line of the story (console.log by default). */
export function main(log?: (line: string) => void): Promise<QuickstartResult>;
