#!/usr/bin/env node
// API docs of the library packages (typedoc.json: each package's src/index.ts) into docs/api/.
// The pages are written even when something lacks documentation, so they can be read; the run
// then fails, naming each undocumented or unexported-but-referenced symbol, until none is left.
import * as td from 'typedoc';

const app = await td.Application.bootstrapWithPlugins({}, [
  new td.TypeDocReader(),
  new td.PackageJsonReader(),
  new td.TSConfigReader(),
]);
const project = await app.convert();
if (!project) process.exit(1);
app.validate(project);
await app.generateOutputs(project);
const out = app.options.getValue('out');
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error(
    `docs: written to ${out}, with ${app.logger.errorCount} errors and ${app.logger.warningCount} warnings (above): document what they name`,
  );
  process.exit(1);
}
console.log(`docs: ${out}`);
