// Summarizes a V8 .cpuprofile (node --cpu-prof, or CDP Profiler.stop): total self time
// per function, as a markdown table of the `top` heaviest.
export function topSelfTime(profile, top) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const { functionName, url } = byId.get(id).callFrame;
    const key = `${functionName || '(anonymous)'} ${url ? url.split('/').pop() : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  let md = '| function | self ms | share |\n|---|---|---|\n';
  for (const [k, us] of rows) md += `| \`${k}\` | ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)}% |\n`;
  return md;
}
