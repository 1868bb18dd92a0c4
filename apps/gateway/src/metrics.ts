/**
 * Prometheus metrics in the text exposition format, kept in process (no client library needed
 * for a handful of counters).
 */
export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly help = new Map<string, [string, 'counter' | 'gauge']>();
  private readonly sources: (() => string)[] = [];

  /** Adds text another component renders itself (the regional cache counters). */
  addSource(render: () => string): void {
    this.sources.push(render);
  }

  define(name: string, help: string, type: 'counter' | 'gauge' = 'counter'): void {
    this.help.set(name, [help, type]);
  }
  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = name + labelText(labels);
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }
  set(name: string, value: number, labels: Record<string, string> = {}): void {
    this.counters.set(name + labelText(labels), value);
  }
  render(): string {
    const lines: string[] = [];
    for (const [name, [help, type]] of [...this.help].sort()) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [key, v] of [...this.counters].sort())
        if (key === name || key.startsWith(name + '{')) lines.push(`${key} ${v}`);
    }
    return lines.join('\n') + '\n' + this.sources.map((s) => s()).join('');
  }
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (!keys.length) return '';
  return '{' + keys.map((k) => `${k}="${labels[k]!.replace(/["\\\n]/g, '_')}"`).join(',') + '}';
}
