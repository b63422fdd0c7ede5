#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so there is no build step between a change and a run.
// The AWS SDK warns on every start that its releases after January 2027 need Node 22. The deployed
// Lambdas run Node 22; locally the pinned SDK keeps working, so the warning is only noise here.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning, ...rest) => {
  if (String(warning?.message ?? warning).startsWith('NodeVersionSupportWarning')) return;
  emitWarning(warning, ...rest);
};

// Until the command installs its own stop (shared/local/stop.ts), nothing is open: a signal while the
// sources load just ends the process, with the same code and line as a stopped command. Installed before
// anything is imported (tsx itself takes a while to load on a busy machine), so no signal finds no handler.
const early = (signal) => {
  process.stderr.write(`pullwatch: ${signal} received while starting: stopped\n`);
  process.exit(signal === 'SIGINT' ? 130 : 143);
};
process.on('SIGINT', early);
process.on('SIGTERM', early);
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../shared/cli/main.ts');
process.off('SIGINT', early);
process.off('SIGTERM', early);
await main(process.argv.slice(2));
